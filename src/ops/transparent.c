/*
 * transparent.c - asymmetric keys as KMIP Transparent key material and
 * back (the layouts are in transparent.h). Every number written passes
 * through a kh_secbuf and ends in the TTLV tree, which wipes it when
 * freed; numbers read are borrowed from the tree.
 */
#include "ops/transparent.h"

#include "crypto/secbuf.h"
#include "proto/kmip_consts.h"

#include <string.h>

bool kh_transparent_format(uint32_t format)
{
    switch (format) {
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PUBLIC_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_EC_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_EC_PUBLIC_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECDSA_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECDSA_PUBLIC_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECDH_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECDH_PUBLIC_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECMQV_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECMQV_PUBLIC_KEY:
        return true;
    default:
        return false;
    }
}

/* The shape a format asks for: 'R' RSA, 'E' EC; private or public. */
static char shape(uint32_t format, bool *private_form)
{
    switch (format) {
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PRIVATE_KEY:
        *private_form = true;
        return 'R';
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PUBLIC_KEY:
        *private_form = false;
        return 'R';
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_EC_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECDSA_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECDH_PRIVATE_KEY:
    case KH_KEY_FORMAT_TYPE_TRANSPARENT_ECMQV_PRIVATE_KEY:
        *private_form = true;
        return 'E';
    default:
        *private_form = false;
        return 'E';
    }
}

/* part as a BigInteger item: a zero octet in front when the top bit is set
 * (it is a positive number), then zeros to a multiple of 8 octets. */
static kh_err bigint_part(kh_ttlv *km, uint32_t tag, const kh_pkey *k, kh_pkey_part part)
{
    kh_secbuf *mag = NULL;
    kh_err err = kh_pkey_part_get(&mag, k, part);
    if (err != KH_OK)
        return err == KH_ERR_INVALID_ARG ? KH_ERR_KEY_FORMAT : err;
    size_t need = mag->len + ((mag->data[0] & 0x80) ? 1 : 0);
    size_t len = (need + 7) / 8 * 8;
    kh_secbuf *v = kh_secbuf_new(len); /* zeroed */
    memcpy(v->data + (len - mag->len), mag->data, mag->len);
    kh_ttlv_add_take(km, kh_ttlv_new_bigint(tag, v->data, v->len));
    kh_secbuf_free(&v);
    kh_secbuf_free(&mag);
    return KH_OK;
}

static kh_err rsa_material(kh_ttlv *km, const kh_pkey *k, bool private_form)
{
    static const struct {
        uint32_t tag;
        kh_pkey_part part;
    } priv[] = {{KH_TAG_MODULUS, KH_PKEY_RSA_N},
                {KH_TAG_PRIVATE_EXPONENT, KH_PKEY_RSA_D},
                {KH_TAG_PUBLIC_EXPONENT, KH_PKEY_RSA_E},
                {KH_TAG_P, KH_PKEY_RSA_P},
                {KH_TAG_Q, KH_PKEY_RSA_Q},
                {KH_TAG_PRIME_EXPONENT_P, KH_PKEY_RSA_DP},
                {KH_TAG_PRIME_EXPONENT_Q, KH_PKEY_RSA_DQ},
                {KH_TAG_CRT_COEFFICIENT, KH_PKEY_RSA_QINV}};
    if (!private_form) {
        kh_err err = bigint_part(km, KH_TAG_MODULUS, k, KH_PKEY_RSA_N);
        return err == KH_OK ? bigint_part(km, KH_TAG_PUBLIC_EXPONENT, k, KH_PKEY_RSA_E) : err;
    }
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        kh_err err = bigint_part(km, priv[i].tag, k, priv[i].part);
        if (err != KH_OK)
            return err;
    }
    return KH_OK;
}

static uint32_t curve_of(kh_pkey_type t)
{
    switch (t) {
    case KH_PKEY_EC_P256:
        return KH_RECOMMENDED_CURVE_P_256;
    case KH_PKEY_EC_P384:
        return KH_RECOMMENDED_CURVE_P_384;
    case KH_PKEY_EC_P521:
        return KH_RECOMMENDED_CURVE_P_521;
    default:
        return 0;
    }
}

