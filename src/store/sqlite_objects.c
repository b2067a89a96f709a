/*
 * sqlite_objects.c - SQLite backend: managed objects and Locate.
 *
 * An object row and its names change together in one transaction. Updates
 * use the revision column as an optimistic lock: the UPDATE only matches
 * the revision the caller read, so of two concurrent writers one wins and
 * the other gets KH_ERR_CONFLICT. uid, object_type and created_at never
 * change (object_type is bound into the sealed material). The pool and
 * shared helpers are in sqlite.c.
 */
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- insert ----------------------------------------------------------- */

static kh_err insert_names(sq_conn *c, const kh_obj_row *r)
{
    for (size_t i = 0; i < r->n_names; i++) {
        sqlite3_stmt *st = sq_stmt(c, SQ_NAME_INSERT);
        if (!st)
            return KH_ERR_STORE;
        sqlite3_bind_text(st, 1, r->uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->names[i], -1, SQLITE_STATIC);
        kh_err err = sq_exec(c, st, "name insert");
        if (err != KH_OK)
            return err == KH_ERR_EXISTS ? KH_ERR_INTERNAL : err;
    }
    return KH_OK;
}

static kh_err insert_row(sq_conn *c, void *arg)
{
    const kh_obj_row *r = arg;
    sqlite3_stmt *st = sq_stmt(c, SQ_OBJ_INSERT);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, r->uid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->realm_id);
    sqlite3_bind_text(st, 3, r->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, r->object_type);
    sqlite3_bind_int(st, 5, r->state);
    sqlite3_bind_int(st, 6, r->algorithm);
    sqlite3_bind_int(st, 7, r->length);
    sqlite3_bind_int64(st, 8, r->created_at);
    sqlite3_bind_int64(st, 9, r->updated_at);
    sq_bind_blob(st, 10, r->attrs, r->attrs_len);
    sq_bind_blob(st, 11, r->material, r->material_len);
    sqlite3_bind_int(st, 12, r->material_key_version);
    kh_err err = sq_exec(c, st, "object insert");
    return err != KH_OK ? err : insert_names(c, r);
}

kh_err sq_object_insert(kh_store *s, const kh_obj_row *row)
{
    return sq_group_write(s, insert_row, (void *)row);
}

struct many {
    const kh_obj_row *const *rows;
    size_t n;
};

/* One group-commit job, so one savepoint: a failed row rolls back the
 * rows before it too. */
static kh_err insert_rows(sq_conn *c, void *arg)
{
    const struct many *m = arg;
    kh_err err = KH_OK;
    for (size_t i = 0; i < m->n && err == KH_OK; i++)
        err = insert_row(c, (void *)m->rows[i]);
    return err;
}

kh_err sq_object_insert_many(kh_store *s, const kh_obj_row *const *rows, size_t n)
{
    struct many m = {rows, n};
    return sq_group_write(s, insert_rows, &m);
}

kh_err sq_object_insert_audited(kh_store *s, const kh_obj_row *const *rows, size_t n,
                                kh_audit_row *audit)
{
    struct many m = {rows, n};
    return sq_group_write_audited(s, insert_rows, &m, audit);
}

/* ---- get -------------------------------------------------------------- */

static char *column_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return kh_xstrdup(t ? (const char *)t : "");
}

static kh_obj_row *read_row(sqlite3_stmt *st)
{
    kh_obj_row *r = kh_xcalloc(1, sizeof(*r));
    r->uid = column_strdup(st, 0);
    r->realm_id = sqlite3_column_int64(st, 1);
    r->owner = column_strdup(st, 2);
    r->object_type = sqlite3_column_int(st, 3);
    r->state = sqlite3_column_int(st, 4);
    r->algorithm = sqlite3_column_int(st, 5);
    r->length = sqlite3_column_int(st, 6);
    r->created_at = sqlite3_column_int64(st, 7);
    r->updated_at = sqlite3_column_int64(st, 8);
    r->revision = sqlite3_column_int64(st, 9);
    sq_column_blob(st, 10, &r->attrs, &r->attrs_len);
    sq_column_blob(st, 11, &r->material, &r->material_len);
    r->material_key_version = sqlite3_column_int(st, 12);
    return r;
}

/* The name column of the current row of SQ_OBJ_GET, if any, into r. */
static void add_name(sqlite3_stmt *st, kh_obj_row *r, size_t *cap)
{
    if (sqlite3_column_type(st, 13) == SQLITE_NULL)
        return; /* the LEFT JOIN's row of an object without names */
    if (r->n_names == *cap) {
        *cap = *cap ? 2 * *cap : 4;
        r->names = kh_xrealloc(r->names, *cap * sizeof(*r->names));
    }
    r->names[r->n_names++] = column_strdup(st, 13);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One statement (in autocommit, its own read snapshot): the object from
 * its first row, one name per row. */
static kh_err get_on(sq_conn *c, const char *uid, kh_obj_row **out)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_OBJ_GET);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        kh_err err = rc == SQLITE_DONE ? KH_ERR_NOT_FOUND : sq_fail(c, rc, "object select");
        sq_done(st);
        return err;
    }
    kh_obj_row *r = read_row(st);
    size_t cap = 0;
    do
        add_name(st, r, &cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW);
    kh_err err = rc == SQLITE_DONE ? KH_OK : sq_fail(c, rc, "object select");
    sq_done(st);
    if (err != KH_OK) {
        kh_obj_row_free(&r);
        return err;
    }
    if (r->n_names > 1) /* in name order, as before */
        qsort(r->names, r->n_names, sizeof(*r->names), cmp_name);
    *out = r;
    return KH_OK;
}

