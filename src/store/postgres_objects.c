/*
 * postgres_objects.c - PostgreSQL backend: managed objects and Locate.
 *
 * The same contract as sqlite_objects.c, in the terms of a database that
 * several nodes share. An object row and its names change together in one
 * transaction. Updates use the revision column as an optimistic lock: the
 * UPDATE only matches the revision the caller read, and PostgreSQL re-checks
 * that condition after waiting for a concurrent writer's row lock, so of
 * two nodes updating the same object one wins and the other gets
 * KH_ERR_CONFLICT. uid, object_type and created_at never change. The pool
 * and shared helpers are in postgres.c.
 */
#include "common/buf.h"
#include "common/mem.h"
#include "store/postgres_internal.h"

#include <string.h>

/* ---- insert ----------------------------------------------------------- */

static kh_err insert_names(pg_conn *c, const kh_obj_row *r)
{
    for (size_t i = 0; i < r->n_names; i++) {
        pg_params p;
        PGresult *res = NULL;
        pg_params_init(&p);
        pg_param_text(&p, r->uid);
        pg_param_text(&p, r->names[i]);
        kh_err err = pg_exec(c, PG_NAME_INSERT, &p, &res); /* duplicates do nothing */
        pg_clear(res);
        if (err != KH_OK)
            return err == KH_ERR_EXISTS ? KH_ERR_INTERNAL : err;
    }
    return KH_OK;
}

static kh_err insert_one(pg_conn *c, const kh_obj_row *r)
{
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, r->uid);
    pg_param_int(&p, r->realm_id);
    pg_param_text(&p, r->owner);
    pg_param_int(&p, r->object_type);
    pg_param_int(&p, r->state);
    pg_param_int(&p, r->algorithm);
    pg_param_int(&p, r->length);
    pg_param_int(&p, r->created_at);
    pg_param_int(&p, r->updated_at);
    pg_param_blob(&p, r->attrs, r->attrs_len);
    pg_param_blob(&p, r->material, r->material_len);
    pg_param_int(&p, r->material_key_version);
    kh_err err = pg_exec(c, PG_OBJ_INSERT, &p, &res);
    pg_clear(res);
    return err == KH_OK ? insert_names(c, r) : err;
}

struct many {
    const kh_obj_row *const *rows;
    size_t n;
};

/* Every row, inside the caller's transaction. */
static kh_err insert_rows(pg_conn *c, void *ctx)
{
    const struct many *m = ctx;
    kh_err err = KH_OK;
    for (size_t i = 0; i < m->n && err == KH_OK; i++)
        err = insert_one(c, m->rows[i]);
    return err;
}

/* Every row in one transaction; pg_run rolls back what a failure leaves
 * open, so a failed row takes the rows before it with it. */
static kh_err insert_on(pg_conn *c, void *ctx)
{
    kh_err err = pg_begin(c);
    if (err == KH_OK)
        err = insert_rows(c, ctx);
    return err == KH_OK ? pg_commit(c) : err;
}

kh_err pg_object_insert(kh_store *s, const kh_obj_row *row)
{
    struct many m = {&row, 1};
    return pg_run(s, insert_on, &m, 0);
}

kh_err pg_object_insert_many(kh_store *s, const kh_obj_row *const *rows, size_t n)
{
    struct many m = {rows, n};
    return pg_run(s, insert_on, &m, 0);
}

/* With the row: one job of the audit batch (postgres_audit.c), so that
 * concurrent writes share the chain head's lock and one commit. */
kh_err pg_object_insert_audited(kh_store *s, const kh_obj_row *const *rows, size_t n,
                                kh_audit_row *audit)
{
    struct many m = {rows, n};
    return audit ? pg_audit_submit(s, insert_rows, &m, audit) : pg_run(s, insert_on, &m, 0);
}

/* ---- get -------------------------------------------------------------- */

/* Columns of PG_OBJ_GET; the last is one name per result row. */
enum {
    C_UID,
    C_REALM,
    C_OWNER,
    C_TYPE,
    C_STATE,
    C_ALG,
    C_LEN,
    C_CREATED,
    C_UPDATED,
    C_REVISION,
    C_ATTRS,
    C_MATERIAL,
    C_KEY_VERSION,
    C_NAME
};

