/*
 * op_certlink.c - links between a certificate and its public key (the
 * rule is in certlink.h).
 *
 * Matching compares the public keys themselves (EVP_PKEY_eq over the
 * certificate's SubjectPublicKeyInfo and the key's PKCS#1 / X.509 / raw
 * material), so an RSA key registered as PKCS#1 matches its certificate.
 * Finding a peer opens at most KH_CERTLINK_CANDIDATES objects: the search
 * stays cheap however many objects the caller has, at the price of missing
 * a peer older than that (the client can then name it with a Link).
 */
#include "ops/certlink.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/x509.h"
#include "ops/attrs.h"
#include "ops/crypto_key.h"
#include "proto/kmip_consts.h"

#include <string.h>

/* The link type o carries towards its peer, and the one the peer gets. */
static uint32_t own_link(const kh_object *o)
{
    return o->row->object_type == (int32_t)KH_OBJECT_TYPE_CERTIFICATE
               ? KH_LINK_TYPE_PUBLIC_KEY_LINK
               : KH_LINK_TYPE_CERTIFICATE_LINK;
}

static uint32_t peer_type(const kh_object *o)
{
    return o->row->object_type == (int32_t)KH_OBJECT_TYPE_CERTIFICATE ? KH_OBJECT_TYPE_PUBLIC_KEY
                                                                      : KH_OBJECT_TYPE_CERTIFICATE;
}

/* The public key in a managed object: a Certificate's subject key or a
 * PublicKey's material. KH_ERR_NOT_FOUND when there is none to compare
 * (not X.509, wrapped, a format we do not read). */
static kh_err public_key_in(uint32_t type, const kh_ttlv *obj, kh_pkey **out)
{
    if (type == KH_OBJECT_TYPE_PUBLIC_KEY)
        return kh_public_key_of(obj, out) == KH_OK ? KH_OK : KH_ERR_NOT_FOUND;
    uint32_t ct;
    if (kh_ttlv_get_enum(obj, KH_TAG_CERTIFICATE_TYPE, &ct) != KH_OK ||
        ct != KH_CERTIFICATE_TYPE_X_509)
        return KH_ERR_NOT_FOUND;
    const kh_ttlv *v = kh_ttlv_find(obj, KH_TAG_CERTIFICATE_VALUE);
    if (!v || v->type != KH_TTLV_BYTE_STRING)
        return KH_ERR_NOT_FOUND;
    kh_err err = kh_x509_public_key(out, v->data, v->len);
    if (err == KH_ERR_UNSUPPORTED)
        return KH_ERR_NOT_FOUND; /* a key type we do not use: stored, not linked */
    return err == KH_OK ? KH_OK : KH_ERR_INVALID_FIELD;
}

/* Load uid as a candidate peer (the caller's own, of type): does it hold
 * key? KH_ERR_NOT_FOUND when absent, someone else's or without material. */
static kh_err peer_matches(kh_ctx *ctx, const char *uid, uint32_t type, const kh_pkey *key,
                           bool *match)
{
    kh_object *p = NULL;
    kh_ttlv *m = NULL;
    kh_pkey *pk = NULL;
    *match = false;
    kh_err err = kh_object_load_perm(ctx, uid, 0, &p); /* owner only */
    if (err != KH_OK)
        return err;
    if (p->row->object_type != (int32_t)type) {
        err = KH_ERR_INVALID_FIELD;
        goto out;
    }
    if ((err = kh_object_material(ctx, p, &m)) != KH_OK ||
        (err = public_key_in(type, m, &pk)) != KH_OK) {
        err = KH_ERR_NOT_FOUND;
        goto out;
    }
    *match = kh_pkey_public_equal(key, pk);
out:
    kh_pkey_free(&pk);
    kh_ttlv_free(&m);
    kh_object_free(&p);
    return err;
}

static void add_peer(kh_certlink *cl, const char *uid)
{
    cl->peers = kh_xrealloc(cl->peers, (cl->n + 1) * sizeof(*cl->peers));
    cl->peers[cl->n++] = kh_xstrdup(uid);
}

/* Every client-given link of o's type must name a matching object. */
static kh_err check_client_links(kh_ctx *ctx, kh_object *o, const kh_pkey *key, kh_certlink *cl)
{
    kh_attr_ref ref = {KH_TAG_LINK, NULL};
    size_t n = kh_attr_count(o->attrs, &ref);
    for (size_t i = 0; i < n; i++) {
        const kh_ttlv *l = kh_attr_find(o->attrs, &ref, (int32_t)i, NULL);
        uint32_t lt;
        const char *uid;
        if (kh_ttlv_get_enum(l, KH_TAG_LINK_TYPE, &lt) != KH_OK || lt != own_link(o))
            continue;
        if (kh_ttlv_get_text(l, KH_TAG_LINKED_OBJECT_IDENTIFIER, &uid) != KH_OK)
            return KH_ERR_INVALID_FIELD;
        bool match;
        kh_err err = peer_matches(ctx, uid, peer_type(o), key, &match);
        if (err != KH_OK)
            return err;
        if (!match)
            return KH_ERR_INVALID_FIELD;
        add_peer(cl, uid);
    }
    return KH_OK;
}

