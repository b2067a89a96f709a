/*
 * op_derive.c - DeriveKey: a new SymmetricKey or SecretData computed from
 * a managed key (or secret) and the request's DerivationParameters.
 *
 * Methods, with H the HashingAlgorithm of the CryptographicParameters
 * (default SHA-256) and K the base object's bytes:
 *   PBKDF2          PBKDF2-HMAC-H(K, Salt, IterationCount)
 *   HKDF            HKDF-H(K, salt = Salt, info = DerivationData)
 *   HMAC            HMAC-H(K, DerivationData), truncated
 *   HASH            H(K || DerivationData), truncated
 *   ENCRYPT         AES-CBC (or CTR) of DerivationData under K with the
 *                   InitializationVector, no padding, truncated
 *   NIST800_108_C   SP 800-108 counter mode, HMAC-H, PRF(K, i || DerivationData)
 * All of it runs in crypto/ (EVP_KDF, EVP_MAC, EVP ciphers).
 */
#include "ops/audit.h"
#include "ops/crypto_key.h"
#include "ops/keyops.h"
#include "ops/object.h"

#include "common/mem.h"
#include "crypto/cipher.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/mac.h"
#include "proto/kmip_consts.h"

#include <string.h>

static bool is_hmac_alg(uint32_t alg)
{
    return (alg >= KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA1 &&
            alg <= KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA512) ||
           (alg >= KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_224 &&
            alg <= KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_512);
}

/* What the new object must be, from its attributes. */
static kh_err check_target(const kh_object *o)
{
    int32_t bits = o->row->length;
    uint32_t alg = (uint32_t)o->row->algorithm;
    if (bits <= 0)
        return KH_ERR_MISSING_DATA;
    if (bits % 8 || bits > KH_KDF_MAX_OUT * 8)
        return KH_ERR_INVALID_FIELD;
    if (o->row->object_type == (int32_t)KH_OBJECT_TYPE_SECRET_DATA)
        return KH_OK;
    if (!alg)
        return KH_ERR_MISSING_DATA;
    if (alg == KH_CRYPTOGRAPHIC_ALGORITHM_AES)
        return (bits == 128 || bits == 192 || bits == 256) ? KH_OK : KH_ERR_INVALID_FIELD;
    if (is_hmac_alg(alg))
        return bits >= 112 ? KH_OK : KH_ERR_INVALID_FIELD;
    return KH_ERR_UNSUPPORTED;
}

/* The base object's bytes: a SymmetricKey or SecretData the caller owns,
 * Active, with the DeriveKey usage bit. */
static kh_err base_secret(kh_ctx *ctx, const char *uid, kh_object **obj, kh_secbuf **out)
{
    kh_ttlv *m = NULL;
    kh_err err = kh_object_load(ctx, uid, obj);
    if (err != KH_OK)
        return err;
    const kh_obj_row *r = (*obj)->row;
    const kh_ttlv *mask = kh_ttlv_find((*obj)->attrs, KH_TAG_CRYPTOGRAPHIC_USAGE_MASK);
    if (kh_state_is_destroyed(r->state))
        return KH_ERR_NO_KEY_VALUE;
    if (r->state != (int32_t)KH_STATE_ACTIVE)
        return KH_ERR_WRONG_STATE;
    if (r->object_type != (int32_t)KH_OBJECT_TYPE_SYMMETRIC_KEY &&
        r->object_type != (int32_t)KH_OBJECT_TYPE_SECRET_DATA)
        return KH_ERR_INVALID_FIELD;
    if (!mask || mask->type != KH_TTLV_INTEGER ||
        !((uint32_t)mask->num & KH_CRYPTOGRAPHIC_USAGE_MASK_DERIVE_KEY))
        return KH_ERR_PERMISSION;
    if ((err = kh_object_material(ctx, *obj, &m)) != KH_OK)
        return err;
    const kh_ttlv *kb = kh_ttlv_find(m, KH_TAG_KEY_BLOCK);
    const kh_ttlv *kv = kb ? kh_ttlv_find(kb, KH_TAG_KEY_VALUE) : NULL;
    const kh_ttlv *km =
        (kv && kv->type == KH_TTLV_STRUCTURE && !kh_ttlv_find(kb, KH_TAG_KEY_WRAPPING_DATA))
            ? kh_ttlv_find(kv, KH_TAG_KEY_MATERIAL)
            : NULL;
    if (km && km->type == KH_TTLV_STRUCTURE)
        km = kh_ttlv_find(km, KH_TAG_KEY); /* TransparentSymmetricKey */
    if (!km || km->type != KH_TTLV_BYTE_STRING || km->len == 0)
        err = kv ? KH_ERR_KEY_FORMAT : KH_ERR_NO_KEY_VALUE;
    else
        *out = kh_secbuf_dup(km->data, km->len);
    kh_ttlv_free(&m);
    return err;
}