static kh_err ec_material(kh_ttlv *km, const kh_pkey *k, bool private_form)
{
    kh_ttlv_add_take(km, kh_ttlv_new_enum(KH_TAG_RECOMMENDED_CURVE, curve_of(kh_pkey_type_of(k))));
    if (private_form)
        return bigint_part(km, KH_TAG_D, k, KH_PKEY_EC_D);
    kh_secbuf *q = NULL;
    kh_err err = kh_pkey_part_get(&q, k, KH_PKEY_EC_Q);
    if (err != KH_OK)
        return err == KH_ERR_INVALID_ARG ? KH_ERR_KEY_FORMAT : err;
    kh_ttlv_add_take(km, kh_ttlv_new_bytes(KH_TAG_Q_STRING, q->data, q->len));
    kh_secbuf_free(&q);
    return KH_OK;
}

kh_err kh_transparent_key_material(const kh_pkey *k, bool is_private, uint32_t format, kh_ttlv **km)
{
    bool private_form = false;
    if (!kh_transparent_format(format))
        return KH_ERR_KEY_FORMAT;
    char s = shape(format, &private_form);
    kh_pkey_type t = kh_pkey_type_of(k);
    if (private_form != is_private || (s == 'R') != (t == KH_PKEY_RSA) ||
        (s == 'E' && !curve_of(t)))
        return KH_ERR_KEY_FORMAT;
    kh_ttlv *m = kh_ttlv_new_struct(KH_TAG_KEY_MATERIAL);
    kh_err err = s == 'R' ? rsa_material(m, k, private_form) : ec_material(m, k, private_form);
    if (err != KH_OK) {
        kh_ttlv_free(&m);
        return err;
    }
    *km = m;
    return KH_OK;
}

/* ---- reading ------------------------------------------------------------ */

/* No number is longer than an 8192-bit RSA modulus: checking a private
 * key tests its primes, and a client must not be able to hold a worker
 * thread for long with an enormous one. */
#define MAX_NUMBER (8192 / 8)
#define MAX_POINT 133 /* an uncompressed P-521 point */

static const struct {
    uint32_t tag;
    kh_pkey_part part;
    bool private_only;
} rsa_tags[] = {{KH_TAG_MODULUS, KH_PKEY_RSA_N, false},
                {KH_TAG_PUBLIC_EXPONENT, KH_PKEY_RSA_E, false},
                {KH_TAG_PRIVATE_EXPONENT, KH_PKEY_RSA_D, true},
                {KH_TAG_P, KH_PKEY_RSA_P, true},
                {KH_TAG_Q, KH_PKEY_RSA_Q, true},
                {KH_TAG_PRIME_EXPONENT_P, KH_PKEY_RSA_DP, true},
                {KH_TAG_PRIME_EXPONENT_Q, KH_PKEY_RSA_DQ, true},
                {KH_TAG_CRT_COEFFICIENT, KH_PKEY_RSA_QINV, true}};

/* A positive BigInteger's magnitude, leading zero octets skipped. */
static kh_err magnitude(const kh_ttlv *km, uint32_t tag, kh_pkey_parts *p, kh_pkey_part part)
{
    const kh_ttlv *t = kh_ttlv_find(km, tag);
    if (!t)
        return KH_ERR_MISSING_DATA;
    if (t->type != KH_TTLV_BIG_INTEGER || t->len == 0 || (t->data[0] & 0x80))
        return KH_ERR_INVALID_FIELD;
    size_t skip = 0;
    while (skip < t->len && t->data[skip] == 0)
        skip++;
    if (skip == t->len || t->len - skip > MAX_NUMBER)
        return KH_ERR_INVALID_FIELD; /* zero, or too long for any key we use */
    p->v[part] = t->data + skip;
    p->len[part] = t->len - skip;
    return KH_OK;
}

static kh_pkey_type curve_type(uint32_t curve)
{
    switch (curve) {
    case KH_RECOMMENDED_CURVE_P_256:
        return KH_PKEY_EC_P256;
    case KH_RECOMMENDED_CURVE_P_384:
        return KH_PKEY_EC_P384;
    case KH_RECOMMENDED_CURVE_P_521:
        return KH_PKEY_EC_P521;
    default:
        return 0;
    }
}

