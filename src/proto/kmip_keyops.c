/*
 * kmip_keyops.c - KMIP payloads of Get-with-wrapping, ReKey, ReKeyKeyPair,
 * DeriveKey and Certify to ops/keyops.h and ops/certify.h calls and back.
 *
 * Shapes are checked here (closed tag sets, types); meanings in ops/. A
 * KeyWrappingSpecification asking for what we do not do (MAC/sign key
 * information, wrapped attributes) is FeatureNotSupported, not ignored.
 */
#include "proto/kmip_keyops.h"

#include "common/mem.h"
#include "ops/certify.h"
#include "ops/keyops.h"
#include "proto/kmip_attrs.h"
#include "proto/kmip_consts.h"

#include <string.h>

static const uint8_t empty[1] = {0};

static kh_err opt_enum(const kh_ttlv *p, uint32_t tag, uint32_t *out)
{
    const kh_ttlv *t = kh_ttlv_find(p, tag);
    *out = 0;
    if (!t)
        return KH_OK;
    if (t->type != KH_TTLV_ENUMERATION || t->num == 0)
        return KH_ERR_INVALID_FIELD;
    *out = (uint32_t)t->num;
    return KH_OK;
}

static kh_err opt_bytes(const kh_ttlv *p, uint32_t tag, const uint8_t **out, size_t *len)
{
    const kh_ttlv *b = kh_ttlv_find(p, tag);
    *out = NULL;
    *len = 0;
    if (!b)
        return KH_OK;
    if (b->type != KH_TTLV_BYTE_STRING)
        return KH_ERR_INVALID_FIELD;
    *out = b->len ? b->data : empty;
    *len = b->len;
    return KH_OK;
}

static kh_err opt_struct(const kh_ttlv *p, uint32_t tag, const kh_ttlv **out)
{
    *out = kh_ttlv_find(p, tag);
    return (*out && (*out)->type != KH_TTLV_STRUCTURE) ? KH_ERR_INVALID_FIELD : KH_OK;
}

/* ---- Get ------------------------------------------------------------- */

bool kh_kmip_get_wants_keyops(const kh_ttlv *p)
{
    return kh_ttlv_find(p, KH_TAG_KEY_FORMAT_TYPE) ||
           kh_ttlv_find(p, KH_TAG_KEY_WRAPPING_SPECIFICATION);
}

static kh_err wrap_spec_in(kh_kmip_call *c, const kh_ttlv *s, kh_wrap_spec *w)
{
    static const uint32_t spec_tags[] = {KH_TAG_WRAPPING_METHOD, KH_TAG_ENCRYPTION_KEY_INFORMATION,
                                         KH_TAG_MAC_SIGNATURE_KEY_INFORMATION,
                                         KH_TAG_ATTRIBUTE_NAME, KH_TAG_ENCODING_OPTION};
    static const uint32_t eki_tags[] = {KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CRYPTOGRAPHIC_PARAMETERS};
    const kh_ttlv *eki;
    kh_err err = kh_kmip_check_tags(c, s, spec_tags, sizeof(spec_tags) / sizeof(spec_tags[0]));
    if (err == KH_OK)
        err = kh_ttlv_get_enum(s, KH_TAG_WRAPPING_METHOD, &w->method);
    if (err == KH_OK)
        err = opt_enum(s, KH_TAG_ENCODING_OPTION, &w->encoding);
    if (err == KH_OK)
        err = opt_struct(s, KH_TAG_ENCRYPTION_KEY_INFORMATION, &eki);
    if (err != KH_OK)
        return err;
    if (kh_ttlv_find(s, KH_TAG_MAC_SIGNATURE_KEY_INFORMATION) ||
        kh_ttlv_find(s, KH_TAG_ATTRIBUTE_NAME)) {
        c->result_message = "only Encrypt wrapping of the key value is supported";
        return KH_ERR_UNSUPPORTED;
    }
    if (!eki) {
        c->result_message = "no Encryption Key Information";
        return KH_ERR_MISSING_DATA;
    }
    if ((err = kh_kmip_check_tags(c, eki, eki_tags, 2)) != KH_OK ||
        (err = kh_ttlv_get_text(eki, KH_TAG_UNIQUE_IDENTIFIER, &w->key_uid)) != KH_OK)
        return err;
    return opt_struct(eki, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, &w->params);
}

kh_err kh_kmip_get_keyops(kh_kmip_call *c, const kh_ttlv *p, const char *uid, uint32_t *object_type,
                          kh_ttlv **obj)
{
    uint32_t format = 0;
    kh_wrap_spec w = {0};
    const kh_ttlv *s = NULL;
    kh_err err = opt_enum(p, KH_TAG_KEY_FORMAT_TYPE, &format);
    if (err == KH_OK)
        err = opt_struct(p, KH_TAG_KEY_WRAPPING_SPECIFICATION, &s);
    if (err == KH_OK && s)
        err = wrap_spec_in(c, s, &w);
    if (err != KH_OK)
        return err;
    err = kh_op_get_as(c->ctx, uid, format, s ? &w : NULL, object_type, obj);
    if (err == KH_ERR_KEY_FORMAT)
        c->result_message = "key format conversion not supported";
    return err;
}