static kh_obj_row *read_row(const PGresult *res)
{
    kh_obj_row *r = kh_xcalloc(1, sizeof(*r));
    r->uid = pg_get_text(res, 0, C_UID);
    r->realm_id = pg_get_int(res, 0, C_REALM);
    r->owner = pg_get_text(res, 0, C_OWNER);
    r->object_type = (int32_t)pg_get_int(res, 0, C_TYPE);
    r->state = (int32_t)pg_get_int(res, 0, C_STATE);
    r->algorithm = (int32_t)pg_get_int(res, 0, C_ALG);
    r->length = (int32_t)pg_get_int(res, 0, C_LEN);
    r->created_at = pg_get_int(res, 0, C_CREATED);
    r->updated_at = pg_get_int(res, 0, C_UPDATED);
    r->revision = pg_get_int(res, 0, C_REVISION);
    pg_get_blob(res, 0, C_ATTRS, &r->attrs, &r->attrs_len);
    pg_get_blob(res, 0, C_MATERIAL, &r->material, &r->material_len);
    r->material_key_version = (int32_t)pg_get_int(res, 0, C_KEY_VERSION);
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, C_NAME))
            continue; /* the LEFT JOIN's row for an object without names */
        if (!r->names)
            r->names = kh_xcalloc((size_t)rows, sizeof(*r->names));
        r->names[r->n_names++] = pg_get_text(res, i, C_NAME);
    }
    return r;
}

struct get_ctx {
    const char *uid;
    kh_obj_row **out;
};

static kh_err get_on(pg_conn *c, void *ctx)
{
    struct get_ctx *x = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, x->uid);
    kh_err err = pg_exec(c, PG_OBJ_GET, &p, &res);
    if (err != KH_OK)
        return err;
    if (PQntuples(res) == 0)
        err = KH_ERR_NOT_FOUND;
    else
        *x->out = read_row(res);
    pg_clear(res);
    return err;
}

kh_err pg_object_get(kh_store *s, const char *uid, kh_obj_row **out)
{
    struct get_ctx x = {uid, out};
    return pg_run(s, get_on, &x, 1);
}

/* ---- update ----------------------------------------------------------- */

/* Why did the UPDATE match nothing: gone, or someone else's revision? */
static kh_err why_unchanged(pg_conn *c, const char *uid)
{
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, uid);
    kh_err err = pg_exec(c, PG_OBJ_REVISION, &p, &res);
    if (err != KH_OK)
        return err;
    err = PQntuples(res) > 0 ? KH_ERR_CONFLICT : KH_ERR_NOT_FOUND;
    pg_clear(res);
    return err;
}

static kh_err update_row(pg_conn *c, const kh_obj_row *r)
{
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, r->uid);
    pg_param_int(&p, r->realm_id);
    pg_param_text(&p, r->owner);
    pg_param_int(&p, r->state);
    pg_param_int(&p, r->algorithm);
    pg_param_int(&p, r->length);
    pg_param_int(&p, r->updated_at);
    pg_param_blob(&p, r->attrs, r->attrs_len);
    pg_param_blob(&p, r->material, r->material_len);
    pg_param_int(&p, r->material_key_version);
    pg_param_int(&p, r->revision);
    kh_err err = pg_exec(c, PG_OBJ_UPDATE, &p, &res);
    if (err != KH_OK)
        return err == KH_ERR_EXISTS ? KH_ERR_INTERNAL : err;
    int changed = strcmp(PQcmdTuples(res), "0") != 0;
    pg_clear(res);
    if (!changed)
        return why_unchanged(c, r->uid);
    pg_params_init(&p);
    pg_param_text(&p, r->uid);
    res = NULL;
    err = pg_exec(c, PG_NAME_DELETE, &p, &res);
    pg_clear(res);
    return err != KH_OK ? err : insert_names(c, r);
}

static kh_err update_in(pg_conn *c, void *ctx)
{
    return update_row(c, ctx);
}

static kh_err update_on(pg_conn *c, void *ctx)
{
    kh_err err = pg_begin(c);
    if (err == KH_OK)
        err = update_row(c, ctx);
    return err == KH_OK ? pg_commit(c) : err;
}

kh_err pg_object_update(kh_store *s, const kh_obj_row *row)
{
    return pg_run(s, update_on, (void *)row, 0);
}

kh_err pg_object_update_audited(kh_store *s, const kh_obj_row *row, kh_audit_row *audit)
{
    return audit ? pg_audit_submit(s, update_in, (void *)row, audit)
                 : pg_run(s, update_on, (void *)row, 0);
}

/* ---- locate ----------------------------------------------------------- */

/* Parameter numbers are fixed per filter ($7 limit, $8 offset), so binding
 * does not depend on which others are present; only fixed text is ever put
 * into the SQL. */
