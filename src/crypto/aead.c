/*
 * aead.c - AES-256-GCM sealing of blobs at rest.
 *
 * Callers hand over a key, associated data and plaintext; the nonce is drawn
 * here from the DRBG, so a caller cannot reuse one. Any failure to open is
 * KH_ERR_CRYPTO and nothing more: which check failed (version, length, tag)
 * is not a caller's business and could help an attacker.
 * Random 96-bit nonces keep the collision risk under 2^-32 up to 2^32 seals
 * per key; realm key rotation bounds the count per key long before that.
 */
#include "crypto/aead.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/internal.h"
#include "crypto/rand.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#define AEAD_VERSION 0x01
#define NONCE_LEN 12
#define TAG_LEN 16

/* Log OpenSSL's error queue (never sent to a client) and empty it. */
static void log_crypto_err(const char *what)
{
    unsigned long e;
    char msg[256];
    int any = 0;
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, msg, sizeof(msg));
        kh_error("crypto: %s: %s", what, msg);
        any = 1;
    }
    if (!any)
        kh_error("crypto: %s failed", what);
}

/* EVP takes int lengths; keyhold bounds messages far below this anyway. */
static int fits_int(size_t n)
{
    return n <= (size_t)INT_MAX - 64;
}

static kh_err gcm_init(EVP_CIPHER_CTX *ctx, int enc, const kh_secbuf *key, const uint8_t *nonce,
                       const uint8_t *aad, size_t aad_len)
{
    int n = 0;
    if (EVP_CipherInit_ex(ctx, kh_crypto_cipher(EVP_aes_256_gcm()), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key->data, nonce, enc) != 1)
        return KH_ERR_CRYPTO;
    if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        return KH_ERR_CRYPTO;
    return KH_OK;
}

static kh_err check_args(const kh_secbuf *key, const uint8_t *aad, size_t aad_len, size_t len)
{
    if (!key || !key->data || key->len != KH_AEAD_KEY_LEN || (!aad && aad_len) ||
        !fits_int(aad_len) || !fits_int(len))
        return KH_ERR_INVALID_ARG;
    return KH_OK;
}

static kh_err seal_into(EVP_CIPHER_CTX *ctx, const kh_secbuf *key, const uint8_t *aad,
                        size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
    int n = 0, fin = 0;
    out[0] = AEAD_VERSION;
    uint8_t *nonce = out + 1, *ct = out + 1 + NONCE_LEN;
    kh_err err = kh_random_bytes(nonce, NONCE_LEN);
    if (err != KH_OK)
        return err;
    if (gcm_init(ctx, 1, key, nonce, aad, aad_len) != KH_OK)
        return KH_ERR_CRYPTO;
    if (pt_len > 0 && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)pt_len) != 1)
        return KH_ERR_CRYPTO;
    if (EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 || (size_t)(n + fin) != pt_len)
        return KH_ERR_CRYPTO;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, ct + pt_len) != 1)
        return KH_ERR_CRYPTO;
    return KH_OK;
}

kh_err kh_aead_seal(const kh_secbuf *key, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                    size_t pt_len, uint8_t **out, size_t *out_len)
{
    kh_err err = check_args(key, aad, aad_len, pt_len);
    if (err != KH_OK || (!pt && pt_len) || !out || !out_len)
        return err != KH_OK ? err : KH_ERR_INVALID_ARG;
    size_t len = KH_AEAD_OVERHEAD + pt_len;
    uint8_t *buf = kh_xmalloc(len);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        kh_oom();
    err = seal_into(ctx, key, aad, aad_len, pt, pt_len, buf);
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    if (err != KH_OK) {
        log_crypto_err("AES-256-GCM seal");
        kh_wipe_free(buf, len);
        return err;
    }
    *out = buf;
    *out_len = len;
    return KH_OK;
}

static kh_err open_into(EVP_CIPHER_CTX *ctx, const kh_secbuf *key, const uint8_t *aad,
                        size_t aad_len, const uint8_t *ct, size_t ct_len, kh_secbuf *pt)
{
    const uint8_t *nonce = ct + 1, *body = ct + 1 + NONCE_LEN;
    size_t body_len = ct_len - KH_AEAD_OVERHEAD;
    uint8_t tag[TAG_LEN];
    int n = 0, fin = 0;
    memcpy(tag, body + body_len, TAG_LEN); /* ctrl wants a non-const pointer */
    if (gcm_init(ctx, 0, key, nonce, aad, aad_len) != KH_OK)
        return KH_ERR_CRYPTO;
    if (body_len > 0 && EVP_DecryptUpdate(ctx, pt->data, &n, body, (int)body_len) != 1)
        return KH_ERR_CRYPTO;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        return KH_ERR_CRYPTO;
    if (EVP_DecryptFinal_ex(ctx, pt->data + n, &fin) != 1 || (size_t)(n + fin) != body_len)
        return KH_ERR_CRYPTO;
    return KH_OK;
}

kh_err kh_aead_open(const kh_secbuf *key, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                    size_t ct_len, kh_secbuf **out)
{
    kh_err err = check_args(key, aad, aad_len, ct_len);
    if (err != KH_OK || !out)
        return err != KH_OK ? err : KH_ERR_INVALID_ARG;
    if (!ct || ct_len < KH_AEAD_OVERHEAD || ct[0] != AEAD_VERSION)
        return KH_ERR_CRYPTO;
    kh_secbuf *pt = kh_secbuf_new(ct_len - KH_AEAD_OVERHEAD);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        kh_oom();
    err = open_into(ctx, key, aad, aad_len, ct, ct_len, pt);
    EVP_CIPHER_CTX_free(ctx);
    /* A bad tag is an expected event (tampering, wrong key): no log noise,
     * but the error queue must not leak into an unrelated later report. */
    ERR_clear_error();
    if (err != KH_OK) {
        kh_secbuf_free(&pt);
        return KH_ERR_CRYPTO;
    }
    *out = pt;
    return KH_OK;
}
