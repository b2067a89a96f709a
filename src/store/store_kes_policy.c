/*
 * store_kes_policy.c - KES policies and identity assignments (store.h),
 * written once for both backends through store/sql.h.
 *
 * The rules of a policy are stored one a line (a rule holds no
 * whitespace, which kh_store_kes_policy_put enforces). Every change bumps
 * the single row of kes_policy_version in its own transaction: nodes
 * sharing the database poll that one row (ops/kes_policy_db.h) and
 * reload the set when it moved. A put that would store exactly what is
 * there changes no row and so leaves the version alone, which keeps
 * restarts (the policy file is written at every start) from making every
 * node reload. Statement ids start at Q_BASE, clear of store_users.c's
 * (0..) and store_realms.c's (40..).
 */
#include "common/mem.h"
#include "store/sql.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define Q_BASE 20

enum {
    Q_POL_UPSERT = Q_BASE,
    Q_POL_DELETE,
    Q_POL_LIST,
    Q_POL_EXISTS,
    Q_ASG_UPSERT,
    Q_ASG_DELETE,
    Q_ASG_DELETE_POLICY,
    Q_ASG_LIST,
    Q_VERSION_BUMP,
    Q_VERSION_GET,
    Q_END
};

static const char *const sql_text[Q_END - Q_BASE] = {
    [Q_POL_UPSERT - Q_BASE] =
        "INSERT INTO kes_policy(name, allow_rules, deny_rules, created_at, created_by)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET"
        " allow_rules = excluded.allow_rules, deny_rules = excluded.deny_rules,"
        " created_at = excluded.created_at, created_by = excluded.created_by"
        " WHERE kes_policy.allow_rules <> excluded.allow_rules"
        " OR kes_policy.deny_rules <> excluded.deny_rules",
    [Q_POL_DELETE - Q_BASE] = "DELETE FROM kes_policy WHERE name = $1",
    [Q_POL_LIST - Q_BASE] = "SELECT name, allow_rules, deny_rules, created_at, created_by"
                            " FROM kes_policy ORDER BY name",
    [Q_POL_EXISTS - Q_BASE] = "SELECT 1 FROM kes_policy WHERE name = $1",
    [Q_ASG_UPSERT - Q_BASE] =
        "INSERT INTO kes_assignment(identity, policy, assigned_at, assigned_by)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (identity) DO UPDATE SET"
        " policy = excluded.policy, assigned_at = excluded.assigned_at,"
        " assigned_by = excluded.assigned_by WHERE kes_assignment.policy <> excluded.policy",
    [Q_ASG_DELETE - Q_BASE] = "DELETE FROM kes_assignment WHERE identity = $1",
    [Q_ASG_DELETE_POLICY - Q_BASE] = "DELETE FROM kes_assignment WHERE policy = $1",
    [Q_ASG_LIST - Q_BASE] = "SELECT identity, policy, assigned_at, assigned_by"
                            " FROM kes_assignment ORDER BY identity",
    [Q_VERSION_BUMP - Q_BASE] = "UPDATE kes_policy_version SET version = version + 1 WHERE id = 1",
    [Q_VERSION_GET - Q_BASE] = "SELECT version FROM kes_policy_version WHERE id = 1",
};

#define EXEC(q, id, p, np, out, changes)                                                           \
    kh_sql_exec((q), (id), sql_text[(id)-Q_BASE], (p), (np), (out), (changes))

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void kh_kes_policy_rows_free(kh_kes_policy_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].name);
        free_strs(rows[i].allow, rows[i].n_allow);
        free_strs(rows[i].deny, rows[i].n_deny);
        free(rows[i].created_by);
    }
    free(rows);
}

void kh_kes_assignment_rows_free(kh_kes_assignment_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].identity);
        free(rows[i].policy);
        free(rows[i].assigned_by);
    }
    free(rows);
}

/* ---- rule lists as text -------------------------------------------------- */

