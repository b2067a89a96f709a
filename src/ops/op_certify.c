/*
 * op_certify.c - Certify (the rules are in certify.h).
 *
 * Every object involved must be the caller's own: a CA key is the last
 * thing a grant should lend by accident. A request that names nothing to
 * certify is MissingData, an issuer that does not fit (wrong type, a
 * certificate for another key) InvalidField, a request whose signature
 * does not verify InvalidField.
 */
#include "ops/certify.h"

#include "common/mem.h"
#include "crypto/x509.h"
#include "ops/attrs.h"
#include "ops/crypto_key.h"
#include "ops/object.h"
#include "proto/kmip_consts.h"

#include <string.h>

#define DAY 86400

/* What is being certified. */
typedef struct subject {
    kh_pkey *key;
    uint8_t *name; /* DER X.509 Name from the request, or NULL */
    size_t name_len;
    char *cn; /* when there is no request */
} subject;

static void subject_clear(subject *s)
{
    kh_pkey_free(&s->key);
    free(s->name);
    free(s->cn);
    memset(s, 0, sizeof(*s));
}

/* The uid of the first Link of type in attrs, or NULL. */
static const char *link_in(const kh_ttlv *attrs, uint32_t type)
{
    for (size_t i = 0; attrs && i < attrs->nkids; i++) {
        const kh_ttlv *l = attrs->kids[i];
        const kh_ttlv *lt = l->tag == KH_TAG_LINK ? kh_ttlv_find(l, KH_TAG_LINK_TYPE) : NULL;
        const kh_ttlv *id = kh_ttlv_find(l, KH_TAG_LINKED_OBJECT_IDENTIFIER);
        if (lt && id && lt->num == (int64_t)type && id->type == KH_TTLV_TEXT_STRING)
            return (const char *)id->data;
    }
    return NULL;
}

static kh_err from_request(const kh_certify_req *r, subject *s)
{
    if (r->req_type == KH_CERTIFICATE_REQUEST_TYPE_CRMF ||
        r->req_type == KH_CERTIFICATE_REQUEST_TYPE_PGP)
        return KH_ERR_UNSUPPORTED;
    if (r->req_type != KH_CERTIFICATE_REQUEST_TYPE_PKCS10 &&
        r->req_type != KH_CERTIFICATE_REQUEST_TYPE_PEM)
        return KH_ERR_INVALID_FIELD;
    kh_err err = kh_x509_csr_read(&s->key, &s->name, &s->name_len, r->req, r->req_len,
                                  r->req_type == KH_CERTIFICATE_REQUEST_TYPE_PEM);
    return err == KH_ERR_UNSUPPORTED ? err : (err == KH_OK ? KH_OK : KH_ERR_INVALID_FIELD);
}

/* The caller's PublicKey uid: its key, and its name for a subject CN. */
static kh_err from_public_key(kh_ctx *ctx, const char *uid, subject *s)
{
    kh_object *o = NULL;
    kh_ttlv *m = NULL;
    kh_pkey *k = NULL;
    kh_err err = kh_object_load_perm(ctx, uid, 0, &o);
    if (err != KH_OK)
        return err;
    if (o->row->object_type != (int32_t)KH_OBJECT_TYPE_PUBLIC_KEY)
        err = KH_ERR_INVALID_FIELD;
    else if ((err = kh_object_material(ctx, o, &m)) == KH_OK)
        err = kh_public_key_of(m, &k);
    if (err == KH_OK && s->key && !kh_pkey_public_equal(s->key, k))
        err = KH_ERR_INVALID_FIELD; /* the request is for another key */
    if (err == KH_OK && !s->key) {
        s->key = k;
        k = NULL;
        s->cn = kh_xstrdup(o->row->n_names ? o->row->names[0] : o->row->uid);
    }
    kh_pkey_free(&k);
    kh_ttlv_free(&m);
    kh_object_free(&o);
    return err;
}

/* The issuer's certificate (DER, malloc'd): the caller's, X.509, for key. */
static kh_err issuer_certificate(kh_ctx *ctx, const char *uid, const kh_pkey *key, uint8_t **der,
                                 size_t *len)
{
    kh_object *o = NULL;
    kh_ttlv *m = NULL;
    kh_pkey *k = NULL;
    kh_err err = kh_object_load_perm(ctx, uid, 0, &o);
    if (err != KH_OK)
        return err;
    uint32_t ct = 0;
    const kh_ttlv *v = NULL;
    if (o->row->object_type != (int32_t)KH_OBJECT_TYPE_CERTIFICATE)
        err = KH_ERR_INVALID_FIELD;
    else if ((err = kh_object_material(ctx, o, &m)) == KH_OK &&
             (kh_ttlv_get_enum(m, KH_TAG_CERTIFICATE_TYPE, &ct) != KH_OK ||
              ct != KH_CERTIFICATE_TYPE_X_509 || !(v = kh_ttlv_find(m, KH_TAG_CERTIFICATE_VALUE))))
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK && kh_x509_public_key(&k, v->data, v->len) != KH_OK)
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK && !kh_pkey_public_equal(k, key))
        err = KH_ERR_INVALID_FIELD; /* a certificate for another key */
    if (err == KH_OK) {
        *der = kh_xmalloc(v->len);
        memcpy(*der, v->data, v->len);
        *len = v->len;
    }
    kh_pkey_free(&k);
    kh_ttlv_free(&m);
    kh_object_free(&o);
    return err;
}

/* The attributes the new certificate keeps: all but the PrivateKeyLink
 * (a certificate has no private key of its own), plus a PublicKeyLink to
 * the certified key when one was named. */
