/*
 * cipher.c - clients' encryption: AES-GCM/CBC/CTR, ChaCha20-Poly1305 and
 * RSA, over EVP.
 *
 * Parameters are checked before OpenSSL sees them, so that a bad IV or tag
 * length is the caller's KH_ERR_INVALID_ARG, while anything that goes wrong
 * inside a decryption (tag, padding, wrong key) is one KH_ERR_CRYPTO with
 * no detail: telling a padding failure from a tag failure is how padding
 * oracles start. Decryption failures are expected events and are not
 * logged; encryption failures are bugs or broken OpenSSL and are.
 */
#include "crypto/cipher.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/internal.h"
#include "crypto/rand.h"

#include <openssl/rsa.h>
#include <string.h>

#define BLOCK 16
#define AEAD_TAG 16

static bool is_aead(kh_cipher c)
{
    return c == KH_CIPHER_AES_GCM || c == KH_CIPHER_CHACHA20_POLY1305;
}

static const struct {
    kh_cipher cipher;
    size_t keylen;
    const EVP_CIPHER *(*evp)(void);
} ciphers[] = {
    {KH_CIPHER_AES_GCM, 16, EVP_aes_128_gcm},
    {KH_CIPHER_AES_GCM, 24, EVP_aes_192_gcm},
    {KH_CIPHER_AES_GCM, 32, EVP_aes_256_gcm},
    {KH_CIPHER_AES_CBC, 16, EVP_aes_128_cbc},
    {KH_CIPHER_AES_CBC, 24, EVP_aes_192_cbc},
    {KH_CIPHER_AES_CBC, 32, EVP_aes_256_cbc},
    {KH_CIPHER_AES_CTR, 16, EVP_aes_128_ctr},
    {KH_CIPHER_AES_CTR, 24, EVP_aes_192_ctr},
    {KH_CIPHER_AES_CTR, 32, EVP_aes_256_ctr},
    {KH_CIPHER_CHACHA20_POLY1305, 32, EVP_chacha20_poly1305},
};

static const EVP_CIPHER *evp_cipher(kh_cipher c, size_t keylen)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
        if (ciphers[i].cipher == c && ciphers[i].keylen == keylen)
            return kh_crypto_cipher(ciphers[i].evp());
    return NULL;
}

/* The IV length to use (given, requested or usual) if it suits the mode. */
static kh_err iv_length(const kh_cipher_params *p, size_t *iv_len)
{
    size_t n = p->iv_len;
    switch (p->cipher) {
    case KH_CIPHER_AES_GCM:
        n = n ? n : 12;
        if (n < 8 || n > KH_CIPHER_MAX_IV) /* NIST SP 800-38D: 96 bits preferred */
            return KH_ERR_INVALID_ARG;
        break;
    case KH_CIPHER_CHACHA20_POLY1305:
        n = n ? n : 12;
        if (n != 12)
            return KH_ERR_INVALID_ARG;
        break;
    default:
        n = n ? n : BLOCK;
        if (n != BLOCK)
            return KH_ERR_INVALID_ARG;
    }
    *iv_len = n;
    return KH_OK;
}

static kh_err check(const kh_secbuf *key, const kh_cipher_params *p, size_t len, size_t *iv_len,
                    size_t *tag_len)
{
    if (!key || !p || !evp_cipher(p->cipher, key->len) || !kh_crypto_fits_int(len) ||
        !kh_crypto_fits_int(p->aad_len) || (!p->aad && p->aad_len))
        return KH_ERR_INVALID_ARG;
    if (!is_aead(p->cipher) && (p->aad_len || p->tag_len))
        return KH_ERR_INVALID_ARG;
    *tag_len = is_aead(p->cipher) ? (p->tag_len ? p->tag_len : AEAD_TAG) : 0;
    if (p->cipher == KH_CIPHER_AES_GCM && (*tag_len < 12 || *tag_len > AEAD_TAG))
        return KH_ERR_INVALID_ARG;
    if (p->cipher == KH_CIPHER_CHACHA20_POLY1305 && *tag_len != AEAD_TAG)
        return KH_ERR_INVALID_ARG;
    return iv_length(p, iv_len);
}

