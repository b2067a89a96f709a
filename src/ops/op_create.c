/*
 * op_create.c - Create, Register and Get: objects coming in and going out.
 */
#include "ops/attrs.h"
#include "ops/certlink.h"
#include "ops/keyops.h"
#include "ops/object.h"
#include "ops/ops.h"
#include "ops/transparent.h"

#include "common/mem.h"
#include "crypto/rand.h"
#include "crypto/secbuf.h"
#include "proto/kmip_consts.h"

#include <string.h>

static bool is_hmac(uint32_t alg)
{
    switch (alg) {
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA1:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA224:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA256:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA384:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA512:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_224:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_256:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_384:
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_512:
        return true;
    default:
        return false;
    }
}

static kh_err check_symmetric(uint32_t alg, int32_t bits)
{
    if (alg == KH_CRYPTOGRAPHIC_ALGORITHM_AES)
        return (bits == 128 || bits == 192 || bits == 256) ? KH_OK : KH_ERR_INVALID_FIELD;
    if (is_hmac(alg))
        return (bits >= 112 && bits <= 8192 && bits % 8 == 0) ? KH_OK : KH_ERR_INVALID_FIELD;
    return KH_ERR_UNSUPPORTED;
}

/* Copy client attributes onto o, refusing what a client may not set. The
 * synthesized ones (type, algorithm, length) go to the row. */
kh_err kh_object_apply_client_attrs(kh_ctx *ctx, kh_object *o, const kh_ttlv *attrs)
{
    for (size_t i = 0; attrs && i < attrs->nkids; i++) {
        const kh_ttlv *a = attrs->kids[i];
        const kh_attr_def *def = NULL;
        kh_err err = kh_attr_check(a, &def);
        if (err != KH_OK)
            return err;
        if (def && (def->flags & KH_ATTR_SERVER) && !(def->flags & KH_ATTR_AT_CREATE))
            return KH_ERR_ATTR_READ_ONLY;
        if (a->tag == KH_TAG_OBJECT_TYPE) {
            if ((int32_t)a->num != o->row->object_type)
                return KH_ERR_INVALID_FIELD;
        } else if (a->tag == KH_TAG_CRYPTOGRAPHIC_ALGORITHM) {
            o->row->algorithm = (int32_t)a->num;
        } else if (a->tag == KH_TAG_CRYPTOGRAPHIC_LENGTH) {
            o->row->length = (int32_t)a->num;
        } else if (def && !(def->flags & KH_ATTR_MULTI)) {
            kh_object_set_attr_take(o, kh_ttlv_dup(a));
        } else {
            kh_ttlv_add_take(o->attrs, kh_ttlv_dup(a));
        }
    }
    /* An Activation Date already reached makes the object Active at once. */
    const kh_ttlv *act = kh_ttlv_find(o->attrs, KH_TAG_ACTIVATION_DATE);
    if (act && act->num <= ctx->now)
        o->row->state = (int32_t)KH_STATE_ACTIVE;
    return KH_OK;
}

static kh_ttlv *symmetric_key(uint32_t alg, int32_t bits, const kh_secbuf *key)
{
    kh_ttlv *sk = kh_ttlv_new_struct(KH_TAG_SYMMETRIC_KEY);
    kh_ttlv *kb = kh_ttlv_add_take(sk, kh_ttlv_new_struct(KH_TAG_KEY_BLOCK));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_KEY_FORMAT_TYPE, KH_KEY_FORMAT_TYPE_RAW));
    kh_ttlv *kv = kh_ttlv_add_take(kb, kh_ttlv_new_struct(KH_TAG_KEY_VALUE));
    kh_ttlv_add_take(kv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, key->data, key->len));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, alg));
    kh_ttlv_add_take(kb, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, bits));
    return sk;
}

/* A key created without a Cryptographic Usage Mask gets the uses its
 * algorithm exists for; otherwise it could never be used at all. */
