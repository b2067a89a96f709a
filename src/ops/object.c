/*
 * object.c - loading, sealing and saving managed objects.
 *
 * Material is the encoded TTLV of the managed object (SymmetricKey{...},
 * Certificate{...}, ...), sealed by the keyring under the realm key with the
 * uid and object type as associated data. Attributes are not secret and are
 * stored as an encoded Attributes structure beside it.
 */
#include "ops/object.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/rand.h"
#include "ops/attrs.h"
#include "ops/audit.h"
#include "ops/authz.h"
#include "ops/realm.h"
#include "proto/kmip_consts.h"

#include <sched.h>
#include <string.h>

#define UPDATE_RETRIES 32

static _Atomic uint64_t generation;

_Atomic uint64_t *kh_object_generation(void)
{
    return &generation;
}

bool kh_state_is_destroyed(int32_t state)
{
    return state == (int32_t)KH_STATE_DESTROYED || state == (int32_t)KH_STATE_DESTROYED_COMPROMISED;
}

kh_object *kh_object_new(kh_ctx *ctx, uint32_t object_type)
{
    kh_object *o = kh_xcalloc(1, sizeof(*o));
    o->row = kh_xcalloc(1, sizeof(*o->row));
    char uid[KH_UUID_STRLEN + 1];
    if (kh_uuid7(uid) != KH_OK) /* time-ordered: kind to the uid index (rand.h) */
        kh_oom();               /* the DRBG failing is as fatal as memory running out */
    o->row->uid = kh_xstrdup(uid);
    o->row->owner = kh_xstrdup(ctx->principal);
    o->row->realm_id = ctx->svc->realm_id;
    o->row->object_type = (int32_t)object_type;
    o->row->state = (int32_t)KH_STATE_PRE_ACTIVE;
    o->row->created_at = ctx->now;
    o->row->updated_at = ctx->now;
    o->row->revision = 1;
    o->attrs = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_object_set_date(o, KH_TAG_INITIAL_DATE, ctx->now);
    return o;
}

void kh_object_free(kh_object **o)
{
    if (!o || !*o)
        return;
    kh_obj_row_free(&(*o)->row);
    kh_ttlv_free(&(*o)->attrs);
    free(*o);
    *o = NULL;
}

kh_err kh_object_load(kh_ctx *ctx, const char *uid, kh_object **out)
{
    return kh_object_load_perm(ctx, uid, ctx->perm, out);
}

kh_err kh_object_load_perm(kh_ctx *ctx, const char *uid, uint32_t perm, kh_object **out)
{
    kh_obj_row *row = NULL;
    kh_err err = kh_store_object_get(ctx->svc->store, uid, &row);
    if (err != KH_OK)
        return err;
    if ((err = kh_authz_check(ctx, row, perm)) != KH_OK) {
        kh_obj_row_free(&row);
        return err;
    }
    kh_ttlv *attrs = NULL;
    if (row->attrs_len == 0) {
        attrs = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    } else if ((err = kh_ttlv_decode(row->attrs, row->attrs_len, &kh_ttlv_default_limits,
                                     &attrs)) != KH_OK) {
        kh_error("object %s: stored attributes do not decode", row->uid);
        kh_obj_row_free(&row);
        return KH_ERR_STORE;
    }
    kh_object *o = kh_xcalloc(1, sizeof(*o));
    o->row = row;
    o->attrs = attrs;
    *out = o;
    return KH_OK;
}

/* Names go to their own column set so that Locate by name is an index
 * lookup; they are derived from the Name attributes every time we write. */
static void sync_row(kh_object *o)
{
    kh_obj_row *r = o->row;
    for (size_t i = 0; i < r->n_names; i++)
        free(r->names[i]);
    free(r->names);
    r->names = NULL;
    r->n_names = 0;
    kh_attr_ref ref = {KH_TAG_NAME, NULL};
    size_t n = kh_attr_count(o->attrs, &ref);
    if (n) {
        r->names = kh_xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            const kh_ttlv *name = kh_attr_find(o->attrs, &ref, (int32_t)i, NULL);
            const kh_ttlv *v = kh_ttlv_find(name, KH_TAG_NAME_VALUE);
            if (v && v->type == KH_TTLV_TEXT_STRING)
                r->names[r->n_names++] = kh_xstrdup((const char *)v->data);
        }
    }
    kh_buf b = {0};
    kh_ttlv_encode(o->attrs, &b);
    free(r->attrs);
    r->attrs = kh_xmalloc(b.len);
    memcpy(r->attrs, b.data, b.len);
    r->attrs_len = b.len;
    kh_buf_free(&b);
}

/* Seal material into o's row and bring the row up to date, ready to insert. */
static kh_err prepare_insert(kh_ctx *ctx, kh_object *o, const kh_ttlv *material)
{
    kh_err err = KH_OK;
    kh_buf b = {0};
    /* before sealing: the realm decides the key (ops/realm.h) */
    if ((err = kh_realm_place(ctx, o->attrs, &o->row->realm_id)) != KH_OK)
        goto out;
    if (material) {
        kh_ttlv_encode(material, &b);
        free(o->row->material);
        o->row->material = NULL;
        err = kh_keyring_seal(ctx->svc->keyring, o->row->realm_id, o->row->uid, o->row->object_type,
                              b.data, b.len, &o->row->material, &o->row->material_len,
                              &o->row->material_key_version);
        if (err != KH_OK)
            goto out;
    }
    kh_object_set_date(o, KH_TAG_LAST_CHANGE_DATE, ctx->now);
    sync_row(o);
out:
    kh_buf_free(&b);
    return err;
}

