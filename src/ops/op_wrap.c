/*
 * op_wrap.c - Get in another key format, or wrapped by another managed key.
 *
 * Conversions re-encode through crypto/pkey.h (PKCS#1 <-> PKCS#8 for RSA
 * private keys, PKCS#1 <-> X.509 for RSA public keys, PKCS#8 / X.509 / Raw
 * for EC and Ed25519) or move the bytes of a symmetric key between Raw and
 * TransparentSymmetricKey. Wrapping is crypto/wrap.h and cipher.h's
 * RSA-OAEP; this file decides which, checks who may, and writes the KMIP
 * KeyWrappingData that tells the receiver how to undo it.
 */
#include "ops/crypto_key.h"
#include "ops/keyops.h"
#include "ops/object.h"
#include "ops/transparent.h"

#include "common/mem.h"
#include "crypto/cipher.h"
#include "crypto/wrap.h"
#include "proto/kmip_consts.h"

#include <string.h>

/* Replace parent's first child tagged tag with item (appended if absent). */
static void replace_kid(kh_ttlv *parent, uint32_t tag, kh_ttlv *item)
{
    for (size_t i = 0; i < parent->nkids; i++) {
        if (parent->kids[i]->tag == tag) {
            kh_ttlv_free(&parent->kids[i]);
            parent->kids[i] = item;
            return;
        }
    }
    kh_ttlv_add_take(parent, item);
}

/* The KeyBlock, its plaintext KeyValue structure and KeyMaterial. */
static kh_err plain_key_block(kh_ttlv *obj, kh_ttlv **kb, kh_ttlv **kv, kh_ttlv **km)
{
    *kb = kh_ttlv_find(obj, KH_TAG_KEY_BLOCK);
    if (!*kb || (*kb)->type != KH_TTLV_STRUCTURE)
        return KH_ERR_KEY_FORMAT; /* certificates and opaque objects have none */
    *kv = kh_ttlv_find(*kb, KH_TAG_KEY_VALUE);
    if (!*kv)
        return KH_ERR_NO_KEY_VALUE;
    if ((*kv)->type != KH_TTLV_STRUCTURE || kh_ttlv_find(*kb, KH_TAG_KEY_WRAPPING_DATA))
        return KH_ERR_UNSUPPORTED; /* registered wrapped: we cannot open it */
    *km = kh_ttlv_find(*kv, KH_TAG_KEY_MATERIAL);
    return *km ? KH_OK : KH_ERR_NO_KEY_VALUE;
}

/* ---- key format conversion ------------------------------------------- */

static kh_err symmetric_convert(kh_ttlv *kv, kh_ttlv *km, uint32_t from, uint32_t to)
{
    const kh_ttlv *bytes = km;
    if (from == KH_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY && km->type == KH_TTLV_STRUCTURE)
        bytes = kh_ttlv_find(km, KH_TAG_KEY);
    else if (from != KH_KEY_FORMAT_TYPE_RAW)
        return KH_ERR_KEY_FORMAT;
    if (!bytes || bytes->type != KH_TTLV_BYTE_STRING)
        return KH_ERR_NO_KEY_VALUE;
    kh_ttlv *n;
    if (to == KH_KEY_FORMAT_TYPE_RAW) {
        n = kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, bytes->data, bytes->len);
    } else if (to == KH_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY) {
        n = kh_ttlv_new_struct(KH_TAG_KEY_MATERIAL);
        kh_ttlv_add_take(n, kh_ttlv_new_bytes(KH_TAG_KEY, bytes->data, bytes->len));
    } else {
        return KH_ERR_KEY_FORMAT;
    }
    replace_kid(kv, KH_TAG_KEY_MATERIAL, n); /* frees km and what bytes pointed into */
    return KH_OK;
}

static kh_err pkey_format_of(uint32_t fmt, kh_pkey_format *out)
{
    switch (fmt) {
    case KH_KEY_FORMAT_TYPE_PKCS_1:
        *out = KH_PKEY_PKCS1;
        return KH_OK;
    case KH_KEY_FORMAT_TYPE_PKCS_8:
    case KH_KEY_FORMAT_TYPE_EC_PRIVATE_KEY: /* read only: by the PKCS#8 path */
        *out = KH_PKEY_PKCS8;
        return KH_OK;
    case KH_KEY_FORMAT_TYPE_X_509:
        *out = KH_PKEY_SPKI;
        return KH_OK;
    case KH_KEY_FORMAT_TYPE_RAW:
        *out = KH_PKEY_RAW;
        return KH_OK;
    default:
        return KH_ERR_KEY_FORMAT;
    }
}

