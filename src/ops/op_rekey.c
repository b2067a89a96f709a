/*
 * op_rekey.c - ReKey and ReKeyKeyPair: a new key takes over from an old
 * one, with its attributes, and the two are linked both ways.
 *
 * The old key is left as it is apart from its ReplacementObject link: a
 * key being replaced is still needed to decrypt and verify what it
 * protected, until someone deactivates it. The new object is inserted
 * before the old one is linked to it, so a failure in between leaves a new
 * key that names its predecessor rather than a link to nothing.
 */
#include "ops/attrs.h"
#include "ops/audit.h"
#include "ops/keyops.h"
#include "ops/object.h"
#include "ops/realm.h"

#include "common/mem.h"
#include "crypto/pkey.h"
#include "crypto/rand.h"
#include "crypto/secbuf.h"
#include "proto/kmip_consts.h"

#include <string.h>

static uint32_t link_type(const kh_ttlv *a)
{
    const kh_ttlv *t = a->tag == KH_TAG_LINK ? kh_ttlv_find(a, KH_TAG_LINK_TYPE) : NULL;
    return (t && t->type == KH_TTLV_ENUMERATION) ? (uint32_t)t->num : 0;
}

/* Attributes that describe the old object's own history, not the key's
 * purpose: the successor gets fresh ones or none. */
static bool inherited(const kh_ttlv *a)
{
    switch (a->tag) {
    case KH_TAG_INITIAL_DATE:
    case KH_TAG_LAST_CHANGE_DATE:
    case KH_TAG_DESTROY_DATE:
    case KH_TAG_COMPROMISE_DATE:
    case KH_TAG_COMPROMISE_OCCURRENCE_DATE:
    case KH_TAG_REVOCATION_REASON:
    case KH_TAG_ARCHIVE_DATE:
    case KH_TAG_FRESH:
    case KH_TAG_DIGEST:
        return false;
    case KH_TAG_LINK:
        switch (link_type(a)) {
        case KH_LINK_TYPE_REPLACEMENT_OBJECT_LINK:
        case KH_LINK_TYPE_REPLACED_OBJECT_LINK:
        case KH_LINK_TYPE_PUBLIC_KEY_LINK:
        case KH_LINK_TYPE_PRIVATE_KEY_LINK:
            return false;
        default:
            return true;
        }
    default:
        return true;
    }
}

static bool shifted_date(uint32_t tag)
{
    return tag == KH_TAG_PROCESS_START_DATE || tag == KH_TAG_PROTECT_STOP_DATE ||
           tag == KH_TAG_DEACTIVATION_DATE;
}

static void add_link(kh_object *o, uint32_t type, const char *uid)
{
    kh_ttlv *l = kh_ttlv_new_struct(KH_TAG_LINK);
    kh_ttlv_add_take(l, kh_ttlv_new_enum(KH_TAG_LINK_TYPE, type));
    kh_ttlv_add_take(l, kh_ttlv_new_text(KH_TAG_LINKED_OBJECT_IDENTIFIER, uid));
    kh_ttlv_add_take(o->attrs, l);
}

/* The new object for old: same type, algorithm, length and attributes;
 * with an Offset the Activation Date is now + offset and the other dates
 * keep their distance to it (KMIP's table of dates for Re-key). */
static kh_err successor(kh_ctx *ctx, const kh_object *old, int64_t offset, const kh_ttlv *attrs,
                        const kh_ttlv *more, kh_object **out)
{
    /* the successor goes where its predecessor is (ops/realm.h): a realm
     * named by the client would move it out of the members' reach */
    kh_attr_ref realm = {KH_TAG_ATTRIBUTE, KH_REALM_ATTRIBUTE};
    if ((attrs && kh_attr_find(attrs, &realm, 0, NULL)) ||
        (more && kh_attr_find(more, &realm, 0, NULL)))
        return KH_ERR_ATTR_READ_ONLY;
    kh_object *o = kh_object_new(ctx, (uint32_t)old->row->object_type);
    /* the successor keeps its predecessor's owner: a grantee or realm
     * member allowed to Rekey must not become the owner (Export, Destroy,
     * access after leaving) of the key that replaces one it may not own */
    free(o->row->owner);
    o->row->owner = kh_xstrdup(old->row->owner);
    o->row->algorithm = old->row->algorithm;
    o->row->length = old->row->length;
    const kh_ttlv *act = kh_ttlv_find(old->attrs, KH_TAG_ACTIVATION_DATE);
    int64_t delta = (offset >= 0 && act) ? ctx->now + offset - act->num : 0;
    for (size_t i = 0; i < old->attrs->nkids; i++) {
        const kh_ttlv *a = old->attrs->kids[i];
        if (!inherited(a) || (offset >= 0 && a->tag == KH_TAG_ACTIVATION_DATE))
            continue;
        kh_ttlv *copy = kh_ttlv_dup(a);
        if (offset >= 0 && shifted_date(a->tag))
            copy->num += delta;
        kh_ttlv_add_take(o->attrs, copy);
    }
    if (offset >= 0)
        kh_object_set_date(o, KH_TAG_ACTIVATION_DATE, ctx->now + offset);
    add_link(o, KH_LINK_TYPE_REPLACED_OBJECT_LINK, old->row->uid);
    /* the client's attributes last; this also sets the state from the
     * Activation Date */
    kh_err err = kh_object_apply_client_attrs(ctx, o, attrs);
    if (err == KH_OK)
        err = kh_object_apply_client_attrs(ctx, o, more);
    if (err == KH_OK &&
        (o->row->algorithm != old->row->algorithm || o->row->length != old->row->length))
        err = KH_ERR_INVALID_FIELD; /* a re-key is the same kind of key */
    if (err != KH_OK) {
        kh_object_free(&o);
        return err;
    }
    *out = o;
    return KH_OK;
}

