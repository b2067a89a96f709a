/*
 * op_keypair.c - CreateKeyPair: RSA, EC (NIST P curves) and Ed25519.
 *
 * The private key is stored as PKCS#1 (RSA) or PKCS#8 (EC, Ed25519), the
 * public key as PKCS#1 (RSA) or X.509 SubjectPublicKeyInfo: the formats
 * PyKMIP and most KMIP clients read back without conversion. Each object
 * links to the other. Without a Cryptographic Usage Mask the private key
 * may Sign (and Decrypt, for RSA) and the public key Verify (and Encrypt).
 */
#include "ops/crypto_ops.h"
#include "ops/object.h"

#include "common/mem.h"
#include "crypto/pkey.h"
#include "proto/kmip_consts.h"

#include <string.h>

/* The curve named by a CryptographicDomainParameters attribute, 0 if none. */
static uint32_t recommended_curve(const kh_object *o)
{
    const kh_ttlv *dp = kh_ttlv_find(o->attrs, KH_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS);
    const kh_ttlv *rc = dp ? kh_ttlv_find(dp, KH_TAG_RECOMMENDED_CURVE) : NULL;
    return (rc && rc->type == KH_TTLV_ENUMERATION) ? (uint32_t)rc->num : 0;
}

static kh_err ec_type(int32_t bits, uint32_t curve, kh_pkey_type *t, int32_t *out_bits)
{
    if (curve == KH_RECOMMENDED_CURVE_P_256 || (!curve && bits == 256))
        *t = KH_PKEY_EC_P256, *out_bits = 256;
    else if (curve == KH_RECOMMENDED_CURVE_P_384 || (!curve && bits == 384))
        *t = KH_PKEY_EC_P384, *out_bits = 384;
    else if (curve == KH_RECOMMENDED_CURVE_P_521 || (!curve && bits == 521))
        *t = KH_PKEY_EC_P521, *out_bits = 521;
    else if (curve)
        return KH_ERR_UNSUPPORTED;
    else
        return bits ? KH_ERR_INVALID_FIELD : KH_ERR_MISSING_DATA;
    return (bits && bits != *out_bits) ? KH_ERR_INVALID_FIELD : KH_OK;
}

/* What to generate, from the private object's algorithm and length. */
static kh_err key_type(kh_object *o, kh_pkey_type *t, int32_t *bits)
{
    int32_t len = o->row->length;
    switch ((uint32_t)o->row->algorithm) {
    case 0:
        return KH_ERR_MISSING_DATA;
    case KH_CRYPTOGRAPHIC_ALGORITHM_RSA:
        if (!len)
            return KH_ERR_MISSING_DATA;
        if (len != 2048 && len != 3072 && len != 4096)
            return KH_ERR_INVALID_FIELD;
        *t = KH_PKEY_RSA;
        *bits = len;
        return KH_OK;
    case KH_CRYPTOGRAPHIC_ALGORITHM_EC:
    case KH_CRYPTOGRAPHIC_ALGORITHM_ECDSA:
        return ec_type(len, recommended_curve(o), t, bits);
    case KH_CRYPTOGRAPHIC_ALGORITHM_ED25519:
        if (len && len != 255 && len != 256)
            return KH_ERR_INVALID_FIELD;
        *t = KH_PKEY_ED25519;
        *bits = 256;
        return KH_OK;
    default:
        return KH_ERR_UNSUPPORTED;
    }
}

static void default_mask(kh_object *o, uint32_t mask)
{
    if (!kh_ttlv_find(o->attrs, KH_TAG_CRYPTOGRAPHIC_USAGE_MASK))
        kh_object_set_attr_take(o, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, (int32_t)mask));
}

static void link_to(kh_object *o, uint32_t link_type, const char *uid)
{
    kh_ttlv *l = kh_ttlv_new_struct(KH_TAG_LINK);
    kh_ttlv_add_take(l, kh_ttlv_new_enum(KH_TAG_LINK_TYPE, link_type));
    kh_ttlv_add_take(l, kh_ttlv_new_text(KH_TAG_LINKED_OBJECT_IDENTIFIER, uid));
    kh_ttlv_add_take(o->attrs, l);
}

/* PrivateKey{KeyBlock{...}} or PublicKey{KeyBlock{...}}. */
static kh_ttlv *key_object(uint32_t tag, uint32_t fmt, const kh_obj_row *row, const uint8_t *der,
                           size_t len)
{
    kh_ttlv *obj = kh_ttlv_new_struct(tag);
    kh_ttlv *kb = kh_ttlv_add_take(obj, kh_ttlv_new_struct(KH_TAG_KEY_BLOCK));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_KEY_FORMAT_TYPE, fmt));
    kh_ttlv *kv = kh_ttlv_add_take(kb, kh_ttlv_new_struct(KH_TAG_KEY_VALUE));
    kh_ttlv_add_take(kv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, der, len));
    kh_ttlv_add_take(kb,
                     kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, (uint32_t)row->algorithm));
    kh_ttlv_add_take(kb, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, row->length));
    return obj;
}