/* Whether a key of type t can be written in pkey format f. */
static bool writable(kh_pkey_type t, bool is_private, kh_pkey_format f)
{
    switch (f) {
    case KH_PKEY_PKCS1:
        return t == KH_PKEY_RSA;
    case KH_PKEY_PKCS8:
        return is_private;
    case KH_PKEY_SPKI:
        return !is_private;
    case KH_PKEY_RAW:
        return t == KH_PKEY_ED25519;
    default:
        return false;
    }
}

/* The key in KeyMaterial km, stored in format from (DER, raw or
 * Transparent). */
static kh_err read_key(const kh_ttlv *km, bool is_private, uint32_t from, kh_pkey **k)
{
    kh_pkey_format pf;
    if (kh_transparent_format(from))
        return kh_transparent_key_read(km, from, is_private, k) == KH_OK ? KH_OK
                                                                         : KH_ERR_KEY_FORMAT;
    kh_err err = pkey_format_of(from, &pf);
    if (err != KH_OK)
        return err;
    if (km->type != KH_TTLV_BYTE_STRING)
        return KH_ERR_KEY_FORMAT;
    err = kh_pkey_import(k, is_private, pf, km->data, km->len);
    return err == KH_ERR_CRYPTO ? KH_ERR_KEY_FORMAT : err;
}

/* k written in format to: DER, raw or Transparent KeyMaterial. */
static kh_err write_key(const kh_pkey *k, bool is_private, uint32_t to, kh_ttlv **n)
{
    kh_pkey_format pt;
    if (kh_transparent_format(to))
        return kh_transparent_key_material(k, is_private, to, n);
    if (to == KH_KEY_FORMAT_TYPE_EC_PRIVATE_KEY)
        return KH_ERR_KEY_FORMAT; /* SEC1 output: not written by pkey.h */
    kh_err err = pkey_format_of(to, &pt);
    if (err != KH_OK)
        return err;
    if (!writable(kh_pkey_type_of(k), is_private, pt))
        return KH_ERR_KEY_FORMAT;
    if (is_private) {
        kh_secbuf *der = NULL;
        if ((err = kh_pkey_export_private(&der, k, pt)) == KH_OK)
            *n = kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, der->data, der->len);
        kh_secbuf_free(&der);
        return err;
    }
    uint8_t *der = NULL;
    size_t len = 0;
    if ((err = kh_pkey_export_public(&der, &len, k, pt)) == KH_OK)
        *n = kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, der, len);
    free(der);
    return err;
}

static kh_err asymmetric_convert(kh_ttlv *kv, const kh_ttlv *km, bool is_private, uint32_t from,
                                 uint32_t to)
{
    kh_pkey *k = NULL;
    kh_ttlv *n = NULL;
    kh_err err = read_key(km, is_private, from, &k);
    if (err == KH_OK)
        err = write_key(k, is_private, to, &n);
    kh_pkey_free(&k);
    if (err == KH_OK)
        replace_kid(kv, KH_TAG_KEY_MATERIAL, n); /* frees km */
    return err;
}

kh_err kh_key_format_convert(kh_ttlv *obj, uint32_t format)
{
    kh_ttlv *kb, *kv, *km;
    kh_err err = plain_key_block(obj, &kb, &kv, &km);
    if (err == KH_ERR_UNSUPPORTED)
        return KH_ERR_KEY_FORMAT; /* stored wrapped: only as stored */
    if (err != KH_OK)
        return err;
    kh_ttlv *fmt = kh_ttlv_find(kb, KH_TAG_KEY_FORMAT_TYPE);
    if (!fmt || fmt->type != KH_TTLV_ENUMERATION)
        return KH_ERR_KEY_FORMAT;
    uint32_t from = (uint32_t)fmt->num;
    if (from == format)
        return KH_OK;
    switch (obj->tag) {
    case KH_TAG_SYMMETRIC_KEY:
        err = symmetric_convert(kv, km, from, format);
        break;
    case KH_TAG_PRIVATE_KEY:
    case KH_TAG_PUBLIC_KEY:
        err = asymmetric_convert(kv, km, obj->tag == KH_TAG_PRIVATE_KEY, from, format);
        break;
    default:
        err = KH_ERR_KEY_FORMAT; /* secret data, split keys: as registered */
    }
    if (err == KH_OK)
        fmt->num = format;
    return err;
}

