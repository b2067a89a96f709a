/*
 * store.c - the generic front of the storage interface.
 *
 * Picks a backend from the database URL and forwards every call through the
 * backend's function table. No SQL here: that lives in the backends.
 */
#include "store/store.h"

#include "common/log.h"
#include "common/mem.h"
#include "store/audit_chain.h"
#include "store/gencache.h"
#include "store/idcache.h"
#include "store/postgres.h"
#include "store/sqlite.h"

#include <string.h>

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

kh_err kh_store_open(const char *url, kh_store **out)
{
    if (!url || !*url || !out)
        return KH_ERR_INVALID_ARG;
    /* Handed to libpq as is (query parameters and all). */
    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://"))
        return kh_postgres_open(url, out);
    const char *path = url;
    if (has_prefix(url, "sqlite://"))
        path = url + strlen("sqlite://"); /* "sqlite:///abs" keeps its leading '/' */
    else if (strstr(url, "://")) {
        kh_error("store: unknown database URL scheme (expected sqlite:// or postgresql://)");
        return KH_ERR_CONFIG;
    }
    /* An in-memory database would differ per pooled connection. */
    if (!*path || strcmp(path, ":memory:") == 0 || has_prefix(path, "file:")) {
        kh_error("store: the SQLite database must be a file path");
        return KH_ERR_CONFIG;
    }
    return kh_sqlite_open(path, out);
}

void kh_store_close(kh_store **s)
{
    if (!s || !*s)
        return;
    kh_idcache_free(&(*s)->idcache);
    kh_gencache_free(&(*s)->objcache);
    (*s)->ops->close(*s);
    *s = NULL;
}

kh_err kh_store_migrate(kh_store *s, int *applied)
{
    int dummy = 0;
    return s->ops->migrate(s, applied ? applied : &dummy);
}

kh_err kh_store_schema_version(kh_store *s, int *version)
{
    return s->ops->schema_version(s, version);
}

kh_err kh_store_realm_ensure(kh_store *s, const char *name, int64_t *id)
{
    if (!name || !id)
        return KH_ERR_INVALID_ARG;
    return s->ops->realm_ensure(s, name, id);
}

kh_err kh_store_realm_key_latest(kh_store *s, int64_t realm_id, int32_t *version, uint8_t **wrapped,
                                 size_t *wrapped_len)
{
    if (!version || !wrapped || !wrapped_len)
        return KH_ERR_INVALID_ARG;
    return s->ops->realm_key_latest(s, realm_id, version, wrapped, wrapped_len);
}

kh_err kh_store_realm_key_get(kh_store *s, int64_t realm_id, int32_t version, uint8_t **wrapped,
                              size_t *wrapped_len)
{
    if (!wrapped || !wrapped_len)
        return KH_ERR_INVALID_ARG;
    return s->ops->realm_key_get(s, realm_id, version, wrapped, wrapped_len);
}

kh_err kh_store_realm_key_insert(kh_store *s, int64_t realm_id, int32_t version,
                                 const uint8_t *wrapped, size_t wrapped_len)
{
    if (!wrapped || !wrapped_len || version < 1)
        return KH_ERR_INVALID_ARG;
    return s->ops->realm_key_insert(s, realm_id, version, wrapped, wrapped_len);
}

static kh_err check_row(const kh_obj_row *row)
{
    if (!row || !row->uid || !*row->uid || !row->owner)
        return KH_ERR_INVALID_ARG;
    if ((!row->attrs && row->attrs_len) || (!row->material && row->material_len) ||
        (!row->names && row->n_names))
        return KH_ERR_INVALID_ARG;
    for (size_t i = 0; i < row->n_names; i++)
        if (!row->names[i])
            return KH_ERR_INVALID_ARG;
    return KH_OK;
}

kh_err kh_store_object_insert(kh_store *s, const kh_obj_row *row)
{
    kh_err err = check_row(row);
    return err != KH_OK ? err : s->ops->object_insert(s, row);
}

kh_err kh_store_object_insert_many(kh_store *s, const kh_obj_row *const *rows, size_t n)
{
    if (!rows || n == 0)
        return KH_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        kh_err err = check_row(rows[i]);
        if (err != KH_OK)
            return err;
    }
    return s->ops->object_insert_many(s, rows, n);
}

/* ---- the object cache ----------------------------------------------------
 * A generation cache (gencache.h) of stored rows by uid. It holds what the
 * database holds, sealed material included, never plaintext key material.
 * Every update bumps it once over (object.c's optimistic lock makes
 * updates rare next to loads); inserts need not: a uid is only cached once
 * it has been read. */

/* Rows bigger than this (certificates, objects with many attributes)
 * are read every time, so that the cache stays under ~20 MiB even when
 * full of the biggest rows it takes (4,096 of them; a symmetric key row is
 * 300-400 bytes). */
#define OBJCACHE_ROW_MAX 4096