static kh_err truncated(kh_secbuf *out, const uint8_t *p, size_t n)
{
    if (n < out->len)
        return KH_ERR_INVALID_FIELD; /* longer than the method produces */
    memcpy(out->data, p, out->len);
    return KH_OK;
}

static kh_err by_hash(kh_secbuf *out, kh_hash h, const kh_secbuf *k, const kh_derive_params *p)
{
    uint8_t d[KH_HASH_MAX_LEN];
    size_t n = 0;
    kh_secbuf *in = kh_secbuf_new(k->len + p->data_len);
    memcpy(in->data, k->data, k->len);
    if (p->data_len)
        memcpy(in->data + k->len, p->data, p->data_len);
    kh_err err = kh_hash_digest(d, &n, h, in->data, in->len);
    if (err == KH_OK)
        err = truncated(out, d, n);
    kh_wipe(d, sizeof(d));
    kh_secbuf_free(&in);
    return err;
}

static kh_err by_hmac(kh_secbuf *out, kh_hash h, const kh_secbuf *k, const kh_derive_params *p)
{
    uint8_t mac[KH_MAC_MAX_LEN];
    size_t n = 0;
    if (!p->data)
        return KH_ERR_MISSING_DATA;
    kh_err err = kh_mac(mac, &n, KH_MAC_HMAC, h, k, p->data, p->data_len);
    if (err == KH_OK)
        err = truncated(out, mac, n);
    kh_wipe(mac, sizeof(mac));
    return err;
}

static kh_err by_encrypt(kh_secbuf *out, const kh_cparams *cp, uint32_t base_alg,
                         const kh_secbuf *k, const kh_derive_params *p)
{
    kh_cipher_params cip = {0};
    kh_cipher_out co;
    if (base_alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES ||
        (cp->alg && cp->alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES))
        return KH_ERR_INVALID_FIELD;
    uint32_t mode = cp->mode ? cp->mode : KH_BLOCK_CIPHER_MODE_CBC;
    if (mode == KH_BLOCK_CIPHER_MODE_CBC)
        cip.cipher = KH_CIPHER_AES_CBC;
    else if (mode == KH_BLOCK_CIPHER_MODE_CTR)
        cip.cipher = KH_CIPHER_AES_CTR;
    else
        return KH_ERR_UNSUPPORTED;
    if (cp->padding && cp->padding != KH_PADDING_METHOD_NONE)
        return KH_ERR_UNSUPPORTED;
    if (!p->data || !p->iv)
        return KH_ERR_MISSING_DATA;
    cip.iv = p->iv;
    cip.iv_len = p->iv_len;
    kh_err err = kh_cipher_encrypt(&co, k, &cip, p->data, p->data_len);
    if (err == KH_ERR_INVALID_ARG || err == KH_ERR_CRYPTO)
        return KH_ERR_INVALID_FIELD; /* IV length, partial block */
    if (err != KH_OK)
        return err;
    err = truncated(out, co.data, co.len);
    kh_cipher_out_clear(&co);
    return err;
}

static kh_err run(uint32_t method, kh_secbuf *out, const kh_cparams *cp, uint32_t base_alg,
                  const kh_secbuf *k, const kh_derive_params *p)
{
    kh_hash h = kh_hash_of_kmip(cp->hashing ? cp->hashing : KH_HASHING_ALGORITHM_SHA_256);
    if (h == KH_HASH_NONE)
        return KH_ERR_UNSUPPORTED;
    kh_err err;
    switch (method) {
    case KH_DERIVATION_METHOD_PBKDF2:
        if (p->iterations < 0 || !p->salt)
            return KH_ERR_MISSING_DATA;
        if (p->iterations > KH_KDF_MAX_ITER)
            return KH_ERR_INVALID_FIELD;
        err = kh_pbkdf2(out, h, k, p->salt, p->salt_len, (uint32_t)p->iterations);
        break;
    case KH_DERIVATION_METHOD_HKDF:
        err = kh_hkdf(out, h, k, p->salt, p->salt_len, p->data, p->data_len);
        break;
    case KH_DERIVATION_METHOD_HMAC:
        return by_hmac(out, h, k, p);
    case KH_DERIVATION_METHOD_HASH:
        return by_hash(out, h, k, p);
    case KH_DERIVATION_METHOD_ENCRYPT:
        return by_encrypt(out, cp, base_alg, k, p);
    case KH_DERIVATION_METHOD_NIST800_108_C:
        if (!p->data)
            return KH_ERR_MISSING_DATA;
        err = kh_kbkdf_counter(out, h, k, p->data, p->data_len);
        break;
    default:
        return KH_ERR_UNSUPPORTED;
    }
    return err == KH_ERR_INVALID_ARG ? KH_ERR_INVALID_FIELD : err;
}