static kh_err replaceable(const kh_object *o, uint32_t type)
{
    if (o->row->object_type != (int32_t)type)
        return KH_ERR_INVALID_FIELD;
    int32_t s = o->row->state;
    if (kh_state_is_destroyed(s) || s == (int32_t)KH_STATE_COMPROMISED)
        return KH_ERR_WRONG_STATE;
    return KH_OK;
}

static kh_err link_replacement(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)ctx;
    add_link(o, KH_LINK_TYPE_REPLACEMENT_OBJECT_LINK, (const char *)arg);
    return KH_OK;
}

/* ---- ReKey ------------------------------------------------------------ */

static kh_ttlv *symmetric_material(const kh_obj_row *row, const kh_secbuf *key)
{
    kh_ttlv *sk = kh_ttlv_new_struct(KH_TAG_SYMMETRIC_KEY);
    kh_ttlv *kb = kh_ttlv_add_take(sk, kh_ttlv_new_struct(KH_TAG_KEY_BLOCK));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_KEY_FORMAT_TYPE, KH_KEY_FORMAT_TYPE_RAW));
    kh_ttlv *kv = kh_ttlv_add_take(kb, kh_ttlv_new_struct(KH_TAG_KEY_VALUE));
    kh_ttlv_add_take(kv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, key->data, key->len));
    kh_ttlv_add_take(kb,
                     kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, (uint32_t)row->algorithm));
    kh_ttlv_add_take(kb, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, row->length));
    return sk;
}

kh_err kh_op_rekey(kh_ctx *ctx, const char *uid, int64_t offset, const kh_ttlv *attrs,
                   char **new_uid)
{
    kh_object *old = NULL, *o = NULL;
    kh_secbuf *key = NULL;
    kh_ttlv *m = NULL;
    kh_err err = kh_object_load(ctx, uid, &old);
    if (err != KH_OK)
        return err;
    if ((err = replaceable(old, KH_OBJECT_TYPE_SYMMETRIC_KEY)) != KH_OK)
        goto out;
    if (old->row->length <= 0 || old->row->length % 8 || old->row->length > 8192) {
        /* no Cryptographic Length to repeat, or one we would not create */
        err = old->row->length <= 0 ? KH_ERR_MISSING_DATA : KH_ERR_INVALID_FIELD;
        goto out;
    }
    if ((err = successor(ctx, old, offset, attrs, NULL, &o)) != KH_OK)
        goto out;
    key = kh_secbuf_new((size_t)o->row->length / 8);
    if ((err = kh_random_secret(key->data, key->len)) != KH_OK)
        goto out;
    m = symmetric_material(o->row, key);
    kh_audit_hold(ctx); /* the audit row goes with the last write (ops/audit.h) */
    err = kh_object_insert(ctx, o, m);
    kh_audit_release(ctx);
    if (err != KH_OK)
        goto out;
    if ((err = kh_object_update(ctx, old->row->uid, link_replacement, o->row->uid)) != KH_OK)
        goto out;
    *new_uid = kh_xstrdup(o->row->uid);
out:
    kh_ttlv_free(&m);
    kh_secbuf_free(&key);
    kh_object_free(&o);
    kh_object_free(&old);
    return err;
}

/* ---- ReKeyKeyPair ----------------------------------------------------- */

static const char *linked(const kh_object *o, uint32_t type)
{
    for (size_t i = 0; i < o->attrs->nkids; i++) {
        const kh_ttlv *a = o->attrs->kids[i];
        if (link_type(a) != type)
            continue;
        const kh_ttlv *id = kh_ttlv_find(a, KH_TAG_LINKED_OBJECT_IDENTIFIER);
        if (id && id->type == KH_TTLV_TEXT_STRING)
            return (const char *)id->data;
    }
    return NULL;
}

