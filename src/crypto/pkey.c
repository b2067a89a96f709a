/*
 * pkey.c - asymmetric key generation and DER conversion over EVP_PKEY.
 *
 * Encodings are written twice, once to measure and once into a kh_secbuf,
 * so that private DER never sits in a plain heap buffer of ours. This file
 * does no signing or encryption: see sign.c and cipher.c.
 */
#include "crypto/pkey.h"

#include "common/mem.h"
#include "crypto/internal.h"

#include <openssl/core_names.h>
#include <openssl/x509.h>
#include <string.h>

#define ED25519_LEN 32

static kh_pkey *wrap(EVP_PKEY *pk, bool has_private)
{
    kh_pkey *k = kh_xmalloc(sizeof(*k));
    k->pk = pk;
    k->has_private = has_private;
    return k;
}

void kh_pkey_free(kh_pkey **k)
{
    if (!k || !*k)
        return;
    EVP_PKEY_free((*k)->pk);
    free(*k);
    *k = NULL;
}

static const char *curve_name(kh_pkey_type type)
{
    switch (type) {
    case KH_PKEY_EC_P256:
        return "P-256";
    case KH_PKEY_EC_P384:
        return "P-384";
    case KH_PKEY_EC_P521:
        return "P-521";
    default:
        return NULL;
    }
}

kh_err kh_pkey_generate(kh_pkey **out, kh_pkey_type type, unsigned bits)
{
    EVP_PKEY *pk = NULL;
    if (type == KH_PKEY_RSA) {
        if (bits != 2048 && bits != 3072 && bits != 4096)
            return KH_ERR_INVALID_ARG;
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else if (curve_name(type)) {
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve_name(type));
    } else if (type == KH_PKEY_ED25519) {
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else {
        return KH_ERR_INVALID_ARG;
    }
    if (!pk)
        return kh_crypto_fail("key pair generation");
    *out = wrap(pk, true);
    return KH_OK;
}

/* Our type for pk, 0 when it is none we use. */
static kh_pkey_type type_of(const EVP_PKEY *pk)
{
    char group[32];
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_RSA:
        return KH_PKEY_RSA;
    case EVP_PKEY_ED25519:
        return KH_PKEY_ED25519;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1)
            return 0;
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            return KH_PKEY_EC_P256;
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            return KH_PKEY_EC_P384;
        if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            return KH_PKEY_EC_P521;
        return 0;
    default:
        return 0;
    }
}

static EVP_PKEY *decode_private(kh_pkey_format fmt, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    EVP_PKEY *pk = NULL;
    if (fmt == KH_PKEY_RAW)
        return len == ED25519_LEN ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, der, len)
                                  : NULL;
    if (fmt == KH_PKEY_PKCS1)
        pk = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)len);
    else if (fmt == KH_PKEY_PKCS8)
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
    if (pk && p != der + len) { /* trailing bytes: not the key we were given */
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

static EVP_PKEY *decode_public(kh_pkey_format fmt, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    EVP_PKEY *pk = NULL;
    if (fmt == KH_PKEY_RAW)
        return len == ED25519_LEN ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, len)
                                  : NULL;
    if (fmt == KH_PKEY_PKCS1)
        pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
    else if (fmt == KH_PKEY_SPKI)
        pk = d2i_PUBKEY(NULL, &p, (long)len);
    if (pk && p != der + len) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

kh_err kh_pkey_import(kh_pkey **out, bool is_private, kh_pkey_format fmt, const uint8_t *der,
                      size_t len)
{
    if (!der || !len || !kh_crypto_fits_int(len))
        return KH_ERR_CRYPTO;
    EVP_PKEY *pk = is_private ? decode_private(fmt, der, len) : decode_public(fmt, der, len);
    if (!pk)
        return kh_crypto_reject(); /* client-supplied bytes: not worth a log line */
    if (!type_of(pk)) {
        EVP_PKEY_free(pk);
        return KH_ERR_UNSUPPORTED;
    }
    *out = wrap(pk, is_private);
    return KH_OK;
}

static kh_err private_der(const EVP_PKEY *pk, kh_pkey_format fmt, kh_secbuf **out)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    kh_secbuf *b = NULL;
    int n;
    if (fmt == KH_PKEY_PKCS8) {
        if (!(p8 = EVP_PKEY2PKCS8(pk)))
            return kh_crypto_fail("PKCS#8 encoding");
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    } else {
        n = i2d_PrivateKey(pk, NULL);
    }
    if (n > 0) {
        b = kh_secbuf_new((size_t)n);
        unsigned char *p = b->data;
        n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &p) : i2d_PrivateKey(pk, &p);
    }
    PKCS8_PRIV_KEY_INFO_free(p8); /* its free callback cleanses the key octets */
    if (n <= 0 || (size_t)n != b->len) {
        kh_secbuf_free(&b);
        return kh_crypto_fail("private key encoding");
    }
    *out = b;
    return KH_OK;
}

kh_err kh_pkey_export_private(kh_secbuf **der, const kh_pkey *k, kh_pkey_format fmt)
{
    kh_pkey_type t = type_of(k->pk);
    if (!k->has_private)
        return KH_ERR_INVALID_ARG;
    if (fmt == KH_PKEY_RAW) {
        size_t n = ED25519_LEN;
        if (t != KH_PKEY_ED25519)
            return KH_ERR_INVALID_ARG;
        kh_secbuf *b = kh_secbuf_new(n);
        if (EVP_PKEY_get_raw_private_key(k->pk, b->data, &n) != 1 || n != ED25519_LEN) {
            kh_secbuf_free(&b);
            return kh_crypto_fail("raw private key");
        }
        *der = b;
        return KH_OK;
    }
    if ((fmt == KH_PKEY_PKCS1 && t != KH_PKEY_RSA) ||
        (fmt != KH_PKEY_PKCS1 && fmt != KH_PKEY_PKCS8))
        return KH_ERR_INVALID_ARG;
    return private_der(k->pk, fmt, der);
}

