/*
 * crypto_key.c - a key made ready for one cryptographic operation, and
 * CryptographicParameters read into plain values.
 *
 * The order of the checks is the order of the questions a client would
 * ask: may I see it (NotFound), does it still have material
 * (KeyValueNotPresent), is it in a state for this (IllegalOperation), was
 * it made for this (PermissionDenied, as PyKMIP's own server answers).
 */
#include "ops/crypto_key.h"

#include "ops/authz.h"
#include "ops/transparent.h"
#include "proto/kmip_consts.h"

#include <string.h>

static bool state_allows(int32_t state, kh_key_use use)
{
    if (state == (int32_t)KH_STATE_ACTIVE)
        return true;
    return use == KH_USE_PROCESS &&
           (state == (int32_t)KH_STATE_DEACTIVATED || state == (int32_t)KH_STATE_COMPROMISED);
}

static uint32_t usage_mask(const kh_object *o)
{
    const kh_ttlv *m = kh_ttlv_find(o->attrs, KH_TAG_CRYPTOGRAPHIC_USAGE_MASK);
    return (m && m->type == KH_TTLV_INTEGER) ? (uint32_t)m->num : 0;
}

/* KeyFormatType and the KeyMaterial item of a managed object. A key value
 * that is a byte string is wrapped: we cannot use it. */
static kh_err key_material(const kh_ttlv *m, uint32_t *fmt, const kh_ttlv **km)
{
    const kh_ttlv *kb = kh_ttlv_find(m, KH_TAG_KEY_BLOCK);
    if (!kb || kh_ttlv_get_enum(kb, KH_TAG_KEY_FORMAT_TYPE, fmt) != KH_OK)
        return KH_ERR_NO_KEY_VALUE;
    const kh_ttlv *kv = kh_ttlv_find(kb, KH_TAG_KEY_VALUE);
    if (!kv)
        return KH_ERR_NO_KEY_VALUE;
    if (kv->type != KH_TTLV_STRUCTURE || kh_ttlv_find(kb, KH_TAG_KEY_WRAPPING_DATA))
        return KH_ERR_UNSUPPORTED;
    *km = kh_ttlv_find(kv, KH_TAG_KEY_MATERIAL);
    return *km ? KH_OK : KH_ERR_NO_KEY_VALUE;
}

static kh_err symmetric(const kh_ttlv *m, kh_secbuf **out)
{
    uint32_t fmt;
    const kh_ttlv *km;
    kh_err err = key_material(m, &fmt, &km);
    if (err != KH_OK)
        return err;
    if (fmt == KH_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY && km->type == KH_TTLV_STRUCTURE)
        km = kh_ttlv_find(km, KH_TAG_KEY);
    else if (fmt != KH_KEY_FORMAT_TYPE_RAW)
        return KH_ERR_KEY_FORMAT;
    if (!km || km->type != KH_TTLV_BYTE_STRING || km->len == 0)
        return KH_ERR_NO_KEY_VALUE;
    *out = kh_secbuf_dup(km->data, km->len);
    return KH_OK;
}

static kh_err pkey_format(uint32_t fmt, bool is_private, kh_pkey_format *out)
{
    switch (fmt) {
    case KH_KEY_FORMAT_TYPE_PKCS_1:
        *out = KH_PKEY_PKCS1;
        return KH_OK;
    case KH_KEY_FORMAT_TYPE_PKCS_8:
    case KH_KEY_FORMAT_TYPE_EC_PRIVATE_KEY: /* SEC1: read by the PKCS#8 path */
        *out = KH_PKEY_PKCS8;
        return is_private ? KH_OK : KH_ERR_KEY_FORMAT;
    case KH_KEY_FORMAT_TYPE_X_509:
        *out = KH_PKEY_SPKI;
        return is_private ? KH_ERR_KEY_FORMAT : KH_OK;
    case KH_KEY_FORMAT_TYPE_RAW:
        *out = KH_PKEY_RAW;
        return KH_OK;
    default:
        return KH_ERR_KEY_FORMAT;
    }
}

static kh_err asymmetric(const kh_ttlv *m, bool is_private, kh_pkey **out)
{
    uint32_t fmt;
    const kh_ttlv *km;
    kh_pkey_format pf;
    kh_err err = key_material(m, &fmt, &km);
    if (err == KH_OK && kh_transparent_format(fmt))
        return kh_transparent_key_read(km, fmt, is_private, out);
    if (err == KH_OK)
        err = pkey_format(fmt, is_private, &pf);
    if (err != KH_OK)
        return err;
    if (km->type != KH_TTLV_BYTE_STRING)
        return KH_ERR_KEY_FORMAT;
    return kh_pkey_import(out, is_private, pf, km->data, km->len);
}