static kh_ttlv *material(const kh_obj_row *row, const kh_secbuf *key)
{
    bool secret = row->object_type == (int32_t)KH_OBJECT_TYPE_SECRET_DATA;
    kh_ttlv *obj = kh_ttlv_new_struct(secret ? KH_TAG_SECRET_DATA : KH_TAG_SYMMETRIC_KEY);
    if (secret)
        kh_ttlv_add_take(obj, kh_ttlv_new_enum(KH_TAG_SECRET_DATA_TYPE, KH_SECRET_DATA_TYPE_SEED));
    kh_ttlv *kb = kh_ttlv_add_take(obj, kh_ttlv_new_struct(KH_TAG_KEY_BLOCK));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_KEY_FORMAT_TYPE, secret ? KH_KEY_FORMAT_TYPE_OPAQUE
                                                                         : KH_KEY_FORMAT_TYPE_RAW));
    kh_ttlv *kv = kh_ttlv_add_take(kb, kh_ttlv_new_struct(KH_TAG_KEY_VALUE));
    kh_ttlv_add_take(kv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, key->data, key->len));
    if (!secret)
        kh_ttlv_add_take(
            kb, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, (uint32_t)row->algorithm));
    kh_ttlv_add_take(kb, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, row->length));
    return obj;
}

static void link_to(kh_object *o, uint32_t type, const char *uid)
{
    kh_ttlv *l = kh_ttlv_new_struct(KH_TAG_LINK);
    kh_ttlv_add_take(l, kh_ttlv_new_enum(KH_TAG_LINK_TYPE, type));
    kh_ttlv_add_take(l, kh_ttlv_new_text(KH_TAG_LINKED_OBJECT_IDENTIFIER, uid));
    kh_ttlv_add_take(o->attrs, l);
}

static kh_err link_derived(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)ctx;
    link_to(o, KH_LINK_TYPE_DERIVED_KEY_LINK, (const char *)arg);
    return KH_OK;
}

static void default_mask(kh_object *o)
{
    if (kh_ttlv_find(o->attrs, KH_TAG_CRYPTOGRAPHIC_USAGE_MASK) ||
        o->row->object_type != (int32_t)KH_OBJECT_TYPE_SYMMETRIC_KEY)
        return;
    uint32_t mask =
        is_hmac_alg((uint32_t)o->row->algorithm)
            ? KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE | KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_VERIFY
            : KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT | KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT;
    kh_ttlv_add_take(o->attrs, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, (int32_t)mask));
}

kh_err kh_op_derive_key(kh_ctx *ctx, uint32_t object_type, const char *const *uids, size_t nuids,
                        uint32_t method, const kh_derive_params *p, const kh_ttlv *attrs,
                        char **uid)
{
    kh_object *base = NULL, *o = NULL;
    kh_secbuf *k = NULL, *out = NULL;
    kh_ttlv *m = NULL;
    kh_cparams cp;
    if (object_type != KH_OBJECT_TYPE_SYMMETRIC_KEY && object_type != KH_OBJECT_TYPE_SECRET_DATA)
        return KH_ERR_INVALID_FIELD;
    if (nuids != 1)
        return nuids ? KH_ERR_UNSUPPORTED
                     : KH_ERR_MISSING_DATA; /* one base object per method here */
    o = kh_object_new(ctx, object_type);
    kh_err err = kh_object_apply_client_attrs(ctx, o, attrs);
    if (err == KH_OK)
        err = check_target(o);
    if (err == KH_OK)
        err = base_secret(ctx, uids[0], &base, &k);
    if (err == KH_OK)
        err = kh_cparams_resolve(p->cparams, base, &cp);
    if (err != KH_OK)
        goto out;
    out = kh_secbuf_new((size_t)o->row->length / 8);
    if ((err = run(method, out, &cp, (uint32_t)base->row->algorithm, k, p)) != KH_OK)
        goto out;
    default_mask(o);
    link_to(o, KH_LINK_TYPE_DERIVATION_BASE_OBJECT_LINK, base->row->uid);
    m = material(o->row, out);
    kh_audit_hold(ctx); /* the audit row goes with the last write (ops/audit.h) */
    err = kh_object_insert(ctx, o, m);
    kh_audit_release(ctx);
    if (err != KH_OK ||
        (err = kh_object_update(ctx, base->row->uid, link_derived, o->row->uid)) != KH_OK)
        goto out;
    *uid = kh_xstrdup(o->row->uid);
out:
    kh_ttlv_free(&m);
    kh_secbuf_free(&out);
    kh_secbuf_free(&k);
    kh_object_free(&base);
    kh_object_free(&o);
    return err;
}