static void default_usage_mask(kh_object *o)
{
    if (kh_ttlv_find(o->attrs, KH_TAG_CRYPTOGRAPHIC_USAGE_MASK))
        return;
    uint32_t mask =
        is_hmac((uint32_t)o->row->algorithm)
            ? KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE | KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_VERIFY
            : KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT | KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT;
    kh_ttlv_add_take(o->attrs, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, (int32_t)mask));
}

kh_err kh_op_create(kh_ctx *ctx, uint32_t object_type, const kh_ttlv *attrs, char **uid)
{
    kh_err err;
    kh_secbuf *key = NULL;
    kh_ttlv *material = NULL;
    if (object_type != KH_OBJECT_TYPE_SYMMETRIC_KEY)
        return KH_ERR_UNSUPPORTED;
    kh_object *o = kh_object_new(ctx, object_type);
    if ((err = kh_object_apply_client_attrs(ctx, o, attrs)) != KH_OK)
        goto out;
    if (!o->row->algorithm || !o->row->length) {
        err = KH_ERR_MISSING_DATA;
        goto out;
    }
    if ((err = check_symmetric((uint32_t)o->row->algorithm, o->row->length)) != KH_OK)
        goto out;
    default_usage_mask(o);
    key = kh_secbuf_new((size_t)o->row->length / 8);
    if ((err = kh_random_secret(key->data, key->len)) != KH_OK)
        goto out;
    material = symmetric_key((uint32_t)o->row->algorithm, o->row->length, key);
    if ((err = kh_object_insert(ctx, o, material)) != KH_OK)
        goto out;
    *uid = kh_xstrdup(o->row->uid);
out:
    kh_ttlv_free(&material);
    kh_secbuf_free(&key);
    kh_object_free(&o);
    return err;
}

static uint32_t object_tag(uint32_t object_type)
{
    switch (object_type) {
    case KH_OBJECT_TYPE_SYMMETRIC_KEY:
        return KH_TAG_SYMMETRIC_KEY;
    case KH_OBJECT_TYPE_PUBLIC_KEY:
        return KH_TAG_PUBLIC_KEY;
    case KH_OBJECT_TYPE_PRIVATE_KEY:
        return KH_TAG_PRIVATE_KEY;
    case KH_OBJECT_TYPE_SECRET_DATA:
        return KH_TAG_SECRET_DATA;
    case KH_OBJECT_TYPE_CERTIFICATE:
        return KH_TAG_CERTIFICATE;
    case KH_OBJECT_TYPE_OPAQUE_DATA:
        return KH_TAG_OPAQUE_OBJECT;
    case KH_OBJECT_TYPE_SPLIT_KEY:
        return KH_TAG_SPLIT_KEY;
    default:
        return 0;
    }
}

/* Enumeration values from 0x80000000 on are vendor extensions. */
static bool is_extension(uint32_t e)
{
    return e >= 0x80000000U;
}

/* A BigInteger (two's complement, big-endian) greater than zero. */
static bool positive(const uint8_t *p, size_t len)
{
    if (len == 0 || (p[0] & 0x80))
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return true;
    return false;
}

/* A split key part's description must be coherent: 1 <= threshold <= parts,
 * 1 <= part identifier <= parts, a known method, and a prime field size
 * exactly when the method is polynomial sharing over a prime field (the
 * only method that has one). Nothing joins parts here: keyhold keeps them. */
static kh_err check_split_key(const kh_ttlv *obj)
{
    int32_t parts, id, threshold;
    uint32_t method;
    kh_err err;
    if ((err = kh_ttlv_get_int(obj, KH_TAG_SPLIT_KEY_PARTS, &parts)) != KH_OK ||
        (err = kh_ttlv_get_int(obj, KH_TAG_KEY_PART_IDENTIFIER, &id)) != KH_OK ||
        (err = kh_ttlv_get_int(obj, KH_TAG_SPLIT_KEY_THRESHOLD, &threshold)) != KH_OK ||
        (err = kh_ttlv_get_enum(obj, KH_TAG_SPLIT_KEY_METHOD, &method)) != KH_OK)
        return err;
    if (parts < 1 || threshold < 1 || threshold > parts || id < 1 || id > parts)
        return KH_ERR_INVALID_FIELD;
    if ((method < KH_SPLIT_KEY_METHOD_XOR ||
         method > KH_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_GF_2_8) &&
        !is_extension(method))
        return KH_ERR_INVALID_FIELD;
    const kh_ttlv *pfs = kh_ttlv_find(obj, KH_TAG_PRIME_FIELD_SIZE);
    if (method == KH_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_PRIME_FIELD) {
        if (!pfs)
            return KH_ERR_MISSING_DATA;
        if (pfs->type != KH_TTLV_BIG_INTEGER || !positive(pfs->data, pfs->len))
            return KH_ERR_INVALID_FIELD;
    } else if (pfs) {
        return KH_ERR_INVALID_FIELD;
    }
    return KH_OK;
}