static uint8_t *blob_dup(const uint8_t *p, size_t n)
{
    if (!p)
        return NULL;
    uint8_t *d = kh_xmalloc(n ? n : 1);
    memcpy(d, p, n);
    return d;
}

kh_obj_row *kh_obj_row_dup(const kh_obj_row *r)
{
    kh_obj_row *d = kh_xmalloc(sizeof(*d));
    *d = *r;
    d->uid = kh_xstrdup(r->uid);
    d->owner = kh_xstrdup(r->owner);
    d->attrs = blob_dup(r->attrs, r->attrs_len);
    d->material = blob_dup(r->material, r->material_len);
    d->names = r->n_names ? kh_xcalloc(r->n_names, sizeof(char *)) : NULL;
    for (size_t i = 0; i < r->n_names; i++)
        d->names[i] = kh_xstrdup(r->names[i]);
    return d;
}

static void row_copy_out(const void *value, void *out)
{
    *(kh_obj_row **)out = kh_obj_row_dup(value);
}

static void row_free_value(void *value)
{
    kh_obj_row *r = value;
    kh_obj_row_free(&r);
}

static const kh_gencache_type row_type = {row_copy_out, row_free_value};

kh_err kh_store_set_object_cache(kh_store *s, int64_t ttl_ms)
{
    kh_gencache *c = NULL;
    if (!s || ttl_ms < 0)
        return KH_ERR_INVALID_ARG;
    kh_err err = ttl_ms > 0 ? kh_gencache_new(&row_type, ttl_ms, &c) : KH_OK;
    if (err == KH_OK) {
        kh_gencache_free(&s->objcache);
        s->objcache = c;
    }
    return err;
}

kh_err kh_store_object_get(kh_store *s, const char *uid, kh_obj_row **out)
{
    if (!uid || !out)
        return KH_ERR_INVALID_ARG;
    if (kh_gencache_get(s->objcache, uid, out))
        return KH_OK;
    /* before the read: an update committed from now on invalidates it */
    kh_gencache_mark m = kh_gencache_mark_now(s->objcache);
    kh_err err = s->ops->object_get(s, uid, out);
    if (err == KH_OK && s->objcache && (*out)->attrs_len + (*out)->material_len <= OBJCACHE_ROW_MAX)
        kh_gencache_put_take(s->objcache, uid, m, kh_obj_row_dup(*out));
    return err;
}

kh_err kh_store_object_update(kh_store *s, const kh_obj_row *row)
{
    kh_err err = check_row(row);
    if (err != KH_OK)
        return err;
    err = s->ops->object_update(s, row);
    /* committed or not (a conflict means another node's update this one
     * may not have seen yet): the next load reads the database */
    kh_gencache_bump(s->objcache);
    return err;
}

kh_err kh_store_object_locate(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n)
{
    if (!q || !uids || !n || q->offset < 0 || q->limit < -1)
        return KH_ERR_INVALID_ARG;
    if (q->visible_to && q->permission == 0)
        return KH_ERR_INVALID_ARG;
    return s->ops->object_locate(s, q, uids, n);
}

void kh_obj_row_free(kh_obj_row **r)
{
    if (!r || !*r)
        return;
    kh_obj_row *row = *r;
    free(row->uid);
    free(row->owner);
    kh_wipe_free(row->attrs, row->attrs_len);
    kh_wipe_free(row->material, row->material_len);
    for (size_t i = 0; i < row->n_names; i++)
        free(row->names[i]);
    free(row->names);
    free(row);
    *r = NULL;
}

void kh_locate_query_init(kh_locate_query *q)
{
    memset(q, 0, sizeof(*q));
    q->owner = NULL;
    q->name = NULL;
    q->object_type = -1;
    q->state = -1;
    q->algorithm = -1;
    q->length = -1;
    q->offset = 0;
    q->limit = -1;
    q->visible_to = NULL;
    q->permission = 0;
}

/* ---- audit ------------------------------------------------------------ */

static int audit_field_ok(const char *f)
{
    return f && strlen(f) <= KH_AUDIT_FIELD_MAX;
}

static kh_err audit_row_ok(const kh_audit_row *row);

kh_err kh_store_audit_append(kh_store *s, kh_audit_row *row)
{
    if (audit_row_ok(row) != KH_OK)
        return KH_ERR_INVALID_ARG;
    return s->ops->audit_append(s, row);
}

void kh_store_audit_append_async(kh_store *s, kh_audit_row *row, kh_store_done_fn done, void *arg)
{
    if (audit_row_ok(row) != KH_OK)
        done(arg, KH_ERR_INVALID_ARG);
    else if (!s->ops->audit_append_async)
        done(arg, s->ops->audit_append(s, row));
    else
        s->ops->audit_append_async(s, row, done, arg);
}