/* ---- wrapping ---------------------------------------------------------- */

/* The bytes to wrap: the KeyMaterial (No Encoding) or the TTLV encoding of
 * the whole KeyValue (the default). */
static kh_err wrap_input(const kh_ttlv *kv, const kh_ttlv *km, uint32_t encoding, kh_buf *out)
{
    if (encoding == KH_ENCODING_OPTION_NO_ENCODING) {
        if (km->type != KH_TTLV_BYTE_STRING || km->len == 0)
            return KH_ERR_INVALID_FIELD; /* a transparent key has no byte form to wrap */
        kh_buf_append(out, km->data, km->len);
        return KH_OK;
    }
    if (encoding != KH_ENCODING_OPTION_TTLV_ENCODING)
        return KH_ERR_INVALID_FIELD;
    kh_ttlv_encode(kv, out);
    return KH_OK;
}

/* What we did, as CryptographicParameters for the KeyWrappingData. */
static kh_ttlv *used_params(uint32_t alg, uint32_t mode, uint32_t padding, uint32_t hashing)
{
    kh_ttlv *cp = kh_ttlv_new_struct(KH_TAG_CRYPTOGRAPHIC_PARAMETERS);
    if (mode)
        kh_ttlv_add_take(cp, kh_ttlv_new_enum(KH_TAG_BLOCK_CIPHER_MODE, mode));
    if (padding)
        kh_ttlv_add_take(cp, kh_ttlv_new_enum(KH_TAG_PADDING_METHOD, padding));
    if (hashing)
        kh_ttlv_add_take(cp, kh_ttlv_new_enum(KH_TAG_HASHING_ALGORITHM, hashing));
    kh_ttlv_add_take(cp, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, alg));
    return cp;
}

static kh_err aes_wrap(const kh_use_key *k, const kh_cparams *cp, const kh_buf *in, uint8_t **out,
                       size_t *out_len, kh_ttlv **used)
{
    uint32_t mode = cp->mode ? cp->mode : KH_BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING;
    kh_kw_mode m;
    if (k->alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES ||
        (cp->alg && cp->alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES))
        return KH_ERR_INVALID_FIELD;
    if (mode == KH_BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING)
        m = KH_KW_RFC5649;
    else if (mode == KH_BLOCK_CIPHER_MODE_NIST_KEY_WRAP)
        m = KH_KW_RFC3394;
    else
        return KH_ERR_UNSUPPORTED;
    if (cp->padding && cp->padding != KH_PADDING_METHOD_NONE)
        return KH_ERR_INVALID_FIELD;
    kh_err err = kh_key_wrap(out, out_len, m, k->secret, in->data, in->len);
    if (err == KH_ERR_INVALID_ARG)
        return KH_ERR_INVALID_FIELD; /* RFC 3394 of a length not a multiple of 8 */
    if (err == KH_OK)
        *used = used_params(KH_CRYPTOGRAPHIC_ALGORITHM_AES, mode, 0, 0);
    return err;
}