/* Check the shape of a managed object and pick algorithm and length from
 * its key block when it has one. */
static kh_err check_object(uint32_t object_type, const kh_ttlv *obj, int32_t *alg, int32_t *bits)
{
    if (!obj || obj->type != KH_TTLV_STRUCTURE || obj->tag != object_tag(object_type))
        return KH_ERR_INVALID_FIELD;
    uint32_t e;
    kh_err err;
    switch (object_type) {
    case KH_OBJECT_TYPE_CERTIFICATE: {
        const kh_ttlv *v = kh_ttlv_find(obj, KH_TAG_CERTIFICATE_VALUE);
        if ((err = kh_ttlv_get_enum(obj, KH_TAG_CERTIFICATE_TYPE, &e)) != KH_OK)
            return err;
        return (v && v->type == KH_TTLV_BYTE_STRING) ? KH_OK : KH_ERR_MISSING_DATA;
    }
    case KH_OBJECT_TYPE_OPAQUE_DATA: {
        const kh_ttlv *v = kh_ttlv_find(obj, KH_TAG_OPAQUE_DATA_VALUE);
        if ((err = kh_ttlv_get_enum(obj, KH_TAG_OPAQUE_DATA_TYPE, &e)) != KH_OK)
            return err;
        return (v && v->type == KH_TTLV_BYTE_STRING) ? KH_OK : KH_ERR_MISSING_DATA;
    }
    case KH_OBJECT_TYPE_SECRET_DATA:
        if ((err = kh_ttlv_get_enum(obj, KH_TAG_SECRET_DATA_TYPE, &e)) != KH_OK)
            return err;
        if (e != KH_SECRET_DATA_TYPE_PASSWORD && e != KH_SECRET_DATA_TYPE_SEED && !is_extension(e))
            return KH_ERR_INVALID_FIELD;
        break;
    case KH_OBJECT_TYPE_SPLIT_KEY:
        if ((err = check_split_key(obj)) != KH_OK)
            return err;
        break;
    default:
        break;
    }
    const kh_ttlv *kb = kh_ttlv_find(obj, KH_TAG_KEY_BLOCK);
    if (!kb || kb->type != KH_TTLV_STRUCTURE)
        return KH_ERR_MISSING_DATA;
    if ((err = kh_ttlv_get_enum(kb, KH_TAG_KEY_FORMAT_TYPE, &e)) != KH_OK)
        return err;
    const kh_ttlv *kv = kh_ttlv_find(kb, KH_TAG_KEY_VALUE);
    if (!kv || (kv->type != KH_TTLV_STRUCTURE && kv->type != KH_TTLV_BYTE_STRING))
        return KH_ERR_MISSING_DATA;
    const kh_ttlv *a = kh_ttlv_find(kb, KH_TAG_CRYPTOGRAPHIC_ALGORITHM);
    const kh_ttlv *l = kh_ttlv_find(kb, KH_TAG_CRYPTOGRAPHIC_LENGTH);
    if (a && a->type == KH_TTLV_ENUMERATION)
        *alg = (int32_t)a->num;
    if (l && l->type == KH_TTLV_INTEGER)
        *bits = (int32_t)l->num;
    return KH_OK;
}

/* The bytes of a symmetric key must agree with its declared length (a
 * client reading it back checks exactly that) and with its algorithm.
 * Wrapped key values (a byte string in place of KeyValue) cannot be checked. */