static kh_err ec_parts(const kh_ttlv *km, bool is_private, kh_pkey_parts *p)
{
    uint32_t curve;
    kh_err err = kh_ttlv_get_enum(km, KH_TAG_RECOMMENDED_CURVE, &curve);
    if (err != KH_OK)
        return err;
    if (!(p->type = curve_type(curve)))
        return KH_ERR_UNSUPPORTED;
    if (is_private)
        return magnitude(km, KH_TAG_D, p, KH_PKEY_EC_D);
    const kh_ttlv *q = kh_ttlv_find(km, KH_TAG_Q_STRING);
    if (!q)
        return KH_ERR_MISSING_DATA;
    if (q->type != KH_TTLV_BYTE_STRING || q->len == 0 || q->len > MAX_POINT)
        return KH_ERR_INVALID_FIELD;
    p->v[KH_PKEY_EC_Q] = q->data;
    p->len[KH_PKEY_EC_Q] = q->len;
    return KH_OK;
}

kh_err kh_transparent_key_read(const kh_ttlv *km, uint32_t format, bool is_private, kh_pkey **out)
{
    bool private_form = false;
    if (!kh_transparent_format(format))
        return KH_ERR_KEY_FORMAT;
    char s = shape(format, &private_form);
    if (private_form != is_private)
        return KH_ERR_KEY_FORMAT;
    if (!km || km->type != KH_TTLV_STRUCTURE)
        return KH_ERR_INVALID_FIELD;
    kh_pkey_parts p;
    memset(&p, 0, sizeof(p));
    kh_err err = KH_OK;
    if (s == 'R') {
        p.type = KH_PKEY_RSA;
        for (size_t i = 0; err == KH_OK && i < sizeof(rsa_tags) / sizeof(rsa_tags[0]); i++)
            if (is_private || !rsa_tags[i].private_only)
                err = magnitude(km, rsa_tags[i].tag, &p, rsa_tags[i].part);
    } else {
        err = ec_parts(km, is_private, &p);
    }
    if (err != KH_OK)
        return err;
    err = kh_pkey_from_parts(out, is_private, &p);
    if (err == KH_ERR_INVALID_ARG)
        return KH_ERR_MISSING_DATA;
    return err == KH_OK ? KH_OK : KH_ERR_INVALID_FIELD;
}

static bool algorithm_fits(int32_t algorithm, kh_pkey_type t)
{
    switch ((uint32_t)algorithm) {
    case 0:
        return true;
    case KH_CRYPTOGRAPHIC_ALGORITHM_RSA:
        return t == KH_PKEY_RSA;
    case KH_CRYPTOGRAPHIC_ALGORITHM_EC:
    case KH_CRYPTOGRAPHIC_ALGORITHM_ECDSA:
    case KH_CRYPTOGRAPHIC_ALGORITHM_ECDH:
    case KH_CRYPTOGRAPHIC_ALGORITHM_ECMQV:
        return t != KH_PKEY_RSA;
    default:
        return false;
    }
}

kh_err kh_transparent_check(const kh_ttlv *obj, bool is_private, int32_t algorithm, int32_t *bits)
{
    const kh_ttlv *kb = kh_ttlv_find(obj, KH_TAG_KEY_BLOCK);
    const kh_ttlv *fmt = kb ? kh_ttlv_find(kb, KH_TAG_KEY_FORMAT_TYPE) : NULL;
    const kh_ttlv *kv = kb ? kh_ttlv_find(kb, KH_TAG_KEY_VALUE) : NULL;
    if (!fmt || !kh_transparent_format((uint32_t)fmt->num))
        return KH_OK;
    if (!kv || kv->type != KH_TTLV_STRUCTURE || kh_ttlv_find(kb, KH_TAG_KEY_WRAPPING_DATA))
        return KH_OK; /* wrapped: cannot be looked into */
    kh_pkey *k = NULL;
    kh_err err = kh_transparent_key_read(kh_ttlv_find(kv, KH_TAG_KEY_MATERIAL), (uint32_t)fmt->num,
                                         is_private, &k);
    if (err == KH_ERR_KEY_FORMAT)
        err = KH_ERR_INVALID_FIELD; /* a public form in a PrivateKey, or the reverse */
    if (err != KH_OK)
        return err;
    int32_t n = (int32_t)kh_pkey_bits(k);
    if (!algorithm_fits(algorithm, kh_pkey_type_of(k)) || (*bits && *bits != n))
        err = KH_ERR_INVALID_FIELD;
    else
        *bits = n;
    kh_pkey_free(&k);
    return err;
}
