/*
 * store_users.c - organizations, users, identities and API keys, written
 * once for both backends through store/sql.h (the queries are plain SQL
 * both understand).
 *
 * Users are append-only: app_user holds what never changes (id,
 * organization, creation time), user_history one row per state, and the
 * current state is the row with the highest seq. Checks that a referenced
 * row exists run inside the writing transaction, so a missing user or
 * organization is KH_ERR_NOT_FOUND rather than a foreign-key failure.
 */
#include "common/mem.h"
#include "store/idcache.h"
#include "store/sql.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

enum {
    Q_ORG_INSERT,
    Q_ORG_LIST,
    Q_ORG_EXISTS,
    Q_USER_INSERT,
    Q_HIST_INSERT,
    Q_USER_EXISTS,
    Q_USER_GET,
    Q_USER_HISTORY,
    Q_USER_LIST,
    Q_ID_INSERT,
    Q_ID_REMOVE,
    Q_ID_LIST,
    Q_ID_USER,
    Q_KEY_INSERT,
    Q_KEY_GET,
    Q_KEY_LIST,
    Q_KEY_REVOKE,
    Q_KEY_UNMAP,
    Q_USER_BUMP,
};

/* The columns of a user state, in the order read_user expects. */
#define USER_COLS                                                                                  \
    "u.id, u.organization, u.created_at, h.label, h.email, h.profile, h.revoked_at, h.at,"         \
    " h.change, h.actor, u.revision"
#define NEWEST "h.seq = (SELECT MAX(seq) FROM user_history WHERE user_id = u.id)"

static const char *const sql_text[] = {
    [Q_ORG_INSERT] = "INSERT INTO organization(id, created_at) VALUES ($1, $2)",
    [Q_ORG_LIST] = "SELECT id, created_at FROM organization ORDER BY created_at, id",
    [Q_ORG_EXISTS] = "SELECT 1 FROM organization WHERE id = $1",
    [Q_USER_INSERT] = "INSERT INTO app_user(id, organization, created_at) VALUES ($1, $2, $3)",
    [Q_HIST_INSERT] = "INSERT INTO user_history(user_id, at, change, actor, label, email, profile,"
                      " revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [Q_USER_EXISTS] = "SELECT 1 FROM app_user WHERE id = $1",
    [Q_USER_GET] = "SELECT " USER_COLS " FROM app_user u JOIN user_history h ON h.user_id = u.id"
                   " WHERE u.id = $1 AND " NEWEST,
    [Q_USER_HISTORY] =
        "SELECT " USER_COLS " FROM app_user u JOIN user_history h ON h.user_id = u.id"
        " WHERE u.id = $1 ORDER BY h.seq",
    [Q_USER_LIST] =
        "SELECT " USER_COLS " FROM app_user u JOIN user_history h ON h.user_id = u.id"
        " WHERE (CAST($1 AS TEXT) IS NULL OR u.organization = $1) AND " NEWEST " ORDER BY u.seq",
    [Q_ID_INSERT] = "INSERT INTO identity(identity, user_id, created_at) VALUES ($1, $2, $3)",
    [Q_ID_REMOVE] = "UPDATE identity SET removed_at = $3"
                    " WHERE identity = $1 AND user_id = $2 AND removed_at IS NULL",
    [Q_ID_LIST] = "SELECT identity, user_id, created_at, removed_at FROM identity"
                  " WHERE user_id = $1 ORDER BY seq",
    [Q_ID_USER] = "SELECT " USER_COLS " FROM identity i JOIN app_user u ON u.id = i.user_id"
                  " JOIN user_history h ON h.user_id = u.id"
                  " WHERE i.identity = $1 AND i.removed_at IS NULL AND " NEWEST,
    [Q_KEY_INSERT] = "INSERT INTO api_key(id, user_id, label, secret_sha256, created_at)"
                     " VALUES ($1, $2, $3, $4, $5)",
    [Q_KEY_GET] = "SELECT id, user_id, label, secret_sha256, created_at, revoked_at"
                  " FROM api_key WHERE id = $1",
    [Q_KEY_LIST] = "SELECT id, user_id, label, secret_sha256, created_at, revoked_at"
                   " FROM api_key WHERE user_id = $1 ORDER BY created_at, id",
    [Q_KEY_REVOKE] = "UPDATE api_key SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
                     " AND (CAST($3 AS TEXT) IS NULL OR user_id = $3)",
    [Q_USER_BUMP] = "UPDATE app_user SET revision = revision + 1 WHERE id = $1 AND revision = $2",
    [Q_KEY_UNMAP] =
        "UPDATE identity SET removed_at = $2 WHERE identity = $1 AND removed_at IS NULL",
};