static kh_err check_symmetric_material(const kh_ttlv *obj, kh_obj_row *row)
{
    const kh_ttlv *kb = kh_ttlv_find(obj, KH_TAG_KEY_BLOCK);
    const kh_ttlv *kv = kh_ttlv_find(kb, KH_TAG_KEY_VALUE);
    const kh_ttlv *fmt = kh_ttlv_find(kb, KH_TAG_KEY_FORMAT_TYPE);
    if (kv->type != KH_TTLV_STRUCTURE)
        return KH_OK;
    const kh_ttlv *km = kh_ttlv_find(kv, KH_TAG_KEY_MATERIAL);
    if (fmt->num == KH_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY && km)
        km = kh_ttlv_find(km, KH_TAG_KEY);
    else if (fmt->num != KH_KEY_FORMAT_TYPE_RAW)
        return KH_OK;
    if (!km || km->type != KH_TTLV_BYTE_STRING || km->len == 0 || km->len > 1024)
        return KH_ERR_INVALID_FIELD;
    int32_t bits = (int32_t)km->len * 8;
    if (row->length == 0)
        row->length = bits;
    if (row->length != bits)
        return KH_ERR_INVALID_FIELD;
    if (row->algorithm == (int32_t)KH_CRYPTOGRAPHIC_ALGORITHM_AES)
        return check_symmetric(KH_CRYPTOGRAPHIC_ALGORITHM_AES, bits);
    return KH_OK;
}

kh_err kh_op_register(kh_ctx *ctx, uint32_t object_type, const kh_ttlv *attrs, const kh_ttlv *obj,
                      char **uid)
{
    kh_err err;
    int32_t alg = 0, bits = 0;
    kh_ttlv *plain = NULL;
    kh_certlink cl = {NULL, 0};
    if (!object_tag(object_type))
        return KH_ERR_UNSUPPORTED;
    if ((err = check_object(object_type, obj, &alg, &bits)) != KH_OK)
        return err;
    /* sealed import: wrapped by a key held here, stored unwrapped (op_wrap.c) */
    if ((err = kh_key_unwrap_import(ctx, obj, &plain)) != KH_OK)
        return err;
    if (plain)
        obj = plain;
    kh_object *o = kh_object_new(ctx, object_type);
    o->row->algorithm = alg;
    o->row->length = bits;
    if ((err = kh_object_apply_client_attrs(ctx, o, attrs)) != KH_OK)
        goto out;
    if (object_type == KH_OBJECT_TYPE_SYMMETRIC_KEY &&
        (err = check_symmetric_material(obj, o->row)) != KH_OK)
        goto out;
    if ((object_type == KH_OBJECT_TYPE_PUBLIC_KEY || object_type == KH_OBJECT_TYPE_PRIVATE_KEY) &&
        (err = kh_transparent_check(obj, object_type == KH_OBJECT_TYPE_PRIVATE_KEY,
                                    o->row->algorithm, &o->row->length)) != KH_OK)
        goto out;
    /* a certificate and its public key link to each other (certlink.h) */
    if ((err = kh_certlink_prepare(ctx, o, obj, &cl)) != KH_OK)
        goto out;
    if ((err = kh_object_insert(ctx, o, obj)) != KH_OK)
        goto out;
    kh_certlink_finish(ctx, o, &cl);
    *uid = kh_xstrdup(o->row->uid);
out:
    kh_certlink_clear(&cl);
    kh_object_free(&o);
    kh_ttlv_free(&plain);
    return err;
}

kh_err kh_op_get(kh_ctx *ctx, const char *uid, uint32_t *object_type, kh_ttlv **obj)
{
    kh_object *o = NULL;
    kh_err err = kh_object_load(ctx, uid, &o);
    if (err != KH_OK)
        return err;
    kh_ttlv *m = NULL;
    if ((err = kh_object_material(ctx, o, &m)) == KH_OK) {
        *object_type = (uint32_t)o->row->object_type;
        *obj = m;
    }
    kh_object_free(&o);
    return err;
}