static kh_ttlv *stored_attrs(const kh_certify_req *r)
{
    kh_ttlv *out = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    for (size_t i = 0; r->attrs && i < r->attrs->nkids; i++) {
        const kh_ttlv *a = r->attrs->kids[i];
        const kh_ttlv *lt = a->tag == KH_TAG_LINK ? kh_ttlv_find(a, KH_TAG_LINK_TYPE) : NULL;
        if (lt &&
            (lt->num == KH_LINK_TYPE_PRIVATE_KEY_LINK || lt->num == KH_LINK_TYPE_PUBLIC_KEY_LINK))
            continue;
        kh_ttlv_add_take(out, kh_ttlv_dup(a));
    }
    if (r->pub_uid) {
        kh_ttlv *l = kh_ttlv_add_take(out, kh_ttlv_new_struct(KH_TAG_LINK));
        kh_ttlv_add_take(l, kh_ttlv_new_enum(KH_TAG_LINK_TYPE, KH_LINK_TYPE_PUBLIC_KEY_LINK));
        kh_ttlv_add_take(l, kh_ttlv_new_text(KH_TAG_LINKED_OBJECT_IDENTIFIER, r->pub_uid));
    }
    return out;
}

static kh_err store(kh_ctx *ctx, const kh_certify_req *r, const uint8_t *der, size_t len,
                    char **uid)
{
    kh_ttlv *cert = kh_ttlv_new_struct(KH_TAG_CERTIFICATE);
    kh_ttlv_add_take(cert, kh_ttlv_new_enum(KH_TAG_CERTIFICATE_TYPE, KH_CERTIFICATE_TYPE_X_509));
    kh_ttlv_add_take(cert, kh_ttlv_new_bytes(KH_TAG_CERTIFICATE_VALUE, der, len));
    kh_ttlv *attrs = stored_attrs(r);
    kh_err err = kh_op_register(ctx, KH_OBJECT_TYPE_CERTIFICATE, attrs, cert, uid);
    kh_ttlv_free(&attrs);
    kh_ttlv_free(&cert);
    return err;
}

/* The issuer's private key: a PrivateKey first (a certificate named
 * there is a wrong field, whatever its state), then usable for Sign. */
static kh_err signing_key(kh_ctx *ctx, const char *uid, kh_use_key *k)
{
    kh_object *o = NULL;
    kh_err err = kh_object_load_perm(ctx, uid, 0, &o);
    if (err == KH_OK && o->row->object_type != (int32_t)KH_OBJECT_TYPE_PRIVATE_KEY)
        err = KH_ERR_INVALID_FIELD;
    kh_object_free(&o);
    if (err == KH_OK)
        err = kh_use_key_load(ctx, uid, KH_USE_PROTECT, KH_CRYPTOGRAPHIC_USAGE_MASK_SIGN, k);
    if (err == KH_OK && !k->pkey) {
        kh_use_key_clear(k);
        err = KH_ERR_INVALID_FIELD;
    }
    return err;
}

static int64_t not_after(const kh_ctx *ctx, const kh_ttlv *attrs)
{
    const kh_ttlv *d = attrs ? kh_ttlv_find(attrs, KH_TAG_DEACTIVATION_DATE) : NULL;
    if (d && d->type == KH_TTLV_DATE_TIME && d->num > ctx->now)
        return d->num;
    return ctx->now + (int64_t)KH_CERTIFY_DEFAULT_DAYS * DAY;
}

kh_err kh_op_certify(kh_ctx *ctx, const kh_certify_req *r, char **uid)
{
    subject s = {0};
    kh_use_key signer = {0};
    uint8_t *issuer_der = NULL, *der = NULL;
    size_t issuer_len = 0, der_len = 0;
    kh_ctx own = *ctx;
    own.perm = 0; /* the caller's own objects only */
    const char *priv_uid = link_in(r->attrs, KH_LINK_TYPE_PRIVATE_KEY_LINK);
    const char *issuer_uid = link_in(r->attrs, KH_LINK_TYPE_CERTIFICATE_LINK);
    kh_err err = KH_OK;
    if (!r->req && !r->pub_uid)
        err = KH_ERR_MISSING_DATA;
    if (err == KH_OK && r->req)
        err = from_request(r, &s);
    if (err == KH_OK && r->pub_uid)
        err = from_public_key(&own, r->pub_uid, &s);
    if (err == KH_OK && !priv_uid)
        err = KH_ERR_MISSING_DATA; /* nobody to sign it */
    if (err == KH_OK)
        err = signing_key(&own, priv_uid, &signer);
    if (err == KH_OK && issuer_uid)
        err = issuer_certificate(&own, issuer_uid, signer.pkey, &issuer_der, &issuer_len);
    else if (err == KH_OK && !kh_pkey_public_equal(signer.pkey, s.key))
        err = KH_ERR_MISSING_DATA; /* self-issued needs the subject's own key */
    if (err == KH_OK) {
        kh_x509_issue_params p = {s.key,       s.name,     s.name_len,
                                  s.cn,        issuer_der, issuer_len,
                                  signer.pkey, ctx->now,   not_after(ctx, r->attrs)};
        err = kh_x509_issue(&der, &der_len, &p);
        if (err == KH_ERR_CRYPTO)
            err = KH_ERR_INVALID_FIELD; /* e.g. a subject name that does not encode */
    }
    if (err == KH_OK)
        err = store(&own, r, der, der_len, uid);
    free(der);
    free(issuer_der);
    kh_use_key_clear(&signer);
    subject_clear(&s);
    return err;
}