static void link_to(kh_object *o, uint32_t type, const char *uid)
{
    kh_ttlv *l = kh_ttlv_new_struct(KH_TAG_LINK);
    kh_ttlv_add_take(l, kh_ttlv_new_enum(KH_TAG_LINK_TYPE, type));
    kh_ttlv_add_take(l, kh_ttlv_new_text(KH_TAG_LINKED_OBJECT_IDENTIFIER, uid));
    kh_ttlv_add_take(o->attrs, l);
}

/* The newest of the caller's recent objects of the peer type holding key. */
static kh_err find_peer(kh_ctx *ctx, kh_object *o, const kh_pkey *key, kh_certlink *cl)
{
    kh_locate_query q;
    kh_locate_query_init(&q);
    q.owner = ctx->principal;
    q.object_type = (int32_t)peer_type(o);
    q.limit = KH_CERTLINK_CANDIDATES;
    char **uids = NULL;
    size_t n = 0;
    kh_err err = kh_store_object_locate(ctx->svc->store, &q, &uids, &n);
    if (err != KH_OK)
        return err;
    for (size_t i = 0; i < n && cl->n == 0 && err == KH_OK; i++) {
        bool match = false;
        kh_err e = peer_matches(ctx, uids[i], peer_type(o), key, &match);
        if (e == KH_OK && match)
            add_peer(cl, uids[i]);
        else if (e != KH_OK && e != KH_ERR_NOT_FOUND)
            err = e;
    }
    for (size_t i = 0; i < n; i++)
        free(uids[i]);
    free(uids);
    if (err == KH_OK && cl->n)
        link_to(o, own_link(o), cl->peers[0]);
    return err;
}

kh_err kh_certlink_prepare(kh_ctx *ctx, kh_object *o, const kh_ttlv *obj, kh_certlink *cl)
{
    memset(cl, 0, sizeof(*cl));
    uint32_t type = (uint32_t)o->row->object_type;
    if (type != KH_OBJECT_TYPE_CERTIFICATE && type != KH_OBJECT_TYPE_PUBLIC_KEY)
        return KH_OK;
    kh_pkey *key = NULL;
    kh_err err = public_key_in(type, obj, &key);
    if (err == KH_ERR_NOT_FOUND)
        return KH_OK; /* nothing we can compare: stored without links */
    if (err != KH_OK)
        return err;
    /* Links to objects of the caller's only: perm 0 is owner-only. */
    kh_ctx own = *ctx;
    own.perm = 0;
    err = check_client_links(&own, o, key, cl);
    if (err == KH_OK && cl->n == 0)
        err = find_peer(&own, o, key, cl);
    kh_pkey_free(&key);
    if (err != KH_OK)
        kh_certlink_clear(cl);
    return err;
}

struct back_link {
    uint32_t type;
    const char *uid;
};

static kh_err add_back_link(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)ctx;
    const struct back_link *b = arg;
    kh_attr_ref ref = {KH_TAG_LINK, NULL};
    size_t n = kh_attr_count(o->attrs, &ref);
    for (size_t i = 0; i < n; i++) {
        const kh_ttlv *l = kh_attr_find(o->attrs, &ref, (int32_t)i, NULL);
        const kh_ttlv *id = kh_ttlv_find(l, KH_TAG_LINKED_OBJECT_IDENTIFIER);
        const kh_ttlv *lt = kh_ttlv_find(l, KH_TAG_LINK_TYPE);
        if (id && lt && lt->num == (int64_t)b->type && id->type == KH_TTLV_TEXT_STRING &&
            strcmp((const char *)id->data, b->uid) == 0)
            return KH_OK; /* already there */
    }
    link_to(o, b->type, b->uid);
    return KH_OK;
}

void kh_certlink_finish(kh_ctx *ctx, const kh_object *o, const kh_certlink *cl)
{
    kh_ctx own = *ctx;
    own.perm = 0;
    uint32_t back = own_link(o) == KH_LINK_TYPE_PUBLIC_KEY_LINK ? KH_LINK_TYPE_CERTIFICATE_LINK
                                                                : KH_LINK_TYPE_PUBLIC_KEY_LINK;
    struct back_link b = {back, o->row->uid};
    for (size_t i = 0; i < cl->n; i++) {
        kh_err err = kh_object_update(&own, cl->peers[i], add_back_link, &b);
        if (err != KH_OK)
            kh_warn("object %s: link back to %s not added: %s", cl->peers[i], o->row->uid,
                    kh_err_name(err));
    }
}

void kh_certlink_clear(kh_certlink *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        free(cl->peers[i]);
    free(cl->peers);
    memset(cl, 0, sizeof(*cl));
}
