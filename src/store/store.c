/*
 * store.c - the generic front of the storage interface.
 *
 * Picks a backend from the database URL and forwards every call through the
 * backend's function table. No SQL here: that lives in the backends.
 */
#include "store/store.h"

#include "common/log.h"
#include "common/mem.h"
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

kh_err kh_store_object_get(kh_store *s, const char *uid, kh_obj_row **out)
{
    if (!uid || !out)
        return KH_ERR_INVALID_ARG;
    return s->ops->object_get(s, uid, out);
}

kh_err kh_store_object_update(kh_store *s, const kh_obj_row *row)
{
    kh_err err = check_row(row);
    return err != KH_OK ? err : s->ops->object_update(s, row);
}

kh_err kh_store_object_locate(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n)
{
    if (!q || !uids || !n || q->offset < 0 || q->limit < -1)
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
}