static int rule_storable(const char *r)
{
    if (!r || !*r)
        return 0;
    for (const char *p = r; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return 0;
    return 1;
}

/* v[0..n) joined by '\n' (malloc'd); NULL when a rule is not storable. */
static char *join_rules(char *const *v, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        if (!rule_storable(v[i]))
            return NULL;
        len += strlen(v[i]) + 1;
    }
    char *out = kh_xmalloc(len), *w = out;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(v[i]);
        if (i > 0)
            *w++ = '\n';
        memcpy(w, v[i], k);
        w += k;
    }
    *w = '\0';
    return out;
}

static void split_rules(const char *text, char ***v, size_t *n)
{
    *v = NULL;
    *n = 0;
    const char *p = text ? text : "";
    while (*p) {
        size_t k = strcspn(p, "\n");
        if (k > 0) {
            *v = kh_xrealloc(*v, (*n + 1) * sizeof(**v));
            (*v)[(*n)++] = kh_xstrndup(p, k);
        }
        p += k;
        if (*p == '\n')
            p++;
    }
}

/* ---- writes -------------------------------------------------------------- */

static kh_err bump(kh_sql *q)
{
    int64_t changes = 0;
    kh_err err = EXEC(q, Q_VERSION_BUMP, NULL, 0, NULL, &changes);
    return err == KH_OK && changes != 1 ? KH_ERR_STORE : err;
}

struct put_ctx {
    const kh_kes_policy_row *p;
    const char *allow, *deny;
    const kh_kes_assignment_row *a;
    const char *name;
    int changed;
};

static kh_err put_on(kh_sql *q, void *arg)
{
    struct put_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->p->name), kh_sql_text(x->allow), kh_sql_text(x->deny),
                        kh_sql_int(x->p->created_at),
                        kh_sql_text(x->p->created_by ? x->p->created_by : "")};
    int64_t changes = 0;
    kh_err err = EXEC(q, Q_POL_UPSERT, p, 5, NULL, &changes);
    x->changed = changes > 0;
    return err == KH_OK && x->changed ? bump(q) : err;
}

kh_err kh_store_kes_policy_put(kh_store *s, const kh_kes_policy_row *p, int *changed)
{
    if (!p || !p->name || !*p->name)
        return KH_ERR_INVALID_ARG;
    struct put_ctx x = {.p = p};
    char *allow = join_rules(p->allow, p->n_allow), *deny = join_rules(p->deny, p->n_deny);
    kh_err err = KH_ERR_INVALID_ARG;
    if (allow && deny) {
        x.allow = allow;
        x.deny = deny;
        err = kh_sql_run(s, 1, put_on, &x);
    }
    if (err == KH_OK && changed)
        *changed = x.changed;
    free(allow);
    free(deny);
    return err;
}

static kh_err delete_on(kh_sql *q, void *arg)
{
    struct put_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->name)};
    int64_t changes = 0;
    kh_err err = EXEC(q, Q_ASG_DELETE_POLICY, p, 1, NULL, NULL);
    if (err == KH_OK)
        err = EXEC(q, Q_POL_DELETE, p, 1, NULL, &changes);
    if (err == KH_OK && changes == 0)
        err = KH_ERR_NOT_FOUND;
    return err == KH_OK ? bump(q) : err;
}

kh_err kh_store_kes_policy_delete(kh_store *s, const char *name)
{
    struct put_ctx x = {.name = name};
    return name && *name ? kh_sql_run(s, 1, delete_on, &x) : KH_ERR_INVALID_ARG;
}

static kh_err assign_on(kh_sql *q, void *arg)
{
    struct put_ctx *x = arg;
    kh_sql_param pe[] = {kh_sql_text(x->a->policy)};
    kh_sql_rows r = {0};
    kh_err err = EXEC(q, Q_POL_EXISTS, pe, 1, &r, NULL);
    if (err == KH_OK && r.n == 0)
        err = KH_ERR_NOT_FOUND;
    kh_sql_rows_clear(&r);
    if (err != KH_OK)
        return err;
    kh_sql_param p[] = {kh_sql_text(x->a->identity), kh_sql_text(x->a->policy),
                        kh_sql_int(x->a->assigned_at),
                        kh_sql_text(x->a->assigned_by ? x->a->assigned_by : "")};
    int64_t changes = 0;
    err = EXEC(q, Q_ASG_UPSERT, p, 4, NULL, &changes);
    x->changed = changes > 0;
    return err == KH_OK && x->changed ? bump(q) : err;
}

