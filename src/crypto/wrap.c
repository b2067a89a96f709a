/*
 * wrap.c - AES key wrap (RFC 3394, RFC 5649) over EVP's id-aes*-wrap(-pad)
 * ciphers, and the RSA-OAEP + AES-KWP hybrid built from them and
 * cipher.h's RSA-OAEP. No block of the algorithms is written here.
 */
#include "crypto/wrap.h"

#include "common/mem.h"
#include "crypto/cipher.h"
#include "crypto/internal.h"
#include "crypto/rand.h"

#include <string.h>

#define KW_BLOCK 8
#define EPHEMERAL_LEN 32

static const char *wrap_name(kh_kw_mode mode, size_t keylen)
{
    static const char *names[2][3] = {
        {"AES-128-WRAP", "AES-192-WRAP", "AES-256-WRAP"},
        {"AES-128-WRAP-PAD", "AES-192-WRAP-PAD", "AES-256-WRAP-PAD"},
    };
    int row = mode == KH_KW_RFC3394 ? 0 : mode == KH_KW_RFC5649 ? 1 : -1;
    int col = keylen == 16 ? 0 : keylen == 24 ? 1 : keylen == 32 ? 2 : -1;
    return (row < 0 || col < 0) ? NULL : names[row][col];
}

/* One pass of the wrap cipher; *n gets the output length. */
static bool run(const char *name, int enc, const kh_secbuf *kek, const uint8_t *in, size_t in_len,
                uint8_t *out, size_t *n)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *ctx = c ? EVP_CIPHER_CTX_new() : NULL;
    int l1 = 0, l2 = 0;
    bool ok = ctx != NULL;
    if (ok) {
        /* a no-op for provider ciphers, required by the legacy ones */
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        ok = EVP_CipherInit_ex2(ctx, c, kek->data, NULL, enc, NULL) == 1 &&
             EVP_CipherUpdate(ctx, out, &l1, in, (int)in_len) == 1 &&
             EVP_CipherFinal_ex(ctx, out + l1, &l2) == 1;
    }
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    EVP_CIPHER_free(c);
    if (ok)
        *n = (size_t)l1 + (size_t)l2;
    return ok;
}

static kh_err check_input(kh_kw_mode mode, size_t len, bool wrapping)
{
    if (len > KH_WRAP_MAX_INPUT + 2 * KW_BLOCK)
        return KH_ERR_INVALID_ARG;
    if (wrapping)
        return (mode == KH_KW_RFC3394 ? (len >= 16 && len % KW_BLOCK == 0) : len >= 1)
                   ? KH_OK
                   : KH_ERR_INVALID_ARG;
    /* a wrapped value is whole semiblocks, at least two (RFC 5649 §4.2) */
    return (len >= 2 * KW_BLOCK && len % KW_BLOCK == 0) ? KH_OK : KH_ERR_CRYPTO;
}

kh_err kh_key_wrap(uint8_t **out, size_t *out_len, kh_kw_mode mode, const kh_secbuf *kek,
                   const uint8_t *pt, size_t pt_len)
{
    const char *name = kek ? wrap_name(mode, kek->len) : NULL;
    if (!name || !pt)
        return KH_ERR_INVALID_ARG;
    kh_err err = check_input(mode, pt_len, true);
    if (err != KH_OK)
        return err;
    size_t cap = pt_len + 2 * KW_BLOCK, n = 0;
    uint8_t *buf = kh_xmalloc(cap);
    if (!run(name, 1, kek, pt, pt_len, buf, &n)) {
        free(buf);
        return kh_crypto_fail("key wrap");
    }
    *out = buf;
    *out_len = n;
    return KH_OK;
}

kh_err kh_key_unwrap(kh_secbuf **out, kh_kw_mode mode, const kh_secbuf *kek, const uint8_t *ct,
                     size_t ct_len)
{
    const char *name = kek ? wrap_name(mode, kek->len) : NULL;
    if (!name || !ct)
        return KH_ERR_INVALID_ARG;
    kh_err err = check_input(mode, ct_len, false);
    if (err != KH_OK)
        return err;
    size_t n = 0;
    kh_secbuf *buf = kh_secbuf_new(ct_len + KW_BLOCK);
    if (!run(name, 0, kek, ct, ct_len, buf->data, &n) || n == 0) {
        kh_secbuf_free(&buf);
        return kh_crypto_reject();
    }
    *out = kh_secbuf_dup(buf->data, n);
    kh_secbuf_free(&buf);
    return KH_OK;
}

/* The RSA modulus length in bytes: the length of an OAEP block. */
static size_t modulus_len(const kh_pkey *k)
{
    return ((size_t)kh_pkey_bits(k) + 7) / 8;
}

kh_err kh_rsa_aes_wrap(uint8_t **out, size_t *out_len, const kh_pkey *k, kh_hash hash,
                       const uint8_t *pt, size_t pt_len)
{
    uint8_t *head = NULL, *tail = NULL;
    size_t head_len = 0, tail_len = 0;
    if (!k || kh_pkey_type_of(k) != KH_PKEY_RSA)
        return KH_ERR_INVALID_ARG;
    kh_secbuf *eph = kh_secbuf_new(EPHEMERAL_LEN);
    kh_err err = kh_random_secret(eph->data, eph->len);
    if (err == KH_OK)
        err = kh_rsa_encrypt(&head, &head_len, k, KH_RSA_OAEP, hash, eph->data, eph->len);
    if (err == KH_OK)
        err = kh_key_wrap(&tail, &tail_len, KH_KW_RFC5649, eph, pt, pt_len);
    if (err == KH_OK) {
        *out_len = head_len + tail_len;
        *out = kh_xmalloc(*out_len);
        memcpy(*out, head, head_len);
        memcpy(*out + head_len, tail, tail_len);
    }
    free(head);
    free(tail);
    kh_secbuf_free(&eph);
    return err;
}

kh_err kh_rsa_aes_unwrap(kh_secbuf **out, const kh_pkey *k, kh_hash hash, const uint8_t *ct,
                         size_t ct_len)
{
    uint8_t *eph = NULL;
    size_t eph_len = 0;
    if (!k || kh_pkey_type_of(k) != KH_PKEY_RSA || !kh_pkey_has_private(k) || !ct)
        return KH_ERR_INVALID_ARG;
    size_t m = modulus_len(k);
    if (ct_len < m + 2 * KW_BLOCK)
        return KH_ERR_CRYPTO;
    kh_err err = kh_rsa_decrypt(&eph, &eph_len, k, KH_RSA_OAEP, hash, ct, m);
    if (err != KH_OK)
        return err;
    if (eph_len != EPHEMERAL_LEN && eph_len != 24 && eph_len != 16) {
        kh_wipe_free(eph, eph_len);
        return KH_ERR_CRYPTO;
    }
    kh_secbuf *kek = kh_secbuf_dup(eph, eph_len);
    kh_wipe_free(eph, eph_len);
    err = kh_key_unwrap(out, KH_KW_RFC5649, kek, ct + m, ct_len - m);
    kh_secbuf_free(&kek);
    return err;
}