#define EXEC(q, id, p, out, changes)                                                               \
    kh_sql_exec((q), (id), sql_text[id], (p), sizeof(p) / sizeof((p)[0]), (out), (changes))

static int nonempty(const char *s)
{
    return s && *s;
}

/* Every write here may change what an identity maps to: once it is over
 * (committed or not; a needless invalidation is harmless), the identity
 * cache drops what it held, before the writer's caller hears of it. */
static kh_err run_write(kh_store *s, kh_sql_fn fn, void *arg)
{
    kh_err err = kh_sql_run(s, 1, fn, arg);
    kh_idcache_bump(s->idcache);
    return err;
}

/* Does the one-parameter query id return a row? */
static kh_err exists(kh_sql *q, int id, const char *key, int *found)
{
    kh_sql_param p[] = {kh_sql_text(key)};
    kh_sql_rows r;
    kh_err err = EXEC(q, id, p, &r, NULL);
    if (err == KH_OK)
        *found = r.n > 0;
    kh_sql_rows_clear(&r);
    return err;
}

/* ---- organizations ----------------------------------------------------- */

struct org_ctx {
    const char *id;
    int64_t now;
    kh_org_row **rows;
    size_t *n;
};

static kh_err org_create_on(kh_sql *q, void *arg)
{
    struct org_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->id), kh_sql_int(x->now)};
    return EXEC(q, Q_ORG_INSERT, p, NULL, NULL);
}

kh_err kh_store_org_create(kh_store *s, const char *id, int64_t now)
{
    struct org_ctx x = {id, now, NULL, NULL};
    return nonempty(id) ? run_write(s, org_create_on, &x) : KH_ERR_INVALID_ARG;
}

static kh_err org_list_on(kh_sql *q, void *arg)
{
    struct org_ctx *x = arg;
    kh_sql_rows r;
    kh_err err = kh_sql_exec(q, Q_ORG_LIST, sql_text[Q_ORG_LIST], NULL, 0, &r, NULL);
    if (err != KH_OK)
        return err;
    kh_org_row *list = kh_xcalloc(r.n ? r.n : 1, sizeof(*list));
    for (size_t i = 0; i < r.n; i++) {
        list[i].id = kh_sql_cell_dup(&r, i, 0);
        list[i].created_at = kh_sql_cell_int(&r, i, 1);
    }
    *x->rows = list;
    *x->n = r.n;
    kh_sql_rows_clear(&r);
    return KH_OK;
}

kh_err kh_store_org_list(kh_store *s, kh_org_row **rows, size_t *n)
{
    struct org_ctx x = {NULL, 0, rows, n};
    return rows && n ? kh_sql_run(s, 0, org_list_on, &x) : KH_ERR_INVALID_ARG;
}

void kh_org_rows_free(kh_org_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].id);
    free(rows);
}

/* ---- users ------------------------------------------------------------- */

static void read_user(const kh_sql_rows *r, size_t i, kh_user_row *u)
{
    u->id = kh_sql_cell_dup(r, i, 0);
    u->organization = kh_sql_cell_dup(r, i, 1);
    u->created_at = kh_sql_cell_int(r, i, 2);
    u->label = kh_sql_cell_dup(r, i, 3);
    u->email = kh_sql_cell_dup(r, i, 4);
    u->profile = kh_sql_cell_dup(r, i, 5);
    u->revoked_at = kh_sql_cell_int(r, i, 6);
    u->at = kh_sql_cell_int(r, i, 7);
    u->change = kh_sql_cell_dup(r, i, 8);
    u->actor = kh_sql_cell_dup(r, i, 9);
    u->revision = kh_sql_cell_int(r, i, 10);
}

