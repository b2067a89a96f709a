/*
 * store_realms.c - realms and their members, written once for both
 * backends through store/sql.h.
 *
 * Membership is history: realm_member gets one row per role given, and a
 * removal or a role change closes the active row (removed_at, removed_by)
 * instead of overwriting it. A partial unique index keeps at most one
 * active row per (realm, member), and each change first locks its realm's
 * row, so racing changes run one after the other.
 * Statement ids start at Q_BASE, clear of store_users.c's.
 */
#include "common/mem.h"
#include "store/sql.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define Q_BASE 40

enum {
    Q_REALM_INSERT = Q_BASE,
    Q_REALM_BY_NAME,
    Q_REALM_BY_ID,
    Q_REALM_LIST,
    Q_MEMBER_CLOSE,
    Q_MEMBER_INSERT,
    Q_MEMBER_GET,
    Q_MEMBER_HISTORY,
    Q_MEMBER_PERMS,
    Q_REALM_LOCK,
    Q_END
};

#define MEMBER_COLS                                                                                \
    "realm_id, member, role, permissions, granted_at, granted_by, removed_at, removed_by"

static const char *const sql_text[Q_END - Q_BASE] = {
    [Q_REALM_INSERT - Q_BASE] = "INSERT INTO realm(name, created_at) VALUES ($1, $2) RETURNING id",
    [Q_REALM_BY_NAME - Q_BASE] = "SELECT id, name, created_at FROM realm WHERE name = $1",
    [Q_REALM_BY_ID - Q_BASE] = "SELECT id, name, created_at FROM realm WHERE id = $1",
    [Q_REALM_LIST - Q_BASE] = "SELECT id, name, created_at FROM realm ORDER BY id",
    [Q_MEMBER_CLOSE - Q_BASE] = "UPDATE realm_member SET removed_at = $3, removed_by = $4"
                                " WHERE realm_id = $1 AND member = $2 AND removed_at IS NULL",
    [Q_MEMBER_INSERT - Q_BASE] =
        "INSERT INTO realm_member(realm_id, member, role, permissions, granted_at, granted_by)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
    [Q_MEMBER_GET - Q_BASE] = "SELECT " MEMBER_COLS " FROM realm_member"
                              " WHERE realm_id = $1 AND member = $2 AND removed_at IS NULL",
    [Q_MEMBER_HISTORY - Q_BASE] =
        "SELECT " MEMBER_COLS " FROM realm_member WHERE realm_id = $1 ORDER BY seq",
    /* a no-op write: on PostgreSQL it holds the realm's row lock until
     * commit, so that membership changes of one realm run one at a time */
    [Q_REALM_LOCK - Q_BASE] = "UPDATE realm SET created_at = created_at WHERE id = $1",
    [Q_MEMBER_PERMS - Q_BASE] = "SELECT permissions FROM realm_member WHERE realm_id = $1"
                                " AND member IN ($2, '*') AND removed_at IS NULL",
};

#define EXEC(q, id, p, out, changes)                                                               \
    kh_sql_exec((q), (id), sql_text[(id)-Q_BASE], (p), sizeof(p) / sizeof((p)[0]), (out), (changes))

static int nonempty(const char *s)
{
    return s && *s;
}

/* ---- realms ------------------------------------------------------------ */

struct realm_ctx {
    const char *name;
    int64_t id;
    int64_t now;
    kh_realm_row **rows;
    size_t *n;
    const kh_member_row *first; /* realm_create: its first member, or NULL */
};

static kh_err insert_member(kh_sql *q, int64_t realm_id, const kh_member_row *m)
{
    kh_sql_param p[] = {kh_sql_int(realm_id),      kh_sql_text(m->member),
                        kh_sql_text(m->role),      kh_sql_int((int64_t)m->permissions),
                        kh_sql_int(m->granted_at), kh_sql_text(m->granted_by)};
    return EXEC(q, Q_MEMBER_INSERT, p, NULL, NULL);
}

static kh_err realm_create_on(kh_sql *q, void *arg)
{
    struct realm_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->name), kh_sql_int(x->now)};
    kh_sql_rows r;
    kh_err err = EXEC(q, Q_REALM_INSERT, p, &r, NULL);
    if (err == KH_OK)
        x->id = r.n == 1 ? kh_sql_cell_int(&r, 0, 0) : 0;
    if (err == KH_OK && x->id == 0)
        err = KH_ERR_STORE;
    kh_sql_rows_clear(&r);
    if (err == KH_OK && x->first)
        err = insert_member(q, x->id, x->first);
    return err;
}