static kh_err pkey_type_of_row(const kh_obj_row *r, kh_pkey_type *t)
{
    switch ((uint32_t)r->algorithm) {
    case KH_CRYPTOGRAPHIC_ALGORITHM_RSA:
        *t = KH_PKEY_RSA;
        return (r->length == 2048 || r->length == 3072 || r->length == 4096) ? KH_OK
                                                                             : KH_ERR_UNSUPPORTED;
    case KH_CRYPTOGRAPHIC_ALGORITHM_EC:
    case KH_CRYPTOGRAPHIC_ALGORITHM_ECDSA:
        *t = r->length == 256   ? KH_PKEY_EC_P256
             : r->length == 384 ? KH_PKEY_EC_P384
             : r->length == 521 ? KH_PKEY_EC_P521
                                : 0;
        return *t ? KH_OK : KH_ERR_UNSUPPORTED;
    case KH_CRYPTOGRAPHIC_ALGORITHM_ED25519:
        *t = KH_PKEY_ED25519;
        return KH_OK;
    default:
        return KH_ERR_UNSUPPORTED;
    }
}

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

/* A fresh pair in the formats CreateKeyPair stores. */
static kh_err pair_materials(const kh_object *po, const kh_object *uo, kh_ttlv **pm, kh_ttlv **um)
{
    kh_pkey_type t = KH_PKEY_RSA;
    kh_pkey *k = NULL;
    kh_secbuf *sk = NULL;
    uint8_t *pk = NULL;
    size_t pk_len = 0;
    kh_err err = pkey_type_of_row(po->row, &t);
    bool rsa = t == KH_PKEY_RSA;
    if (err == KH_OK)
        err = kh_pkey_generate(&k, t, (unsigned)po->row->length);
    if (err == KH_OK)
        err = kh_pkey_export_private(&sk, k, rsa ? KH_PKEY_PKCS1 : KH_PKEY_PKCS8);
    if (err == KH_OK)
        err = kh_pkey_export_public(&pk, &pk_len, k, rsa ? KH_PKEY_PKCS1 : KH_PKEY_SPKI);
    if (err == KH_OK) {
        *pm = key_object(KH_TAG_PRIVATE_KEY,
                         rsa ? KH_KEY_FORMAT_TYPE_PKCS_1 : KH_KEY_FORMAT_TYPE_PKCS_8, po->row,
                         sk->data, sk->len);
        *um = key_object(KH_TAG_PUBLIC_KEY,
                         rsa ? KH_KEY_FORMAT_TYPE_PKCS_1 : KH_KEY_FORMAT_TYPE_X_509, uo->row, pk,
                         pk_len);
    }
    free(pk);
    kh_secbuf_free(&sk);
    kh_pkey_free(&k);
    return err;
}

kh_err kh_op_rekey_key_pair(kh_ctx *ctx, const char *priv_uid, int64_t offset,
                            const kh_ttlv *common, const kh_ttlv *priv, const kh_ttlv *pub,
                            char **new_priv, char **new_pub)
{
    kh_object *old_p = NULL, *old_u = NULL, *po = NULL, *uo = NULL;
    kh_ttlv *pm = NULL, *um = NULL;
    kh_err err = kh_object_load(ctx, priv_uid, &old_p);
    if (err != KH_OK)
        return err;
    if ((err = replaceable(old_p, KH_OBJECT_TYPE_PRIVATE_KEY)) != KH_OK)
        goto out;
    const char *pub_uid = linked(old_p, KH_LINK_TYPE_PUBLIC_KEY_LINK);
    if (!pub_uid) {
        err = KH_ERR_INVALID_FIELD; /* a private key with no public half to replace */
        goto out;
    }
    if ((err = kh_object_load(ctx, pub_uid, &old_u)) != KH_OK ||
        (err = replaceable(old_u, KH_OBJECT_TYPE_PUBLIC_KEY)) != KH_OK)
        goto out;
    if ((err = successor(ctx, old_p, offset, common, priv, &po)) != KH_OK ||
        (err = successor(ctx, old_u, offset, common, pub, &uo)) != KH_OK)
        goto out;
    add_link(po, KH_LINK_TYPE_PUBLIC_KEY_LINK, uo->row->uid);
    add_link(uo, KH_LINK_TYPE_PRIVATE_KEY_LINK, po->row->uid);
    if ((err = pair_materials(po, uo, &pm, &um)) != KH_OK)
        goto out;
    /* the new pair in one transaction: never one half alone */
    kh_object *objs[] = {uo, po};
    const kh_ttlv *mats[] = {um, pm};
    kh_audit_hold(ctx); /* the audit row goes with the last write (ops/audit.h) */
    err = kh_object_insert_many(ctx, objs, mats, 2);
    if (err == KH_OK)
        err = kh_object_update(ctx, old_u->row->uid, link_replacement, uo->row->uid);
    kh_audit_release(ctx);
    if (err != KH_OK ||
        (err = kh_object_update(ctx, old_p->row->uid, link_replacement, po->row->uid)) != KH_OK)
        goto out;
    *new_priv = kh_xstrdup(po->row->uid);
    *new_pub = kh_xstrdup(uo->row->uid);
out:
    kh_ttlv_free(&pm);
    kh_ttlv_free(&um);
    kh_object_free(&po);
    kh_object_free(&uo);
    kh_object_free(&old_u);
    kh_object_free(&old_p);
    return err;
}