/* Set up ctx for one operation; for decryption the expected tag too. */
static int init(EVP_CIPHER_CTX *ctx, int enc, const kh_secbuf *key, const kh_cipher_params *p,
                const uint8_t *iv, size_t iv_len, uint8_t *tag, size_t tag_len)
{
    int n = 0;
    const EVP_CIPHER *ec = evp_cipher(p->cipher, key->len);
    if (EVP_CipherInit_ex(ctx, ec, NULL, NULL, NULL, enc) != 1)
        return 0;
    if (is_aead(p->cipher) &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)iv_len, NULL) != 1)
        return 0;
    if (is_aead(p->cipher) && !enc &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag_len, tag) != 1)
        return 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, key->data, iv, enc) != 1)
        return 0;
    if (p->cipher == KH_CIPHER_AES_CBC && EVP_CIPHER_CTX_set_padding(ctx, p->pad ? 1 : 0) != 1)
        return 0;
    if (p->aad_len && EVP_CipherUpdate(ctx, NULL, &n, p->aad, (int)p->aad_len) != 1)
        return 0;
    return 1;
}

/* in -> out (room for in_len + BLOCK), *out_len the bytes written. */
static int run(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    int n = 0, fin = 0;
    if (in_len && EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) != 1)
        return 0;
    if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
        return 0;
    *out_len = (size_t)n + (size_t)fin;
    return 1;
}

static EVP_CIPHER_CTX *new_ctx(void)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        kh_oom();
    return ctx;
}

kh_err kh_cipher_encrypt(kh_cipher_out *out, const kh_secbuf *key, const kh_cipher_params *p,
                         const uint8_t *pt, size_t pt_len)
{
    size_t iv_len, tag_len;
    kh_err err = check(key, p, pt_len, &iv_len, &tag_len);
    if (err != KH_OK || (!pt && pt_len))
        return err != KH_OK ? err : KH_ERR_INVALID_ARG;
    if (p->cipher == KH_CIPHER_AES_CBC && !p->pad && pt_len % BLOCK)
        return KH_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (p->iv)
        memcpy(out->iv, p->iv, iv_len);
    else if ((err = kh_random_bytes(out->iv, iv_len)) != KH_OK)
        return err;
    out->iv_len = iv_len;
    out->tag_len = tag_len;
    size_t cap = pt_len + BLOCK;
    out->data = kh_xmalloc(cap);
    EVP_CIPHER_CTX *ctx = new_ctx();
    if (!init(ctx, 1, key, p, out->iv, iv_len, NULL, 0) ||
        !run(ctx, pt, pt_len, out->data, &out->len) ||
        (tag_len && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag_len, out->tag) != 1))
        err = kh_crypto_fail("encryption");
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    if (err != KH_OK)
        kh_cipher_out_clear(out);
    return err;
}

kh_err kh_cipher_decrypt(uint8_t **pt, size_t *pt_len, const kh_secbuf *key,
                         const kh_cipher_params *p, const uint8_t *ct, size_t ct_len,
                         const uint8_t *tag, size_t tag_len)
{
    size_t iv_len, want_tag;
    kh_err err = check(key, p, ct_len, &iv_len, &want_tag);
    if (err != KH_OK || !p->iv || p->iv_len != iv_len || (!ct && ct_len))
        return err != KH_OK ? err : KH_ERR_INVALID_ARG;
    uint8_t tagbuf[KH_CIPHER_MAX_TAG] = {0};
    if (want_tag) { /* the tag we are given decides how many bytes are checked */
        if (!tag || tag_len < 12 || tag_len > KH_CIPHER_MAX_TAG ||
            (p->cipher == KH_CIPHER_CHACHA20_POLY1305 && tag_len != AEAD_TAG))
            return KH_ERR_CRYPTO;
        memcpy(tagbuf, tag, tag_len); /* ctrl wants a non-const pointer */
    }
    if (p->cipher == KH_CIPHER_AES_CBC && ct_len % BLOCK)
        return KH_ERR_CRYPTO;
    size_t cap = ct_len + BLOCK, n = 0;
    uint8_t *out = kh_xmalloc(cap);
    EVP_CIPHER_CTX *ctx = new_ctx();
    if (!init(ctx, 0, key, p, p->iv, iv_len, tagbuf, tag_len) || !run(ctx, ct, ct_len, out, &n))
        err = kh_crypto_reject();
    EVP_CIPHER_CTX_free(ctx);
    if (err != KH_OK) { /* the part that decrypted before the failure too */
        kh_wipe_free(out, cap);
        return err;
    }
    *pt = out;
    *pt_len = n;
    return KH_OK;
}