kh_err kh_store_realm_create(kh_store *s, const char *name, int64_t now, const kh_member_row *first,
                             int64_t *id)
{
    struct realm_ctx x = {name, 0, now, NULL, NULL, first};
    if (!nonempty(name) || !id ||
        (first &&
         (!nonempty(first->member) || !nonempty(first->role) || !nonempty(first->granted_by))))
        return KH_ERR_INVALID_ARG;
    kh_err err = kh_sql_run(s, 1, realm_create_on, &x);
    if (err == KH_OK)
        *id = x.id;
    return err;
}

static void read_realm(const kh_sql_rows *r, size_t i, kh_realm_row *out)
{
    out->id = kh_sql_cell_int(r, i, 0);
    out->name = kh_sql_cell_dup(r, i, 1);
    out->created_at = kh_sql_cell_int(r, i, 2);
}

static kh_err realms_on(kh_sql *q, void *arg)
{
    struct realm_ctx *x = arg;
    kh_sql_rows r;
    kh_err err;
    if (x->name) {
        kh_sql_param p[] = {kh_sql_text(x->name)};
        err = EXEC(q, Q_REALM_BY_NAME, p, &r, NULL);
    } else if (x->id) {
        kh_sql_param p[] = {kh_sql_int(x->id)};
        err = EXEC(q, Q_REALM_BY_ID, p, &r, NULL);
    } else {
        err = kh_sql_exec(q, Q_REALM_LIST, sql_text[Q_REALM_LIST - Q_BASE], NULL, 0, &r, NULL);
    }
    if (err != KH_OK)
        return err;
    kh_realm_row *list = kh_xcalloc(r.n ? r.n : 1, sizeof(*list));
    for (size_t i = 0; i < r.n; i++)
        read_realm(&r, i, &list[i]);
    *x->rows = list;
    *x->n = r.n;
    kh_sql_rows_clear(&r);
    return KH_OK;
}

kh_err kh_store_realm_find(kh_store *s, const char *name, int64_t id, kh_realm_row *out)
{
    kh_realm_row *rows = NULL;
    size_t n = 0;
    struct realm_ctx x = {name, id, 0, &rows, &n, NULL};
    if (!out || (!nonempty(name) && id <= 0))
        return KH_ERR_INVALID_ARG;
    kh_err err = kh_sql_run(s, 0, realms_on, &x);
    if (err == KH_OK && n == 0)
        err = KH_ERR_NOT_FOUND;
    if (err == KH_OK) {
        *out = rows[0];
        memset(&rows[0], 0, sizeof(rows[0]));
    }
    kh_realm_rows_free(rows, n);
    return err;
}

kh_err kh_store_realm_list(kh_store *s, kh_realm_row **rows, size_t *n)
{
    struct realm_ctx x = {NULL, 0, 0, rows, n, NULL};
    return rows && n ? kh_sql_run(s, 0, realms_on, &x) : KH_ERR_INVALID_ARG;
}

void kh_realm_rows_free(kh_realm_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].name);
    free(rows);
}

/* ---- members ----------------------------------------------------------- */

/* Lock realm id for the rest of the transaction; KH_ERR_NOT_FOUND when
 * there is no such realm. */
static kh_err realm_lock(kh_sql *q, int64_t id)
{
    kh_sql_param p[] = {kh_sql_int(id)};
    int64_t changed = 0;
    kh_err err = EXEC(q, Q_REALM_LOCK, p, NULL, &changed);
    return err == KH_OK && changed == 0 ? KH_ERR_NOT_FOUND : err;
}

static kh_err member_set_on(kh_sql *q, void *arg)
{
    const kh_member_row *m = arg;
    kh_err err = realm_lock(q, m->realm_id);
    if (err != KH_OK)
        return err;
    kh_sql_param c[] = {kh_sql_int(m->realm_id), kh_sql_text(m->member), kh_sql_int(m->granted_at),
                        kh_sql_text(m->granted_by)};
    if ((err = EXEC(q, Q_MEMBER_CLOSE, c, NULL, NULL)) != KH_OK)
        return err;
    return insert_member(q, m->realm_id, m);
}

kh_err kh_store_member_set(kh_store *s, const kh_member_row *m)
{
    if (!m || !nonempty(m->member) || !nonempty(m->role) || !nonempty(m->granted_by))
        return KH_ERR_INVALID_ARG;
    return kh_sql_run(s, 1, member_set_on, (void *)m);
}

struct remove_ctx {
    int64_t realm_id;
    const char *member;
    int64_t now;
    const char *by;
};