static kh_err rsa_wrap(const kh_use_key *k, const kh_cparams *cp, const kh_buf *in, uint8_t **out,
                       size_t *out_len, kh_ttlv **used)
{
    uint32_t hashing = cp->hashing ? cp->hashing : KH_HASHING_ALGORITHM_SHA_256;
    kh_hash h = kh_hash_of_kmip(hashing);
    if (kh_pkey_type_of(k->pkey) != KH_PKEY_RSA)
        return KH_ERR_UNSUPPORTED; /* EC wrapping (ECIES) is not done */
    if (cp->alg && cp->alg != KH_CRYPTOGRAPHIC_ALGORITHM_RSA &&
        !(cp->alg == KH_CRYPTOGRAPHIC_ALGORITHM_AES && cp->mode))
        return KH_ERR_INVALID_FIELD;
    if (cp->padding && cp->padding != KH_PADDING_METHOD_OAEP)
        return KH_ERR_UNSUPPORTED; /* PKCS#1 v1.5 key transport invites Bleichenbacher */
    if (h == KH_HASH_NONE || (cp->mgf_hash && cp->mgf_hash != hashing))
        return KH_ERR_UNSUPPORTED;
    kh_err err;
    if (cp->mode == KH_BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING) {
        err = kh_rsa_aes_wrap(out, out_len, k->pkey, h, in->data, in->len);
    } else if (cp->mode) {
        return KH_ERR_UNSUPPORTED;
    } else {
        size_t max = (kh_pkey_bits(k->pkey) + 7) / 8;
        if (in->len + 2 * kh_hash_len(h) + 2 > max)
            return KH_ERR_INVALID_FIELD; /* too large for OAEP: ask for AESKeyWrapPadding */
        err = kh_rsa_encrypt(out, out_len, k->pkey, KH_RSA_OAEP, h, in->data, in->len);
    }
    if (err == KH_ERR_INVALID_ARG)
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK)
        *used =
            used_params(KH_CRYPTOGRAPHIC_ALGORITHM_RSA, cp->mode, KH_PADDING_METHOD_OAEP, hashing);
    return err;
}

static bool extractable(const kh_object *o)
{
    const kh_ttlv *x = kh_ttlv_find(o->attrs, KH_TAG_EXTRACTABLE);
    return !x || x->type != KH_TTLV_BOOLEAN || x->num != 0;
}

static kh_ttlv *wrapping_data(const kh_wrap_spec *w, uint32_t encoding, kh_ttlv *used)
{
    kh_ttlv *wd = kh_ttlv_new_struct(KH_TAG_KEY_WRAPPING_DATA);
    kh_ttlv_add_take(wd, kh_ttlv_new_enum(KH_TAG_WRAPPING_METHOD, w->method));
    kh_ttlv *eki = kh_ttlv_add_take(wd, kh_ttlv_new_struct(KH_TAG_ENCRYPTION_KEY_INFORMATION));
    kh_ttlv_add_take(eki, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, w->key_uid));
    kh_ttlv_add_take(eki, used);
    kh_ttlv_add_take(wd, kh_ttlv_new_enum(KH_TAG_ENCODING_OPTION, encoding));
    return wd;
}

static kh_err wrap_object(kh_ctx *ctx, const kh_object *o, kh_ttlv *obj, const kh_wrap_spec *w)
{
    kh_ttlv *kb, *kv, *km, *used = NULL;
    kh_use_key k;
    kh_cparams cp;
    kh_buf in = {0};
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    uint32_t encoding = w->encoding ? w->encoding : KH_ENCODING_OPTION_TTLV_ENCODING;
    if (w->method != KH_WRAPPING_METHOD_ENCRYPT)
        return KH_ERR_UNSUPPORTED; /* MAC/sign wrapping, TR-31 */
    if (!w->key_uid)
        return KH_ERR_MISSING_DATA;
    if (!extractable(o))
        return KH_ERR_NOT_EXTRACTABLE;
    kh_err err = plain_key_block(obj, &kb, &kv, &km);
    if (err == KH_ERR_KEY_FORMAT)
        err = KH_ERR_INVALID_FIELD; /* nothing that could be wrapped */
    if (err == KH_OK)
        err = wrap_input(kv, km, encoding, &in);
    if (err != KH_OK)
        goto out;
    err =
        kh_use_key_load(ctx, w->key_uid, KH_USE_PROTECT, KH_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY, &k);
    if (err != KH_OK)
        goto out;
    if ((err = kh_cparams_resolve(w->params, k.obj, &cp)) == KH_OK)
        err = k.secret ? aes_wrap(&k, &cp, &in, &wrapped, &wrapped_len, &used)
                       : rsa_wrap(&k, &cp, &in, &wrapped, &wrapped_len, &used);
    kh_use_key_clear(&k);
    if (err != KH_OK)
        goto out;
    if (encoding == KH_ENCODING_OPTION_NO_ENCODING) {
        kh_ttlv *nkv = kh_ttlv_new_struct(KH_TAG_KEY_VALUE); /* no attributes, KMIP says */
        kh_ttlv_add_take(nkv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, wrapped, wrapped_len));
        replace_kid(kb, KH_TAG_KEY_VALUE, nkv);
    } else {
        replace_kid(kb, KH_TAG_KEY_VALUE,
                    kh_ttlv_new_bytes(KH_TAG_KEY_VALUE, wrapped, wrapped_len));
    }
    kh_ttlv_add_take(kb, wrapping_data(w, encoding, used));