static int user_ok(const kh_user_row *u)
{
    return u && nonempty(u->id) && u->label && u->email && nonempty(u->profile) &&
           nonempty(u->change) && nonempty(u->actor);
}

static kh_err insert_state(kh_sql *q, const kh_user_row *u)
{
    kh_sql_param p[] = {kh_sql_text(u->id),      kh_sql_int(u->at),        kh_sql_text(u->change),
                        kh_sql_text(u->actor),   kh_sql_text(u->label),    kh_sql_text(u->email),
                        kh_sql_text(u->profile), kh_sql_int(u->revoked_at)};
    return EXEC(q, Q_HIST_INSERT, p, NULL, NULL);
}

static kh_err user_create_on(kh_sql *q, void *arg)
{
    const kh_user_row *u = arg;
    int found = 0;
    kh_err err = exists(q, Q_ORG_EXISTS, u->organization, &found);
    if (err == KH_OK && !found)
        err = KH_ERR_NOT_FOUND;
    if (err != KH_OK)
        return err;
    kh_sql_param p[] = {kh_sql_text(u->id), kh_sql_text(u->organization),
                        kh_sql_int(u->created_at)};
    if ((err = EXEC(q, Q_USER_INSERT, p, NULL, NULL)) != KH_OK)
        return err;
    return insert_state(q, u);
}

kh_err kh_store_user_create(kh_store *s, const kh_user_row *u)
{
    if (!user_ok(u) || !nonempty(u->organization))
        return KH_ERR_INVALID_ARG;
    return run_write(s, user_create_on, (void *)u);
}

static kh_err user_append_on(kh_sql *q, void *arg)
{
    const kh_user_row *u = arg;
    int found = 0;
    int64_t changed = 0;
    kh_err err = exists(q, Q_USER_EXISTS, u->id, &found);
    if (err == KH_OK && !found)
        err = KH_ERR_NOT_FOUND;
    /* The compare-and-increment takes the row's lock on PostgreSQL (a
     * racing append waits, then sees the new revision) and runs alone in
     * SQLite's write transaction. */
    kh_sql_param p[] = {kh_sql_text(u->id), kh_sql_int(u->revision)};
    if (err == KH_OK)
        err = EXEC(q, Q_USER_BUMP, p, NULL, &changed);
    if (err == KH_OK && changed == 0)
        err = KH_ERR_CONFLICT;
    return err == KH_OK ? insert_state(q, u) : err;
}

kh_err kh_store_user_append(kh_store *s, const kh_user_row *u)
{
    return user_ok(u) ? run_write(s, user_append_on, (void *)u) : KH_ERR_INVALID_ARG;
}

struct users_ctx {
    int query;
    const char *key; /* NULL allowed for Q_USER_LIST */
    kh_user_row **rows;
    size_t *n;
};

static kh_err users_on(kh_sql *q, void *arg)
{
    struct users_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->key)};
    kh_sql_rows r;
    kh_err err = EXEC(q, x->query, p, &r, NULL);
    if (err != KH_OK)
        return err;
    kh_user_row *list = kh_xcalloc(r.n ? r.n : 1, sizeof(*list));
    for (size_t i = 0; i < r.n; i++)
        read_user(&r, i, &list[i]);
    *x->rows = list;
    *x->n = r.n;
    kh_sql_rows_clear(&r);
    return KH_OK;
}

static kh_err users_query(kh_store *s, int query, const char *key, kh_user_row **rows, size_t *n)
{
    struct users_ctx x = {query, key, rows, n};
    return rows && n ? kh_sql_run(s, 0, users_on, &x) : KH_ERR_INVALID_ARG;
}