static kh_err member_remove_on(kh_sql *q, void *arg)
{
    struct remove_ctx *x = arg;
    int64_t changed = 0;
    kh_sql_param c[] = {kh_sql_int(x->realm_id), kh_sql_text(x->member), kh_sql_int(x->now),
                        kh_sql_text(x->by)};
    kh_err err = realm_lock(q, x->realm_id);
    if (err == KH_OK)
        err = EXEC(q, Q_MEMBER_CLOSE, c, NULL, &changed);
    return err == KH_OK && changed == 0 ? KH_ERR_NOT_FOUND : err;
}

kh_err kh_store_member_remove(kh_store *s, int64_t realm_id, const char *member, int64_t now,
                              const char *by)
{
    struct remove_ctx x = {realm_id, member, now, by};
    if (!nonempty(member) || !nonempty(by))
        return KH_ERR_INVALID_ARG;
    return kh_sql_run(s, 1, member_remove_on, &x);
}

struct members_ctx {
    int query;
    int64_t realm_id;
    const char *member; /* Q_MEMBER_GET only */
    kh_member_row **rows;
    size_t *n;
};

static kh_err members_on(kh_sql *q, void *arg)
{
    struct members_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_int(x->realm_id), kh_sql_text(x->member)};
    kh_sql_rows r;
    kh_err err =
        x->query == Q_MEMBER_GET
            ? EXEC(q, Q_MEMBER_GET, p, &r, NULL)
            : kh_sql_exec(q, Q_MEMBER_HISTORY, sql_text[Q_MEMBER_HISTORY - Q_BASE], p, 1, &r, NULL);
    if (err != KH_OK)
        return err;
    kh_member_row *list = kh_xcalloc(r.n ? r.n : 1, sizeof(*list));
    for (size_t i = 0; i < r.n; i++) {
        list[i].realm_id = kh_sql_cell_int(&r, i, 0);
        list[i].member = kh_sql_cell_dup(&r, i, 1);
        list[i].role = kh_sql_cell_dup(&r, i, 2);
        list[i].permissions = (uint32_t)kh_sql_cell_int(&r, i, 3);
        list[i].granted_at = kh_sql_cell_int(&r, i, 4);
        list[i].granted_by = kh_sql_cell_dup(&r, i, 5);
        list[i].removed_at = kh_sql_cell_int(&r, i, 6);
        list[i].removed_by = kh_sql_cell_dup(&r, i, 7);
    }
    *x->rows = list;
    *x->n = r.n;
    kh_sql_rows_clear(&r);
    return KH_OK;
}

kh_err kh_store_member_get(kh_store *s, int64_t realm_id, const char *member, kh_member_row *out)
{
    kh_member_row *rows = NULL;
    size_t n = 0;
    struct members_ctx x = {Q_MEMBER_GET, realm_id, member, &rows, &n};
    if (!nonempty(member) || !out)
        return KH_ERR_INVALID_ARG;
    kh_err err = kh_sql_run(s, 0, members_on, &x);
    if (err == KH_OK && n == 0)
        err = KH_ERR_NOT_FOUND;
    if (err == KH_OK) {
        *out = rows[0];
        memset(&rows[0], 0, sizeof(rows[0]));
    }
    kh_member_rows_free(rows, n);
    return err;
}

kh_err kh_store_member_history(kh_store *s, int64_t realm_id, kh_member_row **rows, size_t *n)
{
    struct members_ctx x = {Q_MEMBER_HISTORY, realm_id, NULL, rows, n};
    return rows && n ? kh_sql_run(s, 0, members_on, &x) : KH_ERR_INVALID_ARG;
}

struct perms_ctx {
    int64_t realm_id;
    const char *principal;
    uint32_t perms;
};

static kh_err perms_on(kh_sql *q, void *arg)
{
    struct perms_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_int(x->realm_id), kh_sql_text(x->principal)};
    kh_sql_rows r;
    kh_err err = EXEC(q, Q_MEMBER_PERMS, p, &r, NULL);
    for (size_t i = 0; err == KH_OK && i < r.n; i++)
        x->perms |= (uint32_t)kh_sql_cell_int(&r, i, 0);
    kh_sql_rows_clear(&r);
    return err;
}

kh_err kh_store_realm_perms(kh_store *s, int64_t realm_id, const char *principal, uint32_t *perms)
{
    struct perms_ctx x = {realm_id, principal, 0};
    if (!nonempty(principal) || !perms)
        return KH_ERR_INVALID_ARG;
    kh_err err = kh_sql_run(s, 0, perms_on, &x);
    *perms = err == KH_OK ? x.perms : 0;
    return err;
}

void kh_member_row_clear(kh_member_row *m)
{
    if (!m)
        return;
    free(m->member);
    free(m->role);
    free(m->granted_by);
    free(m->removed_by);
    memset(m, 0, sizeof(*m));
}

void kh_member_rows_free(kh_member_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kh_member_row_clear(&rows[i]);
    free(rows);
}
