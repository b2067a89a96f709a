/*
 * jose.c - JWK public keys and JWS ECDSA signatures over OpenSSL 3
 * (crypto/jose.h).
 *
 * Keys are built with EVP_PKEY_fromdata from OSSL_PARAMs, the provider way;
 * an EC point is decoded (and so checked to lie on the curve) by OpenSSL,
 * and checked once more with EVP_PKEY_public_check because the key comes
 * from the network.
 */
#include "crypto/jose.h"

#include "common/mem.h"
#include "crypto/internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <string.h>

#define P256_COORD 32

static kh_pkey *wrap_public(EVP_PKEY *pk)
{
    kh_pkey *k = kh_xmalloc(sizeof(*k));
    k->pk = pk;
    k->has_private = false;
    return k;
}

/* Key from params, checked; NULL when OpenSSL refuses it. */
static EVP_PKEY *from_params(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    if (!pk)
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

/* Leading zero bytes do not count: JWKs should not have them, some do. */
static size_t strip_zeros(const uint8_t **p, size_t len)
{
    while (len > 0 && **p == 0) {
        (*p)++;
        len--;
    }
    return len;
}

kh_err kh_jose_rsa_public(kh_pkey **out, const uint8_t *n, size_t n_len, const uint8_t *e,
                          size_t e_len)
{
    kh_err err = KH_ERR_UNSUPPORTED;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    if (!out || !n || !e)
        return KH_ERR_INVALID_ARG;
    n_len = strip_zeros(&n, n_len);
    e_len = strip_zeros(&e, e_len);
    /* exponents of more than 4 bytes, even ones and 1 are not RSA anyone uses */
    if (n_len < KH_JOSE_RSA_MIN_BITS / 8 || n_len > KH_JOSE_RSA_MAX_BITS / 8 || e_len == 0 ||
        e_len > 4 || (e[e_len - 1] & 1) == 0 || (e_len == 1 && e[0] < 3) || (n[n_len - 1] & 1) == 0)
        return KH_ERR_UNSUPPORTED;
    if (!(bn = BN_bin2bn(n, (int)n_len, NULL)) || !(be = BN_bin2bn(e, (int)e_len, NULL)))
        kh_oom();
    if (BN_num_bits(bn) < KH_JOSE_RSA_MIN_BITS)
        goto out;
    if (!(bld = OSSL_PARAM_BLD_new()) ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1 ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        err = kh_crypto_fail("RSA JWK parameters");
        goto out;
    }
    EVP_PKEY *pk = from_params("RSA", params);
    if (!pk) {
        err = kh_crypto_reject();
        goto out;
    }
    *out = wrap_public(pk);
    err = KH_OK;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return err;
}

kh_err kh_jose_p256_public(kh_pkey **out, const uint8_t *x, size_t x_len, const uint8_t *y,
                           size_t y_len)
{
    if (!out || !x || !y)
        return KH_ERR_INVALID_ARG;
    if (x_len != P256_COORD || y_len != P256_COORD)
        return KH_ERR_CRYPTO;
    uint8_t point[1 + 2 * P256_COORD];
    char group[] = "P-256";
    point[0] = 0x04; /* uncompressed: SEC 1 section 2.3.3 */
    memcpy(point + 1, x, P256_COORD);
    memcpy(point + 1 + P256_COORD, y, P256_COORD);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *pk = from_params("EC", params);
    if (!pk)
        return kh_crypto_reject();
    *out = wrap_public(pk);
    return KH_OK;
}

kh_err kh_jose_ecdsa_raw_to_der(uint8_t **der, size_t *der_len, const uint8_t *raw, size_t len,
                                size_t half_len)
{
    kh_err err = KH_ERR_CRYPTO;
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *enc = NULL;
    if (!der || !der_len || !raw || half_len == 0 || half_len > 66)
        return KH_ERR_INVALID_ARG;
    if (len != 2 * half_len)
        return KH_ERR_CRYPTO;
    if (!(sig = ECDSA_SIG_new()) || !(r = BN_bin2bn(raw, (int)half_len, NULL)) ||
        !(s = BN_bin2bn(raw + half_len, (int)half_len, NULL)))
        kh_oom();
    if (ECDSA_SIG_set0(sig, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by sig now */
    int n = i2d_ECDSA_SIG(sig, &enc);
    if (n <= 0)
        goto out;
    *der = kh_xmalloc((size_t)n);
    memcpy(*der, enc, (size_t)n);
    *der_len = (size_t)n;
    err = KH_OK;
out:
    if (err != KH_OK)
        (void)kh_crypto_reject();
    OPENSSL_free(enc);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return err;
}