kh_err kh_store_kes_assign(kh_store *s, const kh_kes_assignment_row *a, int *changed)
{
    if (!a || !a->identity || !*a->identity || !a->policy || !*a->policy)
        return KH_ERR_INVALID_ARG;
    struct put_ctx x = {.a = a};
    kh_err err = kh_sql_run(s, 1, assign_on, &x);
    if (err == KH_OK && changed)
        *changed = x.changed;
    return err;
}

static kh_err unassign_on(kh_sql *q, void *arg)
{
    struct put_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->name)};
    int64_t changes = 0;
    kh_err err = EXEC(q, Q_ASG_DELETE, p, 1, NULL, &changes);
    if (err == KH_OK && changes == 0)
        err = KH_ERR_NOT_FOUND;
    return err == KH_OK ? bump(q) : err;
}

kh_err kh_store_kes_unassign(kh_store *s, const char *identity)
{
    struct put_ctx x = {.name = identity};
    return identity && *identity ? kh_sql_run(s, 1, unassign_on, &x) : KH_ERR_INVALID_ARG;
}

/* ---- reads --------------------------------------------------------------- */

struct list_ctx {
    int id;
    kh_sql_rows rows;
};

static kh_err list_on(kh_sql *q, void *arg)
{
    struct list_ctx *x = arg;
    return EXEC(q, x->id, NULL, 0, &x->rows, NULL);
}

kh_err kh_store_kes_policy_list(kh_store *s, kh_kes_policy_row **rows, size_t *n)
{
    struct list_ctx x = {.id = Q_POL_LIST};
    kh_err err = kh_sql_run(s, 0, list_on, &x);
    if (err != KH_OK)
        return err;
    kh_kes_policy_row *v = kh_xcalloc(x.rows.n ? x.rows.n : 1, sizeof(*v));
    for (size_t i = 0; i < x.rows.n; i++) {
        v[i].name = kh_sql_cell_dup(&x.rows, i, 0);
        split_rules(kh_sql_cell(&x.rows, i, 1), &v[i].allow, &v[i].n_allow);
        split_rules(kh_sql_cell(&x.rows, i, 2), &v[i].deny, &v[i].n_deny);
        v[i].created_at = kh_sql_cell_int(&x.rows, i, 3);
        v[i].created_by = kh_sql_cell_dup(&x.rows, i, 4);
    }
    *rows = v;
    *n = x.rows.n;
    kh_sql_rows_clear(&x.rows);
    return KH_OK;
}

kh_err kh_store_kes_assignment_list(kh_store *s, kh_kes_assignment_row **rows, size_t *n)
{
    struct list_ctx x = {.id = Q_ASG_LIST};
    kh_err err = kh_sql_run(s, 0, list_on, &x);
    if (err != KH_OK)
        return err;
    kh_kes_assignment_row *v = kh_xcalloc(x.rows.n ? x.rows.n : 1, sizeof(*v));
    for (size_t i = 0; i < x.rows.n; i++) {
        v[i].identity = kh_sql_cell_dup(&x.rows, i, 0);
        v[i].policy = kh_sql_cell_dup(&x.rows, i, 1);
        v[i].assigned_at = kh_sql_cell_int(&x.rows, i, 2);
        v[i].assigned_by = kh_sql_cell_dup(&x.rows, i, 3);
    }
    *rows = v;
    *n = x.rows.n;
    kh_sql_rows_clear(&x.rows);
    return KH_OK;
}

kh_err kh_store_kes_policy_version(kh_store *s, int64_t *version)
{
    struct list_ctx x = {.id = Q_VERSION_GET};
    kh_err err = kh_sql_run(s, 0, list_on, &x);
    if (err == KH_OK && x.rows.n != 1)
        err = KH_ERR_STORE;
    if (err == KH_OK)
        *version = kh_sql_cell_int(&x.rows, 0, 0);
    kh_sql_rows_clear(&x.rows);
    return err;
}