static kh_err audit_row_ok(const kh_audit_row *row)
{
    return row && audit_field_ok(row->principal) && audit_field_ok(row->client_addr) &&
                   audit_field_ok(row->operation) && audit_field_ok(row->object_uid) &&
                   audit_field_ok(row->result)
               ? KH_OK
               : KH_ERR_INVALID_ARG;
}

kh_err kh_store_object_insert_audited(kh_store *s, const kh_obj_row *const *rows, size_t n,
                                      kh_audit_row *audit)
{
    if (!audit)
        return kh_store_object_insert_many(s, rows, n);
    if (!rows || n == 0 || audit_row_ok(audit) != KH_OK)
        return KH_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        kh_err err = check_row(rows[i]);
        if (err != KH_OK)
            return err;
    }
    return s->ops->object_insert_audited(s, rows, n, audit);
}

kh_err kh_store_object_update_audited(kh_store *s, const kh_obj_row *row, kh_audit_row *audit)
{
    if (!audit)
        return kh_store_object_update(s, row);
    kh_err err = check_row(row);
    if (err == KH_OK)
        err = audit_row_ok(audit);
    if (err != KH_OK)
        return err;
    err = s->ops->object_update_audited(s, row, audit);
    kh_gencache_bump(s->objcache); /* as kh_store_object_update */
    return err;
}

kh_err kh_store_kes_name_claim_audited(kh_store *s, const char *owner, const char *name,
                                       const char *holder, const char *expected,
                                       kh_audit_row *audit)
{
    if (!audit)
        return kh_store_kes_name_claim(s, owner, name, holder, expected);
    if (!owner || !*owner || !name || !*name || !holder || !*holder || audit_row_ok(audit) != KH_OK)
        return KH_ERR_INVALID_ARG;
    return s->ops->kes_name_claim_audited(s, owner, name, holder, expected, audit);
}

kh_err kh_store_audit_read(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows,
                           size_t *n)
{
    if (!rows || !n || max == 0 || max > 100000 || after_id < 0)
        return KH_ERR_INVALID_ARG;
    return s->ops->audit_read(s, after_id, max, rows, n);
}

kh_err kh_store_audit_head(kh_store *s, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN])
{
    if (!last_id || !hash)
        return KH_ERR_INVALID_ARG;
    return s->ops->audit_head(s, last_id, hash);
}

void kh_audit_rows_free(kh_audit_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].principal);
        free(rows[i].client_addr);
        free(rows[i].operation);
        free(rows[i].object_uid);
        free(rows[i].result);
    }
    free(rows);
}

/* ---- grants ----------------------------------------------------------- */

static int grant_ok(const kh_grant_row *g)
{
    return g && g->owner && *g->owner && g->object_uid && *g->object_uid && g->grantee &&
           *g->grantee && g->permissions != 0;
}

kh_err kh_store_grant_add(kh_store *s, const kh_grant_row *g)
{
    return grant_ok(g) ? s->ops->grant_add(s, g) : KH_ERR_INVALID_ARG;
}

kh_err kh_store_grant_remove(kh_store *s, const kh_grant_row *g)
{
    return grant_ok(g) ? s->ops->grant_remove(s, g) : KH_ERR_INVALID_ARG;
}

kh_err kh_store_grant_list(kh_store *s, const char *owner, const char *object_uid,
                           kh_grant_row **rows, size_t *n)
{
    if (!owner || !rows || !n)
        return KH_ERR_INVALID_ARG;
    return s->ops->grant_list(s, owner, object_uid, rows, n);
}

kh_err kh_store_grant_perms(kh_store *s, const char *owner, const char *object_uid,
                            const char *principal, uint32_t *perms)
{
    if (!owner || !object_uid || !principal || !perms)
        return KH_ERR_INVALID_ARG;
    return s->ops->grant_perms(s, owner, object_uid, principal, perms);
}

void kh_grant_rows_free(kh_grant_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].owner);
        free(rows[i].object_uid);
        free(rows[i].grantee);
    }
    free(rows);
}

/* ---- KES names -------------------------------------------------------- */

kh_err kh_store_kes_name_claim(kh_store *s, const char *owner, const char *name, const char *holder,
                               const char *expected)
{
    if (!owner || !*owner || !name || !*name || !holder || !*holder)
        return KH_ERR_INVALID_ARG;
    return s->ops->kes_name_claim(s, owner, name, holder, expected);
}

kh_err kh_store_kes_name_get(kh_store *s, const char *owner, const char *name, char **holder)
{
    if (!owner || !name || !holder)
        return KH_ERR_INVALID_ARG;
    return s->ops->kes_name_get(s, owner, name, holder);
}

kh_err kh_store_set_durability(kh_store *s, kh_durability d)
{
    if (!s || (d != KH_DURABLE_POWER && d != KH_DURABLE_PROCESS))
        return KH_ERR_INVALID_ARG;
    return s->ops->set_durability ? s->ops->set_durability(s, d) : KH_OK;
}