/* ---- ReKey, ReKeyKeyPair --------------------------------------------- */

static kh_err offset_in(const kh_ttlv *p, int64_t *offset)
{
    const kh_ttlv *o = kh_ttlv_find(p, KH_TAG_OFFSET);
    *offset = -1;
    if (!o)
        return KH_OK;
    if (o->type != KH_TTLV_INTERVAL)
        return KH_ERR_INVALID_FIELD;
    *offset = (int64_t)(uint32_t)o->num;
    return KH_OK;
}

static kh_err op_rekey(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    int64_t offset;
    kh_ttlv *attrs = NULL;
    char *new_uid = NULL;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = offset_in(p, &offset);
    if (err == KH_OK)
        err = kh_kmip_attrs_in(
            c, p, kh_kmip_is_v2(c) ? KH_TAG_ATTRIBUTES : KH_TAG_TEMPLATE_ATTRIBUTE, 0, &attrs);
    if (err == KH_OK)
        err = kh_op_rekey(c->ctx, uid, offset, attrs, &new_uid);
    if (err == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, new_uid, true);
    free(new_uid);
    kh_ttlv_free(&attrs);
    return err;
}

static kh_err op_rekey_key_pair(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    int64_t offset;
    kh_ttlv *common = NULL, *priv = NULL, *pub = NULL;
    char *priv_uid = NULL, *pub_uid = NULL;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = offset_in(p, &offset);
    if (err == KH_OK)
        err = kh_kmip_pair_attrs_in(c, p, KH_TAG_COMMON_TEMPLATE_ATTRIBUTE,
                                    KH_TAG_COMMON_ATTRIBUTES, &common);
    if (err == KH_OK)
        err = kh_kmip_pair_attrs_in(c, p, KH_TAG_PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
                                    KH_TAG_PRIVATE_KEY_ATTRIBUTES, &priv);
    if (err == KH_OK)
        err = kh_kmip_pair_attrs_in(c, p, KH_TAG_PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
                                    KH_TAG_PUBLIC_KEY_ATTRIBUTES, &pub);
    if (err == KH_OK)
        err = kh_op_rekey_key_pair(c->ctx, uid, offset, common, priv, pub, &priv_uid, &pub_uid);
    if (err == KH_OK) {
        kh_kmip_uid_out(c, resp, KH_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER, priv_uid, true);
        kh_kmip_uid_out(c, resp, KH_TAG_PUBLIC_KEY_UNIQUE_IDENTIFIER, pub_uid, false);
    }
    free(priv_uid);
    free(pub_uid);
    kh_ttlv_free(&common);
    kh_ttlv_free(&priv);
    kh_ttlv_free(&pub);
    return err;
}

/* ---- DeriveKey -------------------------------------------------------- */

static kh_err derivation_params_in(kh_kmip_call *c, const kh_ttlv *p, kh_derive_params *d)
{
    static const uint32_t tags[] = {KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_INITIALIZATION_VECTOR,
                                    KH_TAG_DERIVATION_DATA, KH_TAG_SALT, KH_TAG_ITERATION_COUNT};
    const kh_ttlv *dp;
    memset(d, 0, sizeof(*d));
    d->iterations = -1;
    kh_err err = opt_struct(p, KH_TAG_DERIVATION_PARAMETERS, &dp);
    if (err != KH_OK)
        return err;
    if (!dp) {
        c->result_message = "no Derivation Parameters";
        return KH_ERR_MISSING_DATA;
    }
    if ((err = kh_kmip_check_tags(c, dp, tags, sizeof(tags) / sizeof(tags[0]))) == KH_OK)
        err = opt_struct(dp, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, &d->cparams);
    if (err == KH_OK)
        err = opt_bytes(dp, KH_TAG_INITIALIZATION_VECTOR, &d->iv, &d->iv_len);
    if (err == KH_OK)
        err = opt_bytes(dp, KH_TAG_DERIVATION_DATA, &d->data, &d->data_len);
    if (err == KH_OK)
        err = opt_bytes(dp, KH_TAG_SALT, &d->salt, &d->salt_len);
    const kh_ttlv *it = kh_ttlv_find(dp, KH_TAG_ITERATION_COUNT);
    if (err == KH_OK && it) {
        if (it->type != KH_TTLV_INTEGER || it->num < 1)
            return KH_ERR_INVALID_FIELD;
        d->iterations = it->num;
    }
    return err;
}

