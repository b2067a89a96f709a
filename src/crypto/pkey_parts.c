/*
 * pkey_parts.c - asymmetric keys built from their numbers (KMIP's
 * Transparent key formats), the inverse of kh_pkey_part_get. Numbers are
 * client-supplied: every key is checked before it is handed out, and the
 * private ones travel in secure BIGNUMs, cleared when freed.
 */
#include "crypto/pkey.h"

#include "common/mem.h"
#include "crypto/internal.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#define MAX_POINT 133 /* an uncompressed P-521 point */

static int curve_nid(kh_pkey_type t)
{
    switch (t) {
    case KH_PKEY_EC_P256:
        return NID_X9_62_prime256v1;
    case KH_PKEY_EC_P384:
        return NID_secp384r1;
    case KH_PKEY_EC_P521:
        return NID_secp521r1;
    default:
        return NID_undef;
    }
}

/* Numbers handed to a param builder must live until it is done. */
typedef struct bns {
    BIGNUM *bn[8];
    int n;
} bns;

static void bns_free(bns *b)
{
    for (int i = 0; i < b->n; i++)
        BN_clear_free(b->bn[i]);
    b->n = 0;
}

static BIGNUM *bn_of(bns *b, const kh_pkey_parts *p, kh_pkey_part part)
{
    if (!p->v[part] || !p->len[part] || !kh_crypto_fits_int(p->len[part]) || b->n == 8)
        return NULL;
    BIGNUM *bn = BN_secure_new();
    if (bn && !BN_bin2bn(p->v[part], (int)p->len[part], bn)) {
        BN_clear_free(bn);
        bn = NULL;
    }
    if (bn)
        b->bn[b->n++] = bn;
    return bn;
}

static kh_err push(OSSL_PARAM_BLD *bld, bns *b, const kh_pkey_parts *p, kh_pkey_part part,
                   const char *name)
{
    BIGNUM *bn = bn_of(b, p, part);
    if (!bn)
        return p->v[part] ? kh_crypto_fail("key part") : KH_ERR_INVALID_ARG;
    return OSSL_PARAM_BLD_push_BN(bld, name, bn) == 1 ? KH_OK : kh_crypto_fail("key part");
}

static kh_err rsa_params(OSSL_PARAM_BLD *bld, bns *b, const kh_pkey_parts *p, bool is_private)
{
    static const struct {
        kh_pkey_part part;
        const char *name;
    } priv[] = {{KH_PKEY_RSA_D, OSSL_PKEY_PARAM_RSA_D},
                {KH_PKEY_RSA_P, OSSL_PKEY_PARAM_RSA_FACTOR1},
                {KH_PKEY_RSA_Q, OSSL_PKEY_PARAM_RSA_FACTOR2},
                {KH_PKEY_RSA_DP, OSSL_PKEY_PARAM_RSA_EXPONENT1},
                {KH_PKEY_RSA_DQ, OSSL_PKEY_PARAM_RSA_EXPONENT2},
                {KH_PKEY_RSA_QINV, OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
    kh_err err = push(bld, b, p, KH_PKEY_RSA_N, OSSL_PKEY_PARAM_RSA_N);
    if (err == KH_OK)
        err = push(bld, b, p, KH_PKEY_RSA_E, OSSL_PKEY_PARAM_RSA_E);
    for (size_t i = 0; is_private && err == KH_OK && i < sizeof(priv) / sizeof(priv[0]); i++)
        err = push(bld, b, p, priv[i].part, priv[i].name);
    return err;
}

/* Q = d * G, uncompressed. */
static kh_err ec_public_point(int nid, const BIGNUM *d, unsigned char *out, size_t *len)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
    EC_POINT *q = g ? EC_POINT_new(g) : NULL;
    kh_err err = KH_OK;
    if (!q || EC_POINT_mul(g, q, d, NULL, NULL, NULL) != 1)
        err = kh_crypto_fail("EC public point");
    else if (!(*len =
                   EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, out, MAX_POINT, NULL)))
        err = kh_crypto_reject(); /* d was zero: the point at infinity */
    EC_POINT_free(q);
    EC_GROUP_free(g);
    return err;
}

static kh_err ec_params(OSSL_PARAM_BLD *bld, bns *b, const kh_pkey_parts *p, bool is_private,
                        unsigned char *point)
{
    int nid = curve_nid(p->type);
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0) != 1)
        return kh_crypto_fail("EC group");
    if (!is_private) {
        if (!p->v[KH_PKEY_EC_Q] || !p->len[KH_PKEY_EC_Q])
            return KH_ERR_INVALID_ARG;
        return OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, p->v[KH_PKEY_EC_Q],
                                                p->len[KH_PKEY_EC_Q]) == 1
                   ? KH_OK
                   : kh_crypto_fail("EC point");
    }
    BIGNUM *d = bn_of(b, p, KH_PKEY_EC_D);
    size_t len = 0;
    if (!d)
        return p->v[KH_PKEY_EC_D] ? kh_crypto_fail("EC scalar") : KH_ERR_INVALID_ARG;
    kh_err err = ec_public_point(nid, d, point, &len);
    if (err != KH_OK)
        return err;
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, len) != 1)
        return kh_crypto_fail("EC key");
    return KH_OK;
}

/* A client's numbers that do not make a key are its mistake, not news. */
static kh_err checked(EVP_PKEY *pk, bool is_private)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int ok = ctx && (is_private ? EVP_PKEY_pairwise_check(ctx) : EVP_PKEY_public_check(ctx)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? KH_OK : kh_crypto_reject();
}

kh_err kh_pkey_from_parts(kh_pkey **out, bool is_private, const kh_pkey_parts *p)
{
    bool rsa = p->type == KH_PKEY_RSA;
    if (!rsa && curve_nid(p->type) == NID_undef)
        return KH_ERR_INVALID_ARG;
    bns b = {.n = 0};
    unsigned char point[MAX_POINT];
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    kh_err err = bld ? KH_OK : kh_crypto_fail("OSSL_PARAM_BLD_new");
    if (err == KH_OK)
        err = rsa ? rsa_params(bld, &b, p, is_private) : ec_params(bld, &b, p, is_private, point);
    if (err == KH_OK && !(params = OSSL_PARAM_BLD_to_param(bld)))
        err = kh_crypto_fail("key parameters");
    if (err == KH_OK && (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL)) ||
                         EVP_PKEY_fromdata_init(ctx) != 1))
        err = kh_crypto_fail("EVP_PKEY_fromdata_init");
    if (err == KH_OK &&
        EVP_PKEY_fromdata(ctx, &pk, is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) !=
            1)
        err = kh_crypto_reject();
    if (err == KH_OK)
        err = checked(pk, is_private);
    if (err == KH_OK) {
        kh_pkey *k = kh_xmalloc(sizeof(*k));
        k->pk = pk;
        k->has_private = is_private;
        pk = NULL;
        *out = k;
    }
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* clears the secure block holding private numbers */
    OSSL_PARAM_BLD_free(bld);
    bns_free(&b);
    OPENSSL_cleanse(point, sizeof(point));
    return err;
}