/* Generate the pair and build both managed objects. */
static kh_err materials(kh_pkey_type t, int32_t bits, const kh_object *priv, const kh_object *pub,
                        kh_ttlv **priv_obj, kh_ttlv **pub_obj)
{
    kh_pkey *k = NULL;
    kh_secbuf *sk = NULL;
    uint8_t *pk = NULL;
    size_t pk_len = 0;
    bool rsa = t == KH_PKEY_RSA;
    kh_err err = kh_pkey_generate(&k, t, (unsigned)bits);
    if (err == KH_OK)
        err = kh_pkey_export_private(&sk, k, rsa ? KH_PKEY_PKCS1 : KH_PKEY_PKCS8);
    if (err == KH_OK)
        err = kh_pkey_export_public(&pk, &pk_len, k, rsa ? KH_PKEY_PKCS1 : KH_PKEY_SPKI);
    if (err == KH_OK) {
        *priv_obj = key_object(KH_TAG_PRIVATE_KEY,
                               rsa ? KH_KEY_FORMAT_TYPE_PKCS_1 : KH_KEY_FORMAT_TYPE_PKCS_8,
                               priv->row, sk->data, sk->len);
        *pub_obj = key_object(KH_TAG_PUBLIC_KEY,
                              rsa ? KH_KEY_FORMAT_TYPE_PKCS_1 : KH_KEY_FORMAT_TYPE_X_509, pub->row,
                              pk, pk_len);
    }
    free(pk);
    kh_secbuf_free(&sk);
    kh_pkey_free(&k);
    return err;
}

static kh_err apply(kh_ctx *ctx, kh_object *o, const kh_ttlv *common, const kh_ttlv *own)
{
    kh_err err = kh_object_apply_client_attrs(ctx, o, common);
    return err == KH_OK ? kh_object_apply_client_attrs(ctx, o, own) : err;
}

kh_err kh_op_create_key_pair(kh_ctx *ctx, const kh_ttlv *common, const kh_ttlv *priv,
                             const kh_ttlv *pub, char **priv_uid, char **pub_uid)
{
    kh_object *po = kh_object_new(ctx, KH_OBJECT_TYPE_PRIVATE_KEY);
    kh_object *uo = kh_object_new(ctx, KH_OBJECT_TYPE_PUBLIC_KEY);
    kh_ttlv *pm = NULL, *um = NULL;
    kh_pkey_type t = KH_PKEY_RSA;
    int32_t bits = 0;
    kh_err err = apply(ctx, po, common, priv);
    if (err == KH_OK)
        err = apply(ctx, uo, common, pub);
    if (err == KH_OK && (po->row->algorithm != uo->row->algorithm ||
                         (uo->row->length && uo->row->length != po->row->length)))
        err = KH_ERR_INVALID_FIELD; /* two halves of one key cannot disagree */
    if (err == KH_OK)
        err = key_type(po, &t, &bits);
    if (err != KH_OK)
        goto out;
    po->row->length = uo->row->length = bits;
    bool rsa = t == KH_PKEY_RSA;
    default_mask(po, KH_CRYPTOGRAPHIC_USAGE_MASK_SIGN |
                         (rsa ? KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT : 0));
    default_mask(uo, KH_CRYPTOGRAPHIC_USAGE_MASK_VERIFY |
                         (rsa ? KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT : 0));
    link_to(po, KH_LINK_TYPE_PUBLIC_KEY_LINK, uo->row->uid);
    link_to(uo, KH_LINK_TYPE_PRIVATE_KEY_LINK, po->row->uid);
    if ((err = materials(t, bits, po, uo, &pm, &um)) != KH_OK)
        goto out;
    /* Both halves in one transaction: never one without the other. */
    kh_object *objs[] = {uo, po};
    const kh_ttlv *mats[] = {um, pm};
    if ((err = kh_object_insert_many(ctx, objs, mats, 2)) != KH_OK)
        goto out;
    *priv_uid = kh_xstrdup(po->row->uid);
    *pub_uid = kh_xstrdup(uo->row->uid);
out:
    kh_ttlv_free(&pm);
    kh_ttlv_free(&um);
    kh_object_free(&po);
    kh_object_free(&uo);
    return err;
}