/* The one row of a users query into out; KH_ERR_NOT_FOUND when none. */
static kh_err one_user(kh_store *s, int query, const char *key, kh_user_row *out)
{
    kh_user_row *rows = NULL;
    size_t n = 0;
    if (!nonempty(key) || !out)
        return KH_ERR_INVALID_ARG;
    kh_err err = users_query(s, query, key, &rows, &n);
    if (err == KH_OK && n == 0)
        err = KH_ERR_NOT_FOUND;
    if (err == KH_OK) {
        *out = rows[0];
        memset(&rows[0], 0, sizeof(rows[0]));
    }
    kh_user_rows_free(rows, n);
    return err;
}

kh_err kh_store_user_get(kh_store *s, const char *id, kh_user_row *out)
{
    return one_user(s, Q_USER_GET, id, out);
}

kh_err kh_store_user_history(kh_store *s, const char *id, kh_user_row **rows, size_t *n)
{
    return nonempty(id) ? users_query(s, Q_USER_HISTORY, id, rows, n) : KH_ERR_INVALID_ARG;
}

kh_err kh_store_user_list(kh_store *s, const char *organization, kh_user_row **rows, size_t *n)
{
    return users_query(s, Q_USER_LIST, organization, rows, n);
}

void kh_user_row_clear(kh_user_row *u)
{
    if (!u)
        return;
    free(u->id);
    free(u->organization);
    free(u->label);
    free(u->email);
    free(u->profile);
    free(u->change);
    free(u->actor);
    memset(u, 0, sizeof(*u));
}

void kh_user_rows_free(kh_user_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kh_user_row_clear(&rows[i]);
    free(rows);
}

/* ---- identities -------------------------------------------------------- */

struct id_ctx {
    const char *identity;
    const char *user_id;
    int64_t now;
    kh_identity_row **rows;
    size_t *n;
};

static kh_err identity_add_on(kh_sql *q, void *arg)
{
    struct id_ctx *x = arg;
    int found = 0;
    kh_err err = exists(q, Q_USER_EXISTS, x->user_id, &found);
    if (err == KH_OK && !found)
        err = KH_ERR_NOT_FOUND;
    if (err != KH_OK)
        return err;
    kh_sql_param p[] = {kh_sql_text(x->identity), kh_sql_text(x->user_id), kh_sql_int(x->now)};
    return EXEC(q, Q_ID_INSERT, p, NULL, NULL);
}

kh_err kh_store_identity_add(kh_store *s, const char *identity, const char *user_id, int64_t now)
{
    struct id_ctx x = {identity, user_id, now, NULL, NULL};
    if (!nonempty(identity) || !nonempty(user_id))
        return KH_ERR_INVALID_ARG;
    return run_write(s, identity_add_on, &x);
}

static kh_err identity_remove_on(kh_sql *q, void *arg)
{
    struct id_ctx *x = arg;
    int64_t changed = 0;
    kh_sql_param p[] = {kh_sql_text(x->identity), kh_sql_text(x->user_id), kh_sql_int(x->now)};
    kh_err err = EXEC(q, Q_ID_REMOVE, p, NULL, &changed);
    return err == KH_OK && changed == 0 ? KH_ERR_NOT_FOUND : err;
}

kh_err kh_store_identity_remove(kh_store *s, const char *identity, const char *user_id, int64_t now)
{
    struct id_ctx x = {identity, user_id, now, NULL, NULL};
    if (!nonempty(identity) || !nonempty(user_id))
        return KH_ERR_INVALID_ARG;
    return run_write(s, identity_remove_on, &x);
}

static kh_err identity_list_on(kh_sql *q, void *arg)
{
    struct id_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->user_id)};
    kh_sql_rows r;
    kh_err err = EXEC(q, Q_ID_LIST, p, &r, NULL);
    if (err != KH_OK)
        return err;
    kh_identity_row *list = kh_xcalloc(r.n ? r.n : 1, sizeof(*list));
    for (size_t i = 0; i < r.n; i++) {
        list[i].identity = kh_sql_cell_dup(&r, i, 0);
        list[i].user_id = kh_sql_cell_dup(&r, i, 1);
        list[i].created_at = kh_sql_cell_int(&r, i, 2);
        list[i].removed_at = kh_sql_cell_int(&r, i, 3);
    }
    *x->rows = list;
    *x->n = r.n;
    kh_sql_rows_clear(&r);
    return KH_OK;
}