static kh_err op_derive_key(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    uint32_t type, method;
    kh_derive_params d;
    kh_ttlv *attrs = NULL;
    char *uid = NULL;
    size_t n = kh_ttlv_count(p, KH_TAG_UNIQUE_IDENTIFIER);
    const char **uids = kh_xcalloc(n ? n : 1, sizeof(*uids));
    kh_err err = kh_ttlv_get_enum(p, KH_TAG_OBJECT_TYPE, &type);
    if (err == KH_OK)
        err = kh_ttlv_get_enum(p, KH_TAG_DERIVATION_METHOD, &method);
    for (size_t i = 0; err == KH_OK && i < n; i++) {
        const kh_ttlv *u = kh_ttlv_find_nth(p, KH_TAG_UNIQUE_IDENTIFIER, i);
        if (u->type != KH_TTLV_TEXT_STRING)
            err = KH_ERR_INVALID_FIELD;
        else
            uids[i] = (const char *)u->data;
    }
    if (err == KH_OK && n == 0) {
        if (c->id_placeholder) {
            uids[0] = c->id_placeholder;
            n = 1;
        } else {
            err = KH_ERR_MISSING_DATA;
        }
    }
    if (err == KH_OK)
        err = derivation_params_in(c, p, &d);
    if (err == KH_OK)
        err = kh_kmip_attrs_in(
            c, p, kh_kmip_is_v2(c) ? KH_TAG_ATTRIBUTES : KH_TAG_TEMPLATE_ATTRIBUTE, 0, &attrs);
    if (err == KH_OK)
        err = kh_op_derive_key(c->ctx, type, uids, n, method, &d, attrs, &uid);
    if (err == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    free(uid);
    free(uids);
    kh_ttlv_free(&attrs);
    return err;
}

/* Certify: the public key named (or, without a request, the ID
 * placeholder), a PKCS#10 request, or both; ops/certify.h says how the
 * issuer is chosen. */
static kh_err op_certify(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_certify_req r = {0};
    kh_ttlv *attrs = NULL;
    char *uid = NULL;
    kh_err err = opt_enum(p, KH_TAG_CERTIFICATE_REQUEST_TYPE, &r.req_type);
    if (err == KH_OK)
        err = opt_bytes(p, KH_TAG_CERTIFICATE_REQUEST, &r.req, &r.req_len);
    if (err == KH_OK && !r.req != !r.req_type)
        err = KH_ERR_MISSING_DATA; /* a request needs both its type and its value */
    if (err == KH_OK && r.req && r.req_len == 0)
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK && kh_ttlv_find(p, KH_TAG_CERTIFICATE_REQUEST_UNIQUE_IDENTIFIER)) {
        c->result_message = "certificate requests held as objects are not supported";
        err = KH_ERR_UNSUPPORTED;
    }
    if (err == KH_OK && (kh_ttlv_find(p, KH_TAG_UNIQUE_IDENTIFIER) || !r.req))
        err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &r.pub_uid);
    if (err == KH_OK)
        err = kh_kmip_attrs_in(
            c, p, kh_kmip_is_v2(c) ? KH_TAG_ATTRIBUTES : KH_TAG_TEMPLATE_ATTRIBUTE, 0, &attrs);
    r.attrs = attrs;
    if (err == KH_OK)
        err = kh_op_certify(c->ctx, &r, &uid);
    if (err == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    free(uid);
    kh_ttlv_free(&attrs);
    return err;
}

const kh_kmip_op kh_kmip_keyops_ops[] = {
    {KH_OPERATION_REKEY, op_rekey,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_OFFSET, KH_TAG_TEMPLATE_ATTRIBUTE, KH_TAG_ATTRIBUTES,
             KH_TAG_PROTECTION_STORAGE_MASKS)},
    {KH_OPERATION_REKEY_KEY_PAIR, op_rekey_key_pair,
     KH_TAGS(KH_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER, KH_TAG_OFFSET, KH_TAG_COMMON_TEMPLATE_ATTRIBUTE,
             KH_TAG_PRIVATE_KEY_TEMPLATE_ATTRIBUTE, KH_TAG_PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
             KH_TAG_COMMON_ATTRIBUTES, KH_TAG_PRIVATE_KEY_ATTRIBUTES, KH_TAG_PUBLIC_KEY_ATTRIBUTES,
             KH_TAG_COMMON_PROTECTION_STORAGE_MASKS, KH_TAG_PRIVATE_PROTECTION_STORAGE_MASKS,
             KH_TAG_PUBLIC_PROTECTION_STORAGE_MASKS)},
    {KH_OPERATION_DERIVE_KEY, op_derive_key,
     KH_TAGS(KH_TAG_OBJECT_TYPE, KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_DERIVATION_METHOD,
             KH_TAG_DERIVATION_PARAMETERS, KH_TAG_TEMPLATE_ATTRIBUTE, KH_TAG_ATTRIBUTES)},
    {KH_OPERATION_CERTIFY, op_certify,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CERTIFICATE_REQUEST_TYPE, KH_TAG_CERTIFICATE_REQUEST,
             KH_TAG_CERTIFICATE_REQUEST_UNIQUE_IDENTIFIER, KH_TAG_TEMPLATE_ATTRIBUTE,
             KH_TAG_ATTRIBUTES, KH_TAG_PROTECTION_STORAGE_MASKS)},
};

const size_t kh_kmip_keyops_ops_count = sizeof(kh_kmip_keyops_ops) / sizeof(kh_kmip_keyops_ops[0]);