kh_err kh_public_key_of(const kh_ttlv *m, kh_pkey **out)
{
    return asymmetric(m, false, out);
}

static kh_err load_material(kh_ctx *ctx, kh_use_key *k)
{
    kh_ttlv *m = NULL;
    kh_err err = kh_object_material(ctx, k->obj, &m);
    if (err != KH_OK)
        return err;
    switch (k->type) {
    case KH_OBJECT_TYPE_SYMMETRIC_KEY:
        err = symmetric(m, &k->secret);
        break;
    case KH_OBJECT_TYPE_PRIVATE_KEY:
    case KH_OBJECT_TYPE_PUBLIC_KEY:
        err = asymmetric(m, k->type == KH_OBJECT_TYPE_PRIVATE_KEY, &k->pkey);
        break;
    default:
        err = KH_ERR_INVALID_FIELD; /* not a key: nothing to compute with */
    }
    kh_ttlv_free(&m); /* wipes the copy of the material */
    return err;
}

/* The checks after access, in the order of crypto_key.c's header. */
static kh_err ready(kh_ctx *ctx, kh_key_use use, uint32_t usage_bit, kh_use_key *out)
{
    const kh_obj_row *r = out->obj->row;
    out->type = (uint32_t)r->object_type;
    out->alg = (uint32_t)r->algorithm;
    kh_err err;
    if (kh_state_is_destroyed(r->state))
        err = KH_ERR_NO_KEY_VALUE;
    else if (!state_allows(r->state, use))
        err = KH_ERR_WRONG_STATE;
    else if (!(usage_mask(out->obj) & usage_bit))
        err = KH_ERR_PERMISSION;
    else
        err = load_material(ctx, out);
    if (err != KH_OK)
        kh_use_key_clear(out);
    return err;
}

kh_err kh_use_key_load(kh_ctx *ctx, const char *uid, kh_key_use use, uint32_t usage_bit,
                       kh_use_key *out)
{
    memset(out, 0, sizeof(*out));
    kh_err err = kh_object_load(ctx, uid, &out->obj);
    if (err != KH_OK)
        return err;
    return ready(ctx, use, usage_bit, out);
}

kh_err kh_use_key_from(kh_ctx *ctx, const kh_object *o, kh_key_use use, uint32_t usage_bit,
                       kh_use_key *out)
{
    memset(out, 0, sizeof(*out));
    kh_err err = kh_authz_check(ctx, o->row, ctx->perm);
    if (err != KH_OK)
        return err;
    out->obj = (kh_object *)o; /* never modified: the borrowed flag keeps it the caller's */
    out->borrowed = true;
    return ready(ctx, use, usage_bit, out);
}

void kh_use_key_clear(kh_use_key *k)
{
    if (k->borrowed)
        k->obj = NULL;
    else
        kh_object_free(&k->obj);
    k->borrowed = false;
    kh_secbuf_free(&k->secret);
    kh_pkey_free(&k->pkey);
}

/* ---- CryptographicParameters ------------------------------------------ */

static kh_err en(const kh_ttlv *f, uint32_t *out)
{
    if (f->type != KH_TTLV_ENUMERATION)
        return KH_ERR_INVALID_FIELD;
    *out = (uint32_t)f->num;
    return KH_OK;
}

static kh_err in(const kh_ttlv *f, int32_t *out)
{
    if (f->type != KH_TTLV_INTEGER || f->num < 0)
        return KH_ERR_INVALID_FIELD;
    *out = (int32_t)f->num;
    return KH_OK;
}

/* Fields that describe an IV layout or a role: read, checked, not used. */
static kh_err ignored(const kh_ttlv *f)
{
    uint32_t e;
    int32_t i;
    return f->type == KH_TTLV_ENUMERATION ? en(f, &e) : in(f, &i);
}

static kh_err unsupported_unless(const kh_ttlv *f, int64_t neutral)
{
    if (f->type != KH_TTLV_INTEGER && f->type != KH_TTLV_ENUMERATION)
        return KH_ERR_INVALID_FIELD;
    return f->num == neutral ? KH_OK : KH_ERR_UNSUPPORTED;
}