kh_err kh_store_identity_list(kh_store *s, const char *user_id, kh_identity_row **rows, size_t *n)
{
    struct id_ctx x = {NULL, user_id, 0, rows, n};
    if (!nonempty(user_id) || !rows || !n)
        return KH_ERR_INVALID_ARG;
    return kh_sql_run(s, 0, identity_list_on, &x);
}

kh_err kh_store_identity_user(kh_store *s, const char *identity, kh_user_row *out)
{
    return one_user(s, Q_ID_USER, identity, out);
}

static kh_err owner_of(const kh_user_row *u, kh_identity_owner *o)
{
    if (strlen(u->id) >= sizeof(o->user_id) || strlen(u->profile) >= sizeof(o->profile))
        return KH_ERR_STORE; /* ids are UUIDs, profiles short names */
    o->found = true;
    o->revoked = u->revoked_at != 0;
    memcpy(o->user_id, u->id, strlen(u->id) + 1);
    memcpy(o->profile, u->profile, strlen(u->profile) + 1);
    return KH_OK;
}

kh_err kh_store_identity_owner(kh_store *s, const char *identity, kh_identity_owner *out)
{
    if (!s || !nonempty(identity) || !out)
        return KH_ERR_INVALID_ARG;
    if (kh_idcache_get(s->idcache, identity, out))
        return KH_OK;
    /* before the query: a change committed from now on invalidates it */
    kh_idcache_mark m = kh_idcache_mark_now(s->idcache);
    kh_identity_owner o;
    kh_user_row u = {0};
    memset(&o, 0, sizeof(o));
    kh_err err = kh_store_identity_user(s, identity, &u);
    if (err == KH_OK)
        err = owner_of(&u, &o);
    else if (err == KH_ERR_NOT_FOUND)
        err = KH_OK; /* unmapped: an answer too, and cached as one */
    kh_user_row_clear(&u);
    if (err != KH_OK)
        return err;
    kh_idcache_put(s->idcache, identity, m, &o);
    *out = o;
    return KH_OK;
}

kh_err kh_store_set_identity_cache(kh_store *s, int64_t ttl_ms)
{
    kh_idcache *c = NULL;
    if (!s || ttl_ms < 0)
        return KH_ERR_INVALID_ARG;
    kh_err err = ttl_ms > 0 ? kh_idcache_new(ttl_ms, &c) : KH_OK;
    if (err == KH_OK) {
        kh_idcache_free(&s->idcache);
        s->idcache = c;
    }
    return err;
}

void kh_identity_rows_free(kh_identity_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].identity);
        free(rows[i].user_id);
    }
    free(rows);
}

/* ---- API keys ---------------------------------------------------------- */

#define APIKEY_PREFIX "apikey:"

static char *apikey_identity(const char *id)
{
    size_t n = strlen(APIKEY_PREFIX) + strlen(id) + 1;
    char *s = kh_xmalloc(n);
    memcpy(s, APIKEY_PREFIX, strlen(APIKEY_PREFIX));
    memcpy(s + strlen(APIKEY_PREFIX), id, strlen(id) + 1);
    return s;
}

static kh_err apikey_create_on(kh_sql *q, void *arg)
{
    const kh_apikey_row *k = arg;
    kh_sql_param p[] = {kh_sql_text(k->id), kh_sql_text(k->user_id), kh_sql_text(k->label),
                        kh_sql_text(k->secret_sha256), kh_sql_int(k->created_at)};
    char *identity = apikey_identity(k->id);
    struct id_ctx x = {identity, k->user_id, k->created_at, NULL, NULL};
    kh_err err = identity_add_on(q, &x); /* checks the user exists */
    if (err == KH_OK)
        err = EXEC(q, Q_KEY_INSERT, p, NULL, NULL);
    free(identity);
    return err;
}