static const struct {
    unsigned bit;
    const char *sql;
} filters[] = {
    {PG_LOCATE_OWNER, " AND o.owner = $1"},
    {PG_LOCATE_NAME, " AND EXISTS (SELECT 1 FROM object_name n WHERE n.name = $2"
                     " AND n.uid = o.uid)"},
    {PG_LOCATE_TYPE, " AND o.object_type = $3"},
    {PG_LOCATE_STATE, " AND o.state = $4"},
    {PG_LOCATE_ALG, " AND o.algorithm = $5"},
    {PG_LOCATE_LEN, " AND o.length = $6"},
    /* Owned by $9 or granted to it (or to everyone) with a permission in
     * $10; the owner test first lets the owner index narrow the search. */
    {PG_LOCATE_VISIBLE,
     " AND (o.owner IN (SELECT $9 UNION SELECT g.owner FROM access_grant g"
     " WHERE g.grantee IN ($9, '*') AND (g.permissions & $10) <> 0)"
     " OR o.realm_id IN (SELECT m.realm_id FROM realm_member m WHERE m.member IN ($9, '*')"
     " AND m.removed_at IS NULL AND (m.permissions & $10) <> 0))"
     " AND (o.owner = $9 OR EXISTS (SELECT 1 FROM access_grant g WHERE g.owner = o.owner"
     " AND g.object_uid IN (o.uid, '*') AND g.grantee IN ($9, '*')"
     " AND (g.permissions & $10) <> 0)" REALM_VISIBLE("$9", "$10") ")"},
};

static unsigned locate_mask(const kh_locate_query *q)
{
    return (q->owner ? PG_LOCATE_OWNER : 0) | (q->name ? PG_LOCATE_NAME : 0) |
           (q->object_type >= 0 ? PG_LOCATE_TYPE : 0) | (q->state >= 0 ? PG_LOCATE_STATE : 0) |
           (q->algorithm >= 0 ? PG_LOCATE_ALG : 0) | (q->length >= 0 ? PG_LOCATE_LEN : 0) |
           (q->visible_to ? PG_LOCATE_VISIBLE : 0);
}

static void locate_sql(unsigned mask, kh_buf *sql)
{
    static const char head[] = "SELECT o.uid FROM object o WHERE TRUE";
    /* LIMIT NULL is no limit. */
    static const char tail[] = " ORDER BY o.created_at DESC, o.seq DESC LIMIT $7 OFFSET $8";
    kh_buf_append(sql, head, strlen(head));
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        if (mask & filters[i].bit)
            kh_buf_append(sql, filters[i].sql, strlen(filters[i].sql));
    kh_buf_append(sql, tail, sizeof(tail)); /* with its NUL */
}

static void locate_params(pg_params *p, const kh_locate_query *q)
{
    pg_params_init(p);
    pg_param_text(p, q->owner);
    pg_param_text(p, q->name);
    int32_t ints[] = {q->object_type, q->state, q->algorithm, q->length};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (ints[i] >= 0)
            pg_param_int(p, ints[i]);
        else
            pg_param_null(p);
    }
    if (q->limit >= 0)
        pg_param_int(p, q->limit);
    else
        pg_param_null(p);
    pg_param_int(p, q->offset);
    pg_param_text(p, q->visible_to);
    if (q->visible_to)
        pg_param_int(p, (int64_t)q->permission);
    else
        pg_param_null(p);
}

struct locate_ctx {
    const kh_locate_query *q;
    char ***uids;
    size_t *n;
};

static kh_err locate_on(pg_conn *c, void *ctx)
{
    struct locate_ctx *x = ctx;
    unsigned mask = locate_mask(x->q);
    kh_buf sql = {0};
    pg_params p;
    PGresult *res = NULL;
    if (!c->locate_prepared[mask])
        locate_sql(mask, &sql);
    locate_params(&p, x->q);
    kh_err err = pg_exec_locate(c, mask, (const char *)sql.data, &p, &res);
    kh_buf_free(&sql);
    if (err != KH_OK)
        return err;
    size_t count = (size_t)PQntuples(res);
    char **list = kh_xcalloc(count ? count : 1, sizeof(*list));
    for (size_t i = 0; i < count; i++)
        list[i] = pg_get_text(res, (int)i, 0);
    pg_clear(res);
    *x->uids = list;
    *x->n = count;
    return KH_OK;
}

kh_err pg_object_locate(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n)
{
    struct locate_ctx x = {q, uids, n};
    return pg_run(s, locate_on, &x, 1);
}