kh_err sq_object_get(kh_store *s, const char *uid, kh_obj_row **out)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    err = get_on(c, uid, out);
    sq_release(s, c);
    return err;
}

/* ---- update ----------------------------------------------------------- */

/* Why did the UPDATE match nothing: gone, or someone else's revision? */
static kh_err why_unchanged(sq_conn *c, const char *uid)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_OBJ_REVISION);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    kh_err err = rc == SQLITE_ROW    ? KH_ERR_CONFLICT
                 : rc == SQLITE_DONE ? KH_ERR_NOT_FOUND
                                     : sq_fail(c, rc, "revision select");
    sq_done(st);
    return err;
}

static kh_err update_row(sq_conn *c, void *arg)
{
    const kh_obj_row *r = arg;
    sqlite3_stmt *st = sq_stmt(c, SQ_OBJ_UPDATE);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, r->uid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->realm_id);
    sqlite3_bind_text(st, 3, r->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, r->state);
    sqlite3_bind_int(st, 5, r->algorithm);
    sqlite3_bind_int(st, 6, r->length);
    sqlite3_bind_int64(st, 7, r->updated_at);
    sq_bind_blob(st, 8, r->attrs, r->attrs_len);
    sq_bind_blob(st, 9, r->material, r->material_len);
    sqlite3_bind_int(st, 10, r->material_key_version);
    sqlite3_bind_int64(st, 11, r->revision);
    kh_err err = sq_exec(c, st, "object update");
    if (err != KH_OK)
        return err == KH_ERR_EXISTS ? KH_ERR_INTERNAL : err;
    if (sqlite3_changes(c->db) == 0)
        return why_unchanged(c, r->uid);
    if (!(st = sq_stmt(c, SQ_NAME_DELETE)))
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, r->uid, -1, SQLITE_STATIC);
    if ((err = sq_exec(c, st, "name delete")) != KH_OK)
        return err;
    return insert_names(c, r);
}

kh_err sq_object_update(kh_store *s, const kh_obj_row *row)
{
    return sq_group_write(s, update_row, (void *)row);
}

kh_err sq_object_update_audited(kh_store *s, const kh_obj_row *row, kh_audit_row *audit)
{
    return sq_group_write_audited(s, update_row, (void *)row, audit);
}

/* ---- locate ----------------------------------------------------------- */

/* Parameter numbers are fixed per filter, so binding does not depend on
 * which others are present; only fixed text is ever put into the SQL. */
static const struct {
    unsigned bit;
    const char *sql;
} filters[] = {
    {SQ_LOCATE_OWNER, " AND o.owner = ?1"},
    /* A name matches few objects: start from the name index (locate_stmt
     * puts the name into the head, as a join from object_name, so SQLite
     * looks the name up first instead of probing every object the owner
     * has: a correlated EXISTS made Locate by name linear in that count). */
    {SQ_LOCATE_NAME, ""},
    {SQ_LOCATE_TYPE, " AND o.object_type = ?3"},
    {SQ_LOCATE_STATE, " AND o.state = ?4"},
    {SQ_LOCATE_ALG, " AND o.algorithm = ?5"},
    {SQ_LOCATE_LEN, " AND o.length = ?6"},
    /* Owned by ?9 or granted to it (or to everyone) with a permission in
     * ?10, checked per object. */
    {SQ_LOCATE_VISIBLE,
     " AND (o.owner = ?9 OR EXISTS (SELECT 1 FROM access_grant g WHERE g.owner = o.owner"
     " AND g.object_uid IN (o.uid, '*') AND g.grantee IN (?9, '*')"
     " AND (g.permissions & ?10) <> 0)" REALM_VISIBLE("?9", "?10") ")"},
};

/* Without a name, this first narrows the search to the owners whose objects
 * may be visible at all, through the owner index: for a caller nobody
 * granted anything that is just ?9, the plan Locate had before grants. */
static const char visible_owners[] =
    " AND (o.owner IN (SELECT ?9 UNION SELECT g.owner FROM access_grant g"
    " WHERE g.grantee IN (?9, '*') AND (g.permissions & ?10) <> 0)"
    " OR o.realm_id IN (SELECT m.realm_id FROM realm_member m WHERE m.member IN (?9, '*')"
    " AND m.removed_at IS NULL AND (m.permissions & ?10) <> 0))";