kh_err kh_pkey_export_public(uint8_t **der, size_t *len, const kh_pkey *k, kh_pkey_format fmt)
{
    kh_pkey_type t = type_of(k->pk);
    int n;
    if (fmt == KH_PKEY_RAW) {
        size_t rl = ED25519_LEN;
        if (t != KH_PKEY_ED25519)
            return KH_ERR_INVALID_ARG;
        uint8_t *b = kh_xmalloc(rl);
        if (EVP_PKEY_get_raw_public_key(k->pk, b, &rl) != 1 || rl != ED25519_LEN) {
            free(b);
            return kh_crypto_fail("raw public key");
        }
        *der = b;
        *len = rl;
        return KH_OK;
    }
    if (fmt == KH_PKEY_PKCS1 && t == KH_PKEY_RSA)
        n = i2d_PublicKey(k->pk, NULL);
    else if (fmt == KH_PKEY_SPKI)
        n = i2d_PUBKEY(k->pk, NULL);
    else
        return KH_ERR_INVALID_ARG;
    if (n <= 0)
        return kh_crypto_fail("public key encoding");
    uint8_t *b = kh_xmalloc((size_t)n);
    unsigned char *p = b;
    int m = fmt == KH_PKEY_SPKI ? i2d_PUBKEY(k->pk, &p) : i2d_PublicKey(k->pk, &p);
    if (m != n) {
        free(b);
        return kh_crypto_fail("public key encoding");
    }
    *der = b;
    *len = (size_t)n;
    return KH_OK;
}

static const char *part_param(kh_pkey_part part, bool *secret)
{
    static const struct {
        kh_pkey_part part;
        const char *name;
        bool secret;
    } parts[] = {
        {KH_PKEY_RSA_N, OSSL_PKEY_PARAM_RSA_N, false},
        {KH_PKEY_RSA_E, OSSL_PKEY_PARAM_RSA_E, false},
        {KH_PKEY_RSA_D, OSSL_PKEY_PARAM_RSA_D, true},
        {KH_PKEY_RSA_P, OSSL_PKEY_PARAM_RSA_FACTOR1, true},
        {KH_PKEY_RSA_Q, OSSL_PKEY_PARAM_RSA_FACTOR2, true},
        {KH_PKEY_RSA_DP, OSSL_PKEY_PARAM_RSA_EXPONENT1, true},
        {KH_PKEY_RSA_DQ, OSSL_PKEY_PARAM_RSA_EXPONENT2, true},
        {KH_PKEY_RSA_QINV, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, true},
        {KH_PKEY_EC_D, OSSL_PKEY_PARAM_PRIV_KEY, true},
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (parts[i].part == part) {
            *secret = parts[i].secret;
            return parts[i].name;
        }
    }
    return NULL;
}

static bool part_of_type(kh_pkey_type t, kh_pkey_part part)
{
    bool rsa_part = part >= KH_PKEY_RSA_N && part <= KH_PKEY_RSA_QINV;
    bool ec_part = part == KH_PKEY_EC_D || part == KH_PKEY_EC_Q;
    return t == KH_PKEY_RSA ? rsa_part : (t != KH_PKEY_ED25519 && t != 0 && ec_part);
}

kh_err kh_pkey_part_get(kh_secbuf **out, const kh_pkey *k, kh_pkey_part part)
{
    if (!part_of_type(type_of(k->pk), part))
        return KH_ERR_INVALID_ARG;
    if (part == KH_PKEY_EC_Q) {
        size_t len = 0;
        if (EVP_PKEY_get_octet_string_param(k->pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0,
                                            &len) != 1 ||
            len == 0)
            return kh_crypto_fail("EC public point");
        kh_secbuf *b = kh_secbuf_new(len);
        if (EVP_PKEY_get_octet_string_param(k->pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, b->data,
                                            b->len, &len) != 1 ||
            len != b->len) {
            kh_secbuf_free(&b);
            return kh_crypto_fail("EC public point");
        }
        *out = b;
        return KH_OK;
    }
    bool secret = false;
    const char *name = part_param(part, &secret);
    if (secret && !k->has_private)
        return KH_ERR_INVALID_ARG;
    BIGNUM *bn = NULL;
    if (!name || EVP_PKEY_get_bn_param(k->pk, name, &bn) != 1)
        return kh_crypto_fail("key component");
    kh_secbuf *b = kh_secbuf_new((size_t)BN_num_bytes(bn) ? (size_t)BN_num_bytes(bn) : 1);
    int n = BN_bn2binpad(bn, b->data, (int)b->len);
    BN_clear_free(bn);
    if (n < 0) {
        kh_secbuf_free(&b);
        return kh_crypto_fail("key component");
    }
    *out = b;
    return KH_OK;
}

kh_pkey_type kh_pkey_type_of(const kh_pkey *k)
{
    return type_of(k->pk);
}

unsigned kh_pkey_bits(const kh_pkey *k)
{
    switch (type_of(k->pk)) {
    case KH_PKEY_ED25519:
        return 256;
    case KH_PKEY_EC_P521:
        return 521;
    default:
        return (unsigned)EVP_PKEY_get_bits(k->pk);
    }
}

bool kh_pkey_has_private(const kh_pkey *k)
{
    return k->has_private;
}
