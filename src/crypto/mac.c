/*
 * mac.c - HMAC and CMAC over EVP_MAC.
 */
#include "crypto/mac.h"

#include "common/mem.h"
#include "crypto/internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

static const char *cmac_cipher(size_t keylen)
{
    switch (keylen) {
    case 16:
        return "AES-128-CBC";
    case 24:
        return "AES-192-CBC";
    case 32:
        return "AES-256-CBC";
    default:
        return NULL;
    }
}

static kh_err compute(uint8_t *out, size_t *out_len, kh_mac_alg alg, kh_hash hash,
                      const kh_secbuf *key, const uint8_t *msg, size_t len)
{
    static const uint8_t empty[1] = {0};
    OSSL_PARAM params[2];
    const EVP_MD *md = kh_crypto_md(hash);
    const char *name = alg == KH_MAC_HMAC ? "HMAC" : "CMAC";
    if (alg == KH_MAC_HMAC && md)
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *)EVP_MD_get0_name(md), 0);
    else if (alg == KH_MAC_CMAC_AES && key && cmac_cipher(key->len))
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                     (char *)cmac_cipher(key->len), 0);
    else
        return KH_ERR_INVALID_ARG;
    params[1] = OSSL_PARAM_construct_end();
    if (!key || !key->len || (!msg && len) || !kh_crypto_fits_int(len))
        return KH_ERR_INVALID_ARG;
    kh_err err = KH_OK;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, name, NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    if (!ctx || EVP_MAC_init(ctx, key->data, key->len, params) != 1 ||
        EVP_MAC_update(ctx, msg ? msg : empty, len) != 1 ||
        EVP_MAC_final(ctx, out, out_len, KH_MAC_MAX_LEN) != 1)
        err = kh_crypto_fail(name);
    EVP_MAC_CTX_free(ctx); /* cleanses the keyed state */
    EVP_MAC_free(mac);
    return err;
}

kh_err kh_mac(uint8_t out[KH_MAC_MAX_LEN], size_t *out_len, kh_mac_alg alg, kh_hash hash,
              const kh_secbuf *key, const uint8_t *msg, size_t len)
{
    return compute(out, out_len, alg, hash, key, msg, len);
}

kh_err kh_mac_verify(bool *valid, kh_mac_alg alg, kh_hash hash, const kh_secbuf *key,
                     const uint8_t *msg, size_t len, const uint8_t *mac, size_t mac_len)
{
    uint8_t want[KH_MAC_MAX_LEN];
    size_t n = 0;
    kh_err err = compute(want, &n, alg, hash, key, msg, len);
    if (err == KH_OK)
        *valid = mac && kh_ct_equal(want, n, mac, mac_len);
    kh_wipe(want, sizeof(want));
    return err;
}