out:
    free(wrapped);
    kh_buf_free(&in);
    return err;
}

kh_err kh_op_get_as(kh_ctx *ctx, const char *uid, uint32_t format, const kh_wrap_spec *wrap,
                    uint32_t *object_type, kh_ttlv **obj)
{
    kh_object *o = NULL;
    kh_ttlv *m = NULL;
    kh_err err = kh_object_load(ctx, uid, &o);
    if (err == KH_OK)
        err = kh_object_material(ctx, o, &m);
    if (err == KH_OK && format)
        err = kh_key_format_convert(m, format);
    if (err == KH_OK && wrap)
        err = wrap_object(ctx, o, m, wrap);
    if (err == KH_OK) {
        *object_type = (uint32_t)o->row->object_type;
        *obj = m;
        m = NULL;
    }
    kh_ttlv_free(&m);
    kh_object_free(&o);
    return err;
}

/* ---- sealed import ----------------------------------------------------- */

static kh_err aes_unwrap(const kh_use_key *k, const kh_cparams *cp, const uint8_t *in, size_t len,
                         kh_secbuf **out)
{
    uint32_t mode = cp->mode ? cp->mode : KH_BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING;
    if (k->alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES)
        return KH_ERR_INVALID_FIELD;
    if (mode != KH_BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING &&
        mode != KH_BLOCK_CIPHER_MODE_NIST_KEY_WRAP)
        return KH_ERR_UNSUPPORTED;
    return kh_key_unwrap(out,
                         mode == KH_BLOCK_CIPHER_MODE_NIST_KEY_WRAP ? KH_KW_RFC3394 : KH_KW_RFC5649,
                         k->secret, in, len);
}

static kh_err rsa_unwrap(const kh_use_key *k, const kh_cparams *cp, const uint8_t *in, size_t len,
                         kh_secbuf **out)
{
    uint32_t hashing = cp->hashing ? cp->hashing : KH_HASHING_ALGORITHM_SHA_256;
    kh_hash h = kh_hash_of_kmip(hashing);
    if (k->type != KH_OBJECT_TYPE_PRIVATE_KEY || kh_pkey_type_of(k->pkey) != KH_PKEY_RSA)
        return KH_ERR_INVALID_FIELD;
    if ((cp->padding && cp->padding != KH_PADDING_METHOD_OAEP) || h == KH_HASH_NONE ||
        (cp->mgf_hash && cp->mgf_hash != hashing))
        return KH_ERR_UNSUPPORTED;
    if (cp->mode == KH_BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING)
        return kh_rsa_aes_unwrap(out, k->pkey, h, in, len);
    if (cp->mode)
        return KH_ERR_UNSUPPORTED;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    kh_err err = kh_rsa_decrypt(&pt, &pt_len, k->pkey, KH_RSA_OAEP, h, in, len);
    if (err == KH_OK) {
        *out = kh_secbuf_dup(pt, pt_len);
        kh_wipe_free(pt, pt_len);
    }
    return err;
}

/* Put the unwrapped bytes back where the wrapped ones were. */
static kh_err unwrapped_key_value(kh_ttlv *kb, uint32_t encoding, const kh_secbuf *pt)
{
    if (encoding == KH_ENCODING_OPTION_NO_ENCODING) {
        kh_ttlv *nkv = kh_ttlv_new_struct(KH_TAG_KEY_VALUE);
        kh_ttlv_add_take(nkv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, pt->data, pt->len));
        replace_kid(kb, KH_TAG_KEY_VALUE, nkv);
        return KH_OK;
    }
    kh_ttlv *kv = NULL;
    if (kh_ttlv_decode(pt->data, pt->len, &kh_ttlv_default_limits, &kv) != KH_OK)
        return KH_ERR_INVALID_FIELD; /* it unwrapped, so the sender encoded it wrong */
    if (kv->tag != KH_TAG_KEY_VALUE || kv->type != KH_TTLV_STRUCTURE) {
        kh_ttlv_free(&kv);
        return KH_ERR_INVALID_FIELD;
    }
    replace_kid(kb, KH_TAG_KEY_VALUE, kv);
    return KH_OK;
}

