/*
 * kdf.c - PBKDF2, HKDF and KBKDF through EVP_KDF; parameters are checked
 * before OpenSSL sees them.
 */
#include "crypto/kdf.h"

#include "crypto/internal.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

static const uint8_t empty[1] = {0};

static kh_err check(const kh_secbuf *out, kh_hash hash, const kh_secbuf *key, size_t a, size_t b)
{
    if (!out || !out->len || out->len > KH_KDF_MAX_OUT || !kh_crypto_md(hash) || !key ||
        !key->len || !kh_crypto_fits_int(a) || !kh_crypto_fits_int(b))
        return KH_ERR_INVALID_ARG;
    return KH_OK;
}

static kh_err derive(const char *name, kh_secbuf *out, const OSSL_PARAM *params)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, name, NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    kh_err err = KH_OK;
    if (!ctx || EVP_KDF_derive(ctx, out->data, out->len, params) != 1)
        err = kh_crypto_fail(name);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return err;
}

static char *md_name(kh_hash hash)
{
    return (char *)EVP_MD_get0_name(kh_crypto_md(hash));
}

kh_err kh_pbkdf2(kh_secbuf *out, kh_hash hash, const kh_secbuf *password, const uint8_t *salt,
                 size_t salt_len, uint32_t iterations)
{
    kh_err err = check(out, hash, password, salt_len, 0);
    if (err != KH_OK)
        return err;
    if (iterations < 1 || iterations > KH_KDF_MAX_ITER)
        return KH_ERR_INVALID_ARG;
    uint64_t iter = iterations;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md_name(hash), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, password->data, password->len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(salt ? salt : empty),
                                          salt_len),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter), /* SP 800-132 floors: off */
        OSSL_PARAM_construct_end(),
    };
    return derive("PBKDF2", out, p);
}

kh_err kh_hkdf(kh_secbuf *out, kh_hash hash, const kh_secbuf *key, const uint8_t *salt,
               size_t salt_len, const uint8_t *info, size_t info_len)
{
    kh_err err = check(out, hash, key, salt_len, info_len);
    if (err != KH_OK)
        return err;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md_name(hash), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key->data, key->len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(salt ? salt : empty),
                                          salt_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)(info ? info : empty),
                                          info_len),
        OSSL_PARAM_construct_end(),
    };
    return derive("HKDF", out, p);
}

kh_err kh_kbkdf_counter(kh_secbuf *out, kh_hash hash, const kh_secbuf *key, const uint8_t *fixed,
                        size_t fixed_len)
{
    kh_err err = check(out, hash, key, fixed_len, 0);
    if (err != KH_OK)
        return err;
    int no = 0;
    /* The fixed data goes in as the label; with no separator, no context
     * and no L the PRF input is exactly counter || fixed. */
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "COUNTER", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md_name(hash), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key->data, key->len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(fixed ? fixed : empty),
                                          fixed_len),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_L, &no),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_SEPARATOR, &no),
        OSSL_PARAM_construct_end(),
    };
    return derive("KBKDF", out, p);
}