void kh_cipher_out_clear(kh_cipher_out *o)
{
    if (!o)
        return;
    kh_wipe_free(o->data, o->len);
    memset(o, 0, sizeof(*o));
}

/* ---- RSA ------------------------------------------------------------- */

static EVP_PKEY_CTX *rsa_ctx(const kh_pkey *k, int enc, kh_rsa_pad pad, kh_hash hash)
{
    const EVP_MD *md = kh_crypto_md(hash);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pk, NULL);
    if (!ctx)
        return NULL;
    int ok = (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1;
    if (ok && pad == KH_RSA_OAEP)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1;
    else if (ok)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static kh_err rsa_check(const kh_pkey *k, kh_rsa_pad pad, kh_hash hash, size_t len)
{
    if (!k || kh_pkey_type_of(k) != KH_PKEY_RSA || !kh_crypto_fits_int(len))
        return KH_ERR_INVALID_ARG;
    if (pad == KH_RSA_OAEP && !kh_crypto_md(hash))
        return KH_ERR_INVALID_ARG;
    if (pad != KH_RSA_OAEP && pad != KH_RSA_PKCS1)
        return KH_ERR_INVALID_ARG;
    return KH_OK;
}

kh_err kh_rsa_encrypt(uint8_t **ct, size_t *ct_len, const kh_pkey *k, kh_rsa_pad pad, kh_hash hash,
                      const uint8_t *pt, size_t pt_len)
{
    kh_err err = rsa_check(k, pad, hash, pt_len);
    if (err != KH_OK)
        return err;
    if (pad != KH_RSA_OAEP) /* PKCS#1 v1.5 encryption invites Bleichenbacher */
        return KH_ERR_UNSUPPORTED;
    size_t n = 0;
    EVP_PKEY_CTX *ctx = rsa_ctx(k, 1, pad, hash);
    if (!ctx || EVP_PKEY_encrypt(ctx, NULL, &n, pt, pt_len) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return kh_crypto_fail("RSA encryption setup");
    }
    uint8_t *buf = kh_xmalloc(n);
    if (EVP_PKEY_encrypt(ctx, buf, &n, pt, pt_len) != 1) {
        err = kh_crypto_reject(); /* data too long for the key: the caller's doing */
        free(buf);
        buf = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    if (err == KH_OK) {
        *ct = buf;
        *ct_len = n;
    }
    return err;
}

kh_err kh_rsa_decrypt(uint8_t **pt, size_t *pt_len, const kh_pkey *k, kh_rsa_pad pad, kh_hash hash,
                      const uint8_t *ct, size_t ct_len)
{
    kh_err err = rsa_check(k, pad, hash, ct_len);
    if (err != KH_OK)
        return err;
    if (!k->has_private)
        return KH_ERR_INVALID_ARG;
    size_t n = 0;
    EVP_PKEY_CTX *ctx = rsa_ctx(k, 0, pad, hash);
    if (!ctx || EVP_PKEY_decrypt(ctx, NULL, &n, ct, ct_len) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return kh_crypto_fail("RSA decryption setup");
    }
    size_t cap = n;
    uint8_t *buf = kh_xmalloc(cap);
    if (EVP_PKEY_decrypt(ctx, buf, &n, ct, ct_len) != 1)
        err = kh_crypto_reject();
    EVP_PKEY_CTX_free(ctx);
    if (err == KH_OK) {
        /* OpenSSL's constant-time unpadding may write past n: keep n bytes,
         * wipe the whole buffer */
        *pt = kh_xmalloc(n ? n : 1);
        memcpy(*pt, buf, n);
        *pt_len = n;
    }
    kh_wipe_free(buf, cap);
    return err;
}
