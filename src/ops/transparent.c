/*
 * transparent.c - asymmetric keys as KMIP Transparent key material (the
 * layouts are in transparent.h). Every number passes through a kh_secbuf
 * and ends in the TTLV tree, which wipes it when freed.
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