static kh_err field(const kh_ttlv *f, kh_cparams *p)
{
    switch (f->tag) {
    case KH_TAG_BLOCK_CIPHER_MODE:
        return en(f, &p->mode);
    case KH_TAG_PADDING_METHOD:
        return en(f, &p->padding);
    case KH_TAG_HASHING_ALGORITHM:
        return en(f, &p->hashing);
    case KH_TAG_DIGITAL_SIGNATURE_ALGORITHM:
        return en(f, &p->dsa);
    case KH_TAG_CRYPTOGRAPHIC_ALGORITHM:
        return en(f, &p->alg);
    case KH_TAG_MASK_GENERATOR_HASHING_ALGORITHM:
        return en(f, &p->mgf_hash);
    case KH_TAG_TAG_LENGTH:
        return in(f, &p->tag_len);
    case KH_TAG_IV_LENGTH:
        return in(f, &p->iv_len);
    case KH_TAG_SALT_LENGTH:
        return in(f, &p->salt_len);
    case KH_TAG_RANDOM_IV:
        if (f->type != KH_TTLV_BOOLEAN)
            return KH_ERR_INVALID_FIELD;
        p->random_iv = f->num ? 1 : 0;
        return KH_OK;
    case KH_TAG_KEY_ROLE_TYPE:
    case KH_TAG_FIXED_FIELD_LENGTH:
    case KH_TAG_INVOCATION_FIELD_LENGTH:
    case KH_TAG_COUNTER_LENGTH:
        return ignored(f);
    case KH_TAG_MASK_GENERATOR:
        return unsupported_unless(f, KH_MASK_GENERATOR_MGF1);
    case KH_TAG_TRAILER_FIELD:
        return unsupported_unless(f, 1); /* 0xBC, the only trailer */
    case KH_TAG_INITIAL_COUNTER_VALUE:
        return f->type == KH_TTLV_INTEGER ? KH_ERR_UNSUPPORTED : KH_ERR_INVALID_FIELD;
    case KH_TAG_P_SOURCE:
        if (f->type != KH_TTLV_BYTE_STRING)
            return KH_ERR_INVALID_FIELD;
        return f->len == 0 ? KH_OK : KH_ERR_UNSUPPORTED; /* OAEP labels */
    default:
        return KH_ERR_INVALID_FIELD;
    }
}

static kh_err parse(const kh_ttlv *cp, kh_cparams *p)
{
    if (cp->type != KH_TTLV_STRUCTURE)
        return KH_ERR_INVALID_FIELD;
    for (size_t i = 0; i < cp->nkids; i++) {
        kh_err err = field(cp->kids[i], p);
        if (err != KH_OK)
            return err;
    }
    return KH_OK;
}

kh_err kh_cparams_resolve(const kh_ttlv *req, const kh_object *key, kh_cparams *out)
{
    kh_cparams p = {0};
    p.tag_len = p.iv_len = p.salt_len = -1;
    p.random_iv = -1;
    const kh_ttlv *stored = key ? kh_ttlv_find(key->attrs, KH_TAG_CRYPTOGRAPHIC_PARAMETERS) : NULL;
    kh_err err = KH_OK;
    if (stored)
        err = parse(stored, &p);
    if (err == KH_OK && req)
        err = parse(req, &p);
    if (err == KH_OK)
        *out = p;
    return err;
}

kh_hash kh_hash_of_kmip(uint32_t hashing)
{
    switch (hashing) {
    case KH_HASHING_ALGORITHM_SHA_1:
        return KH_HASH_SHA1;
    case KH_HASHING_ALGORITHM_SHA_224:
        return KH_HASH_SHA224;
    case KH_HASHING_ALGORITHM_SHA_256:
        return KH_HASH_SHA256;
    case KH_HASHING_ALGORITHM_SHA_384:
        return KH_HASH_SHA384;
    case KH_HASHING_ALGORITHM_SHA_512:
        return KH_HASH_SHA512;
    case KH_HASHING_ALGORITHM_SHA3_224:
        return KH_HASH_SHA3_224;
    case KH_HASHING_ALGORITHM_SHA3_256:
        return KH_HASH_SHA3_256;
    case KH_HASHING_ALGORITHM_SHA3_384:
        return KH_HASH_SHA3_384;
    case KH_HASHING_ALGORITHM_SHA3_512:
        return KH_HASH_SHA3_512;
    default:
        return KH_HASH_NONE;
    }
}