static unsigned locate_mask(const kh_locate_query *q)
{
    return (q->owner ? SQ_LOCATE_OWNER : 0) | (q->name ? SQ_LOCATE_NAME : 0) |
           (q->object_type >= 0 ? SQ_LOCATE_TYPE : 0) | (q->state >= 0 ? SQ_LOCATE_STATE : 0) |
           (q->algorithm >= 0 ? SQ_LOCATE_ALG : 0) | (q->length >= 0 ? SQ_LOCATE_LEN : 0) |
           (q->visible_to ? SQ_LOCATE_VISIBLE : 0);
}

static sqlite3_stmt *locate_stmt(sq_conn *c, unsigned mask)
{
    static const char head[] = "SELECT o.uid FROM object o WHERE 1 = 1";
    /* With a name, a join from the name index: the same rows (a name is
     * stored once per uid) without the temporary table that IN (SELECT ...)
     * builds, opens and frees on every query. */
    static const char head_name[] = "SELECT o.uid FROM object_name n JOIN object o"
                                    " ON o.uid = n.uid WHERE n.name = ?2";
    static const char tail[] = " ORDER BY o.created_at DESC, o.seq DESC LIMIT ?7 OFFSET ?8";
    if (c->locate[mask])
        return c->locate[mask];
    kh_buf sql = {0};
    if (mask & SQ_LOCATE_NAME)
        kh_buf_append(&sql, head_name, strlen(head_name));
    else
        kh_buf_append(&sql, head, strlen(head));
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        const char *frag = filters[i].sql;
        if (filters[i].bit == SQ_LOCATE_NAME)
            continue; /* in the head */
        /* With a name, keep the planner off the owner, type and state
         * indexes ("+" column): walking every symmetric key of the store in
         * date order to test each against the name's few uids made KES
         * lookups (name + type + visibility) linear in the store. */
        if (filters[i].bit == SQ_LOCATE_OWNER && (mask & SQ_LOCATE_NAME))
            frag = " AND +o.owner = ?1";
        if (filters[i].bit == SQ_LOCATE_TYPE && (mask & SQ_LOCATE_NAME))
            frag = " AND +o.object_type = ?3";
        if (filters[i].bit == SQ_LOCATE_STATE && (mask & SQ_LOCATE_NAME))
            frag = " AND +o.state = ?4";
        if (filters[i].bit == SQ_LOCATE_VISIBLE && (mask & SQ_LOCATE_VISIBLE) &&
            !(mask & SQ_LOCATE_NAME))
            kh_buf_append(&sql, visible_owners, strlen(visible_owners));
        if (mask & filters[i].bit)
            kh_buf_append(&sql, frag, strlen(frag));
    }
    kh_buf_append(&sql, tail, sizeof(tail)); /* with its NUL */
    sqlite3_stmt *st = sq_locate_stmt(c, mask, (const char *)sql.data);
    kh_buf_free(&sql);
    return st;
}

static void locate_bind(sqlite3_stmt *st, const kh_locate_query *q)
{
    if (q->owner)
        sqlite3_bind_text(st, 1, q->owner, -1, SQLITE_STATIC);
    if (q->name)
        sqlite3_bind_text(st, 2, q->name, -1, SQLITE_STATIC);
    if (q->object_type >= 0)
        sqlite3_bind_int(st, 3, q->object_type);
    if (q->state >= 0)
        sqlite3_bind_int(st, 4, q->state);
    if (q->algorithm >= 0)
        sqlite3_bind_int(st, 5, q->algorithm);
    if (q->length >= 0)
        sqlite3_bind_int(st, 6, q->length);
    if (q->visible_to) {
        sqlite3_bind_text(st, 9, q->visible_to, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, (int64_t)q->permission);
    }
    sqlite3_bind_int64(st, 7, q->limit); /* -1 is "no limit" to SQLite too */
    sqlite3_bind_int64(st, 8, q->offset);
}

static kh_err locate_on(sq_conn *c, const kh_locate_query *q, char ***uids, size_t *n)
{
    sqlite3_stmt *st = locate_stmt(c, locate_mask(q));
    if (!st)
        return KH_ERR_STORE;
    locate_bind(st, q);
    char **list = NULL;
    size_t count = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            list = kh_xrealloc(list, cap * sizeof(*list));
        }
        const unsigned char *t = sqlite3_column_text(st, 0);
        list[count++] = kh_xstrdup(t ? (const char *)t : "");
    }
    kh_err err = rc == SQLITE_DONE ? KH_OK : sq_fail(c, rc, "locate");
    sq_done(st);
    if (err != KH_OK) {
        for (size_t i = 0; i < count; i++)
            free(list[i]);
        free(list);
        return err;
    }
    *uids = list;
    *n = count;
    return KH_OK;
}

kh_err sq_object_locate(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    err = locate_on(c, q, uids, n);
    sq_release(s, c);
    return err;
}