kh_err kh_key_unwrap_import(kh_ctx *ctx, const kh_ttlv *obj, kh_ttlv **plain)
{
    *plain = NULL;
    const kh_ttlv *kb = obj ? kh_ttlv_find(obj, KH_TAG_KEY_BLOCK) : NULL;
    const kh_ttlv *wd = kb ? kh_ttlv_find(kb, KH_TAG_KEY_WRAPPING_DATA) : NULL;
    const kh_ttlv *eki = wd ? kh_ttlv_find(wd, KH_TAG_ENCRYPTION_KEY_INFORMATION) : NULL;
    if (!eki)
        return KH_OK; /* not wrapped, or wrapped by a key we do not hold */
    uint32_t method = 0, encoding = KH_ENCODING_OPTION_TTLV_ENCODING;
    const char *key_uid = NULL;
    const kh_ttlv *kv = kh_ttlv_find(kb, KH_TAG_KEY_VALUE), *in = kv;
    const kh_ttlv *enc = kh_ttlv_find(wd, KH_TAG_ENCODING_OPTION);
    const kh_ttlv *cpt = kh_ttlv_find(eki, KH_TAG_CRYPTOGRAPHIC_PARAMETERS);
    kh_err err = kh_ttlv_get_enum(wd, KH_TAG_WRAPPING_METHOD, &method);
    if (err == KH_OK && method != KH_WRAPPING_METHOD_ENCRYPT)
        err = KH_ERR_UNSUPPORTED;
    if (err == KH_OK && (kh_ttlv_find(wd, KH_TAG_MAC_SIGNATURE_KEY_INFORMATION) ||
                         eki->type != KH_TTLV_STRUCTURE || (cpt && cpt->type != KH_TTLV_STRUCTURE)))
        err = kh_ttlv_find(wd, KH_TAG_MAC_SIGNATURE_KEY_INFORMATION) ? KH_ERR_UNSUPPORTED
                                                                     : KH_ERR_INVALID_FIELD;
    if (err == KH_OK)
        err = kh_ttlv_get_text(eki, KH_TAG_UNIQUE_IDENTIFIER, &key_uid);
    if (err == KH_OK && enc) {
        if (enc->type != KH_TTLV_ENUMERATION || (enc->num != KH_ENCODING_OPTION_NO_ENCODING &&
                                                 enc->num != KH_ENCODING_OPTION_TTLV_ENCODING))
            err = KH_ERR_INVALID_FIELD;
        else
            encoding = (uint32_t)enc->num;
    }
    if (err == KH_OK && encoding == KH_ENCODING_OPTION_NO_ENCODING)
        in = kv && kv->type == KH_TTLV_STRUCTURE ? kh_ttlv_find(kv, KH_TAG_KEY_MATERIAL) : NULL;
    if (err == KH_OK && (!in || in->type != KH_TTLV_BYTE_STRING || in->len == 0))
        err = KH_ERR_INVALID_FIELD;
    if (err != KH_OK)
        return err;
    kh_use_key k;
    kh_cparams cp;
    kh_secbuf *pt = NULL;
    err = kh_use_key_load(ctx, key_uid, KH_USE_PROCESS, KH_CRYPTOGRAPHIC_USAGE_MASK_UNWRAP_KEY, &k);
    if (err != KH_OK)
        return err;
    if ((err = kh_cparams_resolve(cpt, k.obj, &cp)) == KH_OK)
        err = k.secret ? aes_unwrap(&k, &cp, in->data, in->len, &pt)
                       : rsa_unwrap(&k, &cp, in->data, in->len, &pt);
    kh_use_key_clear(&k);
    if (err != KH_OK)
        return err;
    kh_ttlv *copy = kh_ttlv_dup(obj);
    kh_ttlv *ckb = kh_ttlv_find(copy, KH_TAG_KEY_BLOCK);
    err = unwrapped_key_value(ckb, encoding, pt);
    for (size_t i = 0; err == KH_OK && i < ckb->nkids; i++)
        if (ckb->kids[i]->tag == KH_TAG_KEY_WRAPPING_DATA)
            kh_ttlv_remove(ckb, i--);
    kh_secbuf_free(&pt);
    if (err != KH_OK)
        kh_ttlv_free(&copy);
    *plain = copy;
    return err;
}