/* The store writes, with the operation's audit row when this write is to
 * carry it (ops/audit.h): one commit for both. */
static kh_err store_insert(kh_ctx *ctx, const kh_obj_row *const *rows, size_t n)
{
    kh_audit_row *a = kh_audit_carry(ctx, rows, n, NULL);
    kh_err err = kh_store_object_insert_audited(ctx->svc->store, rows, n, a);
    kh_audit_carried(ctx, a, err);
    return err;
}

static kh_err store_update(kh_ctx *ctx, const kh_obj_row *row)
{
    kh_audit_row *a = kh_audit_carry(ctx, NULL, 0, row);
    kh_err err = kh_store_object_update_audited(ctx->svc->store, row, a);
    kh_audit_carried(ctx, a, err);
    /* after the write: a lookup that read the old row is then stale */
    generation++;
    return err;
}

kh_err kh_object_insert(kh_ctx *ctx, kh_object *o, const kh_ttlv *material)
{
    kh_err err = prepare_insert(ctx, o, material);
    if (err != KH_OK)
        return err;
    const kh_obj_row *rows[1] = {o->row};
    return store_insert(ctx, rows, 1);
}

kh_err kh_object_insert_many(kh_ctx *ctx, kh_object *const *objs, const kh_ttlv *const *materials,
                             size_t n)
{
    if (n == 0 || n > KH_OBJECT_INSERT_MAX)
        return KH_ERR_INVALID_ARG;
    const kh_obj_row *rows[KH_OBJECT_INSERT_MAX];
    for (size_t i = 0; i < n; i++) {
        kh_err err = prepare_insert(ctx, objs[i], materials[i]);
        if (err != KH_OK)
            return err;
        rows[i] = objs[i]->row;
    }
    return store_insert(ctx, rows, n);
}

kh_err kh_object_save(kh_ctx *ctx, kh_object *o)
{
    kh_object_set_date(o, KH_TAG_LAST_CHANGE_DATE, ctx->now);
    o->row->updated_at = ctx->now;
    sync_row(o);
    return store_update(ctx, o->row);
}

kh_err kh_object_material(kh_ctx *ctx, const kh_object *o, kh_ttlv **out)
{
    if (!o->row->material || kh_state_is_destroyed(o->row->state))
        return KH_ERR_NO_KEY_VALUE;
    kh_secbuf *pt = NULL;
    kh_err err = kh_keyring_open(ctx->svc->keyring, o->row->realm_id, o->row->material_key_version,
                                 o->row->uid, o->row->object_type, o->row->material,
                                 o->row->material_len, &pt);
    if (err != KH_OK) {
        kh_error("object %s: material does not open under realm key %d", o->row->uid,
                 o->row->material_key_version);
        return KH_ERR_STORE;
    }
    err = kh_ttlv_decode(pt->data, pt->len, &kh_ttlv_default_limits, out);
    kh_secbuf_free(&pt);
    return err == KH_OK ? KH_OK : KH_ERR_STORE;
}

kh_ttlv *kh_object_all_attrs(const kh_object *o)
{
    const kh_obj_row *r = o->row;
    kh_ttlv *all = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(all, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, r->uid));
    kh_ttlv_add_take(all, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, (uint32_t)r->object_type));
    if (r->algorithm)
        kh_ttlv_add_take(all,
                         kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, (uint32_t)r->algorithm));
    if (r->length)
        kh_ttlv_add_take(all, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, r->length));
    kh_ttlv_add_take(all, kh_ttlv_new_enum(KH_TAG_STATE, (uint32_t)r->state));
    for (size_t i = 0; i < o->attrs->nkids; i++)
        kh_ttlv_add_take(all, kh_ttlv_dup(o->attrs->kids[i]));
    return all;
}

void kh_object_set_attr_take(kh_object *o, kh_ttlv *a)
{
    kh_attr_ref ref = kh_attr_ref_of(a);
    size_t pos;
    if (kh_attr_find(o->attrs, &ref, 0, &pos)) {
        kh_ttlv_free(&o->attrs->kids[pos]);
        o->attrs->kids[pos] = a;
        return;
    }
    kh_ttlv_add_take(o->attrs, a);
}

void kh_object_set_date(kh_object *o, uint32_t tag, int64_t when)
{
    kh_object_set_attr_take(o, kh_ttlv_new_datetime(tag, when));
}

kh_err kh_object_update(kh_ctx *ctx, const char *uid, kh_object_mutator fn, void *arg)
{
    kh_err err = KH_ERR_CONFLICT;
    for (int attempt = 0; attempt < UPDATE_RETRIES && err == KH_ERR_CONFLICT; attempt++) {
        kh_object *o = NULL;
        if ((err = kh_object_load(ctx, uid, &o)) != KH_OK)
            return err;
        err = fn(ctx, o, arg);
        if (err == KH_OK)
            err = kh_object_save(ctx, o);
        kh_object_free(&o);
        if (err == KH_ERR_CONFLICT)
            sched_yield(); /* let the winner finish before we reload */
    }
    return err;
}