kh_err kh_store_apikey_create(kh_store *s, const kh_apikey_row *k)
{
    if (!k || !nonempty(k->id) || !nonempty(k->user_id) || !k->label || !nonempty(k->secret_sha256))
        return KH_ERR_INVALID_ARG;
    return run_write(s, apikey_create_on, (void *)k);
}

struct key_ctx {
    int query;
    const char *key;
    kh_apikey_row **rows;
    size_t *n;
};

static kh_err keys_on(kh_sql *q, void *arg)
{
    struct key_ctx *x = arg;
    kh_sql_param p[] = {kh_sql_text(x->key)};
    kh_sql_rows r;
    kh_err err = EXEC(q, x->query, p, &r, NULL);
    if (err != KH_OK)
        return err;
    kh_apikey_row *list = kh_xcalloc(r.n ? r.n : 1, sizeof(*list));
    for (size_t i = 0; i < r.n; i++) {
        list[i].id = kh_sql_cell_dup(&r, i, 0);
        list[i].user_id = kh_sql_cell_dup(&r, i, 1);
        list[i].label = kh_sql_cell_dup(&r, i, 2);
        list[i].secret_sha256 = kh_sql_cell_dup(&r, i, 3);
        list[i].created_at = kh_sql_cell_int(&r, i, 4);
        list[i].revoked_at = kh_sql_cell_int(&r, i, 5);
    }
    *x->rows = list;
    *x->n = r.n;
    kh_sql_rows_clear(&r);
    return KH_OK;
}

kh_err kh_store_apikey_get(kh_store *s, const char *id, kh_apikey_row *out)
{
    kh_apikey_row *rows = NULL;
    size_t n = 0;
    struct key_ctx x = {Q_KEY_GET, id, &rows, &n};
    if (!nonempty(id) || !out)
        return KH_ERR_INVALID_ARG;
    kh_err err = kh_sql_run(s, 0, keys_on, &x);
    if (err == KH_OK && n == 0)
        err = KH_ERR_NOT_FOUND;
    if (err == KH_OK) {
        *out = rows[0];
        memset(&rows[0], 0, sizeof(rows[0]));
    }
    kh_apikey_rows_free(rows, n);
    return err;
}

kh_err kh_store_apikey_list(kh_store *s, const char *user_id, kh_apikey_row **rows, size_t *n)
{
    struct key_ctx x = {Q_KEY_LIST, user_id, rows, n};
    if (!nonempty(user_id) || !rows || !n)
        return KH_ERR_INVALID_ARG;
    return kh_sql_run(s, 0, keys_on, &x);
}

struct revoke_ctx {
    const char *id;
    const char *user_id;
    int64_t now;
};

static kh_err apikey_revoke_on(kh_sql *q, void *arg)
{
    struct revoke_ctx *x = arg;
    int64_t changed = 0;
    kh_sql_param p[] = {kh_sql_text(x->id), kh_sql_int(x->now), kh_sql_text(x->user_id)};
    kh_err err = EXEC(q, Q_KEY_REVOKE, p, NULL, &changed);
    if (err == KH_OK && changed == 0)
        err = KH_ERR_NOT_FOUND;
    if (err != KH_OK)
        return err;
    char *identity = apikey_identity(x->id);
    kh_sql_param u[] = {kh_sql_text(identity), kh_sql_int(x->now)};
    err = EXEC(q, Q_KEY_UNMAP, u, NULL, NULL);
    free(identity);
    return err;
}

kh_err kh_store_apikey_revoke(kh_store *s, const char *id, const char *user_id, int64_t now)
{
    struct revoke_ctx x = {id, user_id, now};
    return nonempty(id) ? run_write(s, apikey_revoke_on, &x) : KH_ERR_INVALID_ARG;
}

void kh_apikey_row_clear(kh_apikey_row *k)
{
    if (!k)
        return;
    free(k->id);
    free(k->user_id);
    free(k->label);
    free(k->secret_sha256);
    memset(k, 0, sizeof(*k));
}

void kh_apikey_rows_free(kh_apikey_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        kh_apikey_row_clear(&rows[i]);
    free(rows);
}
