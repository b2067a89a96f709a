/*
 * postgres.c - PostgreSQL backend: connection pool, statements, errors,
 * migrations, realms.
 *
 * This is the production backend: several keyhold nodes share one database,
 * so everything that must be unique (uids, realm names, realm key versions,
 * the schema version) is decided by the database's constraints and locks,
 * never by a node. One kh_store keeps up to POOL_MAX connections, opened
 * lazily; a thread borrows one per call and waits when all are busy. A
 * connection found broken is reset on its next use. Fixed statements are
 * prepared once per connection and run with parameters (blobs as binary
 * BYTEA): no value is ever put into SQL text. A write returns KH_OK only
 * once its COMMIT has been acknowledged (synchronous_commit is left at the
 * server's setting, "on" by default, so that means flushed to the WAL).
 * Managed objects and Locate live in postgres_objects.c; parameters,
 * results and errors in postgres_values.c.
 *
 * What it is not: a place for connection strings in logs. The URL may hold
 * a password; it is kept in memory only to open connections and wiped on
 * close, and errors log a SQLSTATE and a fixed description, never the
 * server's message (which may quote values).
 */
#include "store/postgres.h"

#include "common/log.h"
#include "common/mem.h"
#include "store/migrations_postgres.h"
#include "store/postgres_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 8
/* pg_advisory_xact_lock key serializing migrations across nodes: "khmigrat". */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_xact_lock(7730749188497596788)"

typedef struct pg_store {
    kh_store base; /* first, so a kh_store * is a pg_store * */
    char *url;     /* may hold a password: wiped on close */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pg_conn *idle;
    int n_open;
    pg_audit_group audit;
} pg_store;

pg_audit_group *pg_audit_group_of(kh_store *s)
{
    return &((pg_store *)s)->audit;
}

/* Parameter types come from the statement's context; text for numbers,
 * binary for BYTEA. Names are "kh_s<id>" on every connection. */
#define AUDIT_INSERT                                                                               \
    "INSERT INTO audit(id, time_us, principal, client_addr, operation, object_uid, result, hash)"
#define AUDIT_ROW1 "($1, $2, $3, $4, $5, $6, $7, $8)"
#define AUDIT_ROW2 "($9, $10, $11, $12, $13, $14, $15, $16)"

static const char *const stmt_sql[PG_STMT_MAX_] = {
    [PG_REALM_INSERT] = "INSERT INTO realm(name, created_at) VALUES ($1, $2)"
                        " ON CONFLICT (name) DO NOTHING",
    [PG_REALM_SELECT] = "SELECT id FROM realm WHERE name = $1",
    [PG_RKEY_LATEST] = "SELECT version, wrapped FROM realm_key WHERE realm_id = $1"
                       " ORDER BY version DESC LIMIT 1",
    [PG_RKEY_GET] = "SELECT wrapped FROM realm_key WHERE realm_id = $1 AND version = $2",
    [PG_RKEY_INSERT] = "INSERT INTO realm_key(realm_id, version, wrapped, created_at)"
                       " VALUES ($1, $2, $3, $4)",
    [PG_OBJ_INSERT] = "INSERT INTO object(uid, realm_id, owner, object_type, state, algorithm,"
                      " length, created_at, updated_at, revision, attrs, material,"
                      " material_key_version)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $12)",
    /* One statement, so the row and its names come from one snapshot; one
     * result row per name (a single row with a NULL name when there are
     * none). Names sort bytewise, as SQLite's BINARY collation does. */
    [PG_OBJ_GET] = "SELECT o.uid, o.realm_id, o.owner, o.object_type, o.state, o.algorithm,"
                   " o.length, o.created_at, o.updated_at, o.revision, o.attrs, o.material,"
                   " o.material_key_version, n.name"
                   " FROM object o LEFT JOIN object_name n ON n.uid = o.uid"
                   " WHERE o.uid = $1 ORDER BY n.name COLLATE \"C\"",
    [PG_OBJ_UPDATE] = "UPDATE object SET realm_id = $2, owner = $3, state = $4,"
                      " algorithm = $5, length = $6, updated_at = $7, attrs = $8,"
                      " material = $9, material_key_version = $10, revision = revision + 1"
                      " WHERE uid = $1 AND revision = $11",
    [PG_OBJ_REVISION] = "SELECT revision FROM object WHERE uid = $1",
    [PG_NAME_INSERT] = "INSERT INTO object_name(uid, name) VALUES ($1, $2)"
                       " ON CONFLICT DO NOTHING",
    [PG_NAME_DELETE] = "DELETE FROM object_name WHERE uid = $1",
    /* The row lock on the chain head serializes appends across nodes. */
    [PG_AUDIT_HEAD_LOCK] = "SELECT last_id, last_hash FROM audit_head WHERE one = 1 FOR UPDATE",
    [PG_AUDIT_HEAD] = "SELECT last_id, last_hash FROM audit_head WHERE one = 1",
    /* A batch's rows go two to a statement, and its last statement also
     * moves the head, so a batch of n rows costs ceil(n / 2) round trips
     * after the head's lock, not n + 1. */
    [PG_AUDIT_INSERT_HEAD] = "WITH i AS (" AUDIT_INSERT " VALUES " AUDIT_ROW1 ")"
                             " UPDATE audit_head SET last_id = $1, last_hash = $8 WHERE one = 1",
    [PG_AUDIT_INSERT2] = AUDIT_INSERT " VALUES " AUDIT_ROW1 ", " AUDIT_ROW2,
    [PG_AUDIT_INSERT2_HEAD] = "WITH i AS (" AUDIT_INSERT " VALUES " AUDIT_ROW1 ", " AUDIT_ROW2 ")"
                              " UPDATE audit_head SET last_id = $9, last_hash = $16 WHERE one = 1",
    [PG_AUDIT_READ] = "SELECT id, time_us, principal, client_addr, operation, object_uid, result,"
                      " hash FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
    [PG_GRANT_ADD] = "INSERT INTO access_grant(owner, object_uid, grantee, permissions, created_at)"
                     " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, object_uid, grantee)"
                     " DO UPDATE SET permissions = access_grant.permissions | EXCLUDED.permissions",
    [PG_GRANT_SUB] = "UPDATE access_grant SET permissions = permissions & ~($4::integer)"
                     " WHERE owner = $1 AND object_uid = $2 AND grantee = $3",
    [PG_GRANT_PRUNE] = "DELETE FROM access_grant WHERE owner = $1 AND object_uid = $2"
                       " AND grantee = $3 AND permissions = 0",
    [PG_GRANT_LIST] = "SELECT owner, object_uid, grantee, permissions FROM access_grant"
                      " WHERE owner = $1 AND ($2::text IS NULL OR object_uid = $2::text)"
                      " ORDER BY object_uid COLLATE \"C\", grantee COLLATE \"C\"",
    [PG_GRANT_PERMS] = "SELECT permissions FROM access_grant WHERE owner = $1"
                       " AND object_uid IN ($2, '*') AND grantee IN ($3, '*')",
    /* Taken when free, or from expected (NULL never equals anything); the
     * unique key makes it one winner across nodes. */
    [PG_KES_NAME_CLAIM] = "INSERT INTO kes_name(owner, name, holder, claimed_at)"
                          " VALUES ($1, $2, $3, $4) ON CONFLICT (owner, name) DO UPDATE"
                          " SET holder = EXCLUDED.holder, claimed_at = EXCLUDED.claimed_at"
                          " WHERE kes_name.holder = $5::text",
    [PG_KES_NAME_GET] = "SELECT holder FROM kes_name WHERE owner = $1 AND name = $2",
};

/* What each statement is, for log lines. */
static const char *const stmt_what[PG_STMT_MAX_] = {
    [PG_REALM_INSERT] = "realm insert",     [PG_REALM_SELECT] = "realm select",
    [PG_RKEY_LATEST] = "realm key select",  [PG_RKEY_GET] = "realm key select",
    [PG_RKEY_INSERT] = "realm key insert",  [PG_OBJ_INSERT] = "object insert",
    [PG_OBJ_GET] = "object select",         [PG_OBJ_UPDATE] = "object update",
    [PG_OBJ_REVISION] = "revision select",  [PG_NAME_INSERT] = "name insert",
    [PG_NAME_DELETE] = "name delete",       [PG_AUDIT_HEAD_LOCK] = "audit head lock",
    [PG_AUDIT_HEAD] = "audit head",         [PG_AUDIT_INSERT_HEAD] = "audit insert",
    [PG_AUDIT_INSERT2] = "audit insert",    [PG_AUDIT_INSERT2_HEAD] = "audit insert",
    [PG_AUDIT_READ] = "audit select",       [PG_GRANT_ADD] = "grant insert",
    [PG_GRANT_SUB] = "grant update",        [PG_GRANT_PRUNE] = "grant delete",
    [PG_GRANT_LIST] = "grant select",       [PG_GRANT_PERMS] = "grant select",
    [PG_KES_NAME_CLAIM] = "kes name claim", [PG_KES_NAME_GET] = "kes name select",
};

/* ---- statements ------------------------------------------------------- */

static int result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static kh_err prepare(pg_conn *c, const char *name, const char *sql, int n_types, const Oid *types)
{
    PGresult *res = PQprepare(c->conn, name, sql, n_types, types);
    kh_err err = result_ok(res) ? KH_OK : pg_fail(c, res, "prepare");
    PQclear(res);
    if (err == KH_OK)
        c->n_ok++;
    return err;
}

static kh_err exec_prepared(pg_conn *c, const char *name, const pg_params *p, const char *what,
                            PGresult **out)
{
    if (p->too_long) {
        kh_error("store: postgresql: %s: a parameter is too large", what);
        return KH_ERR_TOO_LARGE;
    }
    PGresult *res =
        PQexecPrepared(c->conn, name, p->n, p->values, p->lengths, p->formats, 1 /* binary */);
    if (!result_ok(res)) {
        kh_err err = pg_fail(c, res, what);
        pg_clear(res);
        return err;
    }
    c->n_ok++;
    *out = res;
    return KH_OK;
}

kh_err pg_exec(pg_conn *c, pg_stmt_id id, const pg_params *p, PGresult **res)
{
    char name[16];
    snprintf(name, sizeof(name), "kh_s%d", (int)id);
    if (!c->prepared[id]) {
        kh_err err = prepare(c, name, stmt_sql[id], 0, NULL);
        if (err != KH_OK)
            return err;
        c->prepared[id] = 1;
    }
    return exec_prepared(c, name, p, stmt_what[id], res);
}

kh_err pg_exec_locate(pg_conn *c, unsigned mask, const char *sql, const pg_params *p,
                      PGresult **res)
{
    /* owner, name: text; type, state, algorithm, length: int4; limit,
     * offset: int8. Given explicitly since a variant may not use them all. */
    /* visible_to: text, permission: int4. */
    static const Oid types[10] = {25, 25, 23, 23, 23, 23, 20, 20, 25, 23};
    char name[16];
    mask %= PG_LOCATE_VARIANTS;
    snprintf(name, sizeof(name), "kh_l%u", mask);
    if (!c->locate_prepared[mask]) {
        kh_err err = prepare(c, name, sql, 10, types);
        if (err != KH_OK)
            return err;
        c->locate_prepared[mask] = 1;
    }
    return exec_prepared(c, name, p, "locate", res);
}

kh_err pg_simple(pg_conn *c, const char *sql, const char *what)
{
    PGresult *res = PQexec(c->conn, sql);
    kh_err err = result_ok(res) ? KH_OK : pg_fail(c, res, what);
    PQclear(res);
    if (err == KH_OK)
        c->n_ok++;
    return err;
}

kh_err pg_begin(pg_conn *c)
{
    return pg_simple(c, "BEGIN", "begin");
}

kh_err pg_commit(pg_conn *c)
{
    PGresult *res = PQexec(c->conn, "COMMIT");
    kh_err err = KH_OK;
    if (!result_ok(res))
        err = pg_fail(c, res, "commit");
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        /* COMMIT of a failed transaction "succeeds" as ROLLBACK. */
        kh_error("store: postgresql: commit: the transaction had failed and was rolled back");
        err = KH_ERR_STORE;
    }
    PQclear(res);
    return err;
}

/* ---- connections ------------------------------------------------------ */

/* Server notices (e.g. "relation already exists, skipping") are not errors
 * and may quote names: keep them out of stderr. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* libpq's connection messages name the host, port, user and database but
 * never the password; they are the one thing that tells an operator why a
 * connection failed, so the first line is logged. */
static void log_conn_error(const char *what, PGconn *conn)
{
    const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
    size_t n = strcspn(msg, "\n");
    kh_error("store: postgresql: %s: %.*s", what, (int)(n > 300 ? 300 : n), msg);
}

/* Per-connection settings after a connect or a reset. */
static kh_err conn_setup(pg_conn *c)
{
    memset(c->prepared, 0, sizeof(c->prepared));
    memset(c->locate_prepared, 0, sizeof(c->locate_prepared));
    memset(c->shared_prepared, 0, sizeof(c->shared_prepared));
    PQsetNoticeProcessor(c->conn, quiet_notice, NULL);
    if (PQserverVersion(c->conn) < 100000) {
        kh_error("store: postgresql: the server is older than PostgreSQL 10");
        return KH_ERR_CONFIG;
    }
    if (PQsetClientEncoding(c->conn, "UTF8") != 0) {
        log_conn_error("cannot set the client encoding to UTF8", c->conn);
        return KH_ERR_STORE;
    }
    return KH_OK;
}

static void conn_close(pg_conn *c)
{
    if (!c)
        return;
    PQfinish(c->conn);
    free(c);
}

static kh_err conn_open(const char *url, pg_conn **out)
{
    /* The URL is handed to libpq as is; fallback_application_name only
     * applies when the URL names no application_name of its own. */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {url, "keyhold", NULL};
    pg_conn *c = kh_xcalloc(1, sizeof(*c));
    c->conn = PQconnectdbParams(keys, values, 1);
    if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
        log_conn_error("cannot connect", c->conn);
        conn_close(c);
        return KH_ERR_STORE;
    }
    kh_err err = conn_setup(c);
    if (err != KH_OK) {
        conn_close(c);
        return err;
    }
    *out = c;
    return KH_OK;
}

static void pool_forget(pg_store *q)
{
    pthread_mutex_lock(&q->mu);
    q->n_open--;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* A pooled connection may have died while idle or in its last use. */
static kh_err conn_revive(pg_conn *c)
{
    if (PQstatus(c->conn) == CONNECTION_OK)
        return KH_OK;
    kh_warn("store: postgresql: reconnecting a broken connection");
    PQreset(c->conn);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        log_conn_error("cannot reconnect", c->conn);
        return KH_ERR_STORE;
    }
    return conn_setup(c);
}

static kh_err pg_acquire(kh_store *s, pg_conn **out)
{
    pg_store *q = (pg_store *)s;
    pthread_mutex_lock(&q->mu);
    while (!q->idle && q->n_open >= POOL_MAX)
        pthread_cond_wait(&q->cv, &q->mu);
    pg_conn *c = q->idle;
    if (c)
        q->idle = c->next;
    else
        q->n_open++; /* reserve the slot, connect without holding the lock */
    pthread_mutex_unlock(&q->mu);
    kh_err err = c ? conn_revive(c) : conn_open(q->url, &c);
    if (err != KH_OK) {
        if (c)
            conn_close(c);
        pool_forget(q);
        return err;
    }
    c->next = NULL;
    c->n_ok = 0;
    *out = c;
    return KH_OK;
}

static void pg_release(kh_store *s, pg_conn *c)
{
    pg_store *q = (pg_store *)s;
    /* No transaction survives its caller. A broken connection goes back
     * too: the next borrower resets it. */
    if (PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(c->conn, "ROLLBACK");
        PQclear(res);
    }
    pthread_mutex_lock(&q->mu);
    c->next = q->idle;
    q->idle = c;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

kh_err pg_run(kh_store *s, pg_fn fn, void *ctx, int read_only)
{
    for (int attempt = 0;; attempt++) {
        pg_conn *c = NULL;
        kh_err err = pg_acquire(s, &c);
        if (err != KH_OK)
            return err;
        err = fn(c, ctx);
        int lost = err != KH_OK && PQstatus(c->conn) != CONNECTION_OK;
        int again = lost && attempt == 0 && (read_only || c->n_ok == 0);
        if (lost && !again && !read_only && c->n_ok > 0)
            kh_error("store: postgresql: connection lost during a write; it was not confirmed");
        pg_release(s, c);
        if (!again)
            return err;
        kh_info("store: postgresql: retrying on a new connection");
    }
}

static void postgres_close(kh_store *s)
{
    pg_store *q = (pg_store *)s;
    pg_audit_group_stop(&q->audit);
    pg_conn *c = q->idle;
    while (c) {
        pg_conn *next = c->next;
        conn_close(c);
        q->n_open--;
        c = next;
    }
    if (q->n_open != 0)
        kh_error("store: postgresql: closed with %d connections still borrowed", q->n_open);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    pg_audit_group_destroy(&q->audit);
    kh_wipe_free(q->url, strlen(q->url));
    free(q);
}

/* ---- migrations ------------------------------------------------------- */

/* Run a fixed query returning one integer in text form (0 when no row). */
static kh_err query_int(pg_conn *c, const char *sql, const char *what, int64_t *val)
{
    PGresult *res = PQexec(c->conn, sql);
    kh_err err = KH_OK;
    if (!result_ok(res))
        err = pg_fail(c, res, what);
    else
        *val = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
                   ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                   : 0;
    PQclear(res);
    if (err == KH_OK)
        c->n_ok++;
    return err;
}

static kh_err current_version(pg_conn *c, int *version)
{
    int64_t exists = 0, v = 0;
    kh_err err = query_int(c,
                           "SELECT count(*) FROM (SELECT to_regclass('schema_migrations')) t(r)"
                           " WHERE r IS NOT NULL",
                           "schema version", &exists);
    if (err == KH_OK && exists)
        err = query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                        "schema version", &v);
    if (err == KH_OK)
        *version = (int)v;
    return err;
}

static kh_err record_version(pg_conn *c, int version)
{
    pg_params p;
    pg_params_init(&p);
    pg_param_int(&p, version);
    PGresult *res = PQexecParams(c->conn,
                                 "INSERT INTO schema_migrations(version, applied_at)"
                                 " VALUES ($1, extract(epoch FROM now())::bigint)",
                                 p.n, NULL, p.values, p.lengths, p.formats, 0);
    kh_err err = result_ok(res) ? KH_OK : pg_fail(c, res, "migration record");
    PQclear(res);
    return err;
}

/* One transaction: take the migration lock (other nodes wait here), read
 * the version, apply the next migration if there is one. *done is set
 * when the schema is current. */
static kh_err migrate_step(pg_conn *c, int *ran, int *done)
{
    int current = 0;
    int64_t ignored = 0;
    kh_err err = pg_begin(c);
    if (err == KH_OK)
        err = query_int(c, MIGRATE_LOCK_SQL, "migration lock", &ignored);
    if (err == KH_OK)
        err = pg_simple(c,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
                        "schema_migrations");
    if (err == KH_OK)
        err = current_version(c, &current);
    if (err != KH_OK)
        return err;
    if ((size_t)current > kh_postgres_n_migrations) {
        kh_error("store: database schema version %d is newer than this keyhold knows (%zu)",
                 current, kh_postgres_n_migrations);
        return KH_ERR_CONFIG;
    }
    if ((size_t)current == kh_postgres_n_migrations) {
        *done = 1;
        return pg_commit(c);
    }
    err = pg_simple(c, kh_postgres_migrations[current], "migration");
    if (err == KH_OK)
        err = record_version(c, current + 1);
    if (err == KH_OK)
        err = pg_commit(c);
    if (err != KH_OK) {
        kh_error("store: postgresql: migration %d failed and was rolled back", current + 1);
        return err;
    }
    kh_info("store: applied migration %d", current + 1);
    *ran = 1;
    return KH_OK;
}

static kh_err migrate_on(pg_conn *c, void *ctx)
{
    int *applied = ctx, done = 0;
    kh_err err = KH_OK;
    while (err == KH_OK && !done) {
        int ran = 0;
        err = migrate_step(c, &ran, &done);
        *applied += ran; /* on failure pg_run's release rolls back */
    }
    return err;
}

static kh_err postgres_migrate(kh_store *s, int *applied)
{
    int count = 0;
    /* Not retried: a step may have committed before the connection died. */
    kh_err err = pg_run(s, migrate_on, &count, 0);
    if (err == KH_OK)
        *applied = count;
    return err;
}

static kh_err version_on(pg_conn *c, void *ctx)
{
    return current_version(c, ctx);
}

static kh_err postgres_schema_version(kh_store *s, int *version)
{
    return pg_run(s, version_on, version, 1);
}

/* ---- realms ----------------------------------------------------------- */

struct realm_ensure_ctx {
    const char *name;
    int64_t *id;
};

/* Idempotent, so safe to retry whole: of two nodes inserting the same name
 * one inserts and the other does nothing; both then read the same id. */
static kh_err realm_ensure_on(pg_conn *c, void *ctx)
{
    struct realm_ensure_ctx *x = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, x->name);
    pg_param_int(&p, (int64_t)time(NULL));
    kh_err err = pg_exec(c, PG_REALM_INSERT, &p, &res);
    pg_clear(res);
    res = NULL;
    if (err != KH_OK)
        return err;
    pg_params_init(&p);
    pg_param_text(&p, x->name);
    if ((err = pg_exec(c, PG_REALM_SELECT, &p, &res)) != KH_OK)
        return err;
    if (PQntuples(res) == 1)
        *x->id = pg_get_int(res, 0, 0);
    else
        err = KH_ERR_INTERNAL;
    pg_clear(res);
    return err;
}

static kh_err postgres_realm_ensure(kh_store *s, const char *name, int64_t *id)
{
    struct realm_ensure_ctx x = {name, id};
    return pg_run(s, realm_ensure_on, &x, 1);
}

struct rkey_ctx {
    int64_t realm_id;
    int32_t version;
    int32_t *version_out;
    const uint8_t *wrapped_in;
    size_t wrapped_in_len;
    uint8_t **wrapped;
    size_t *wrapped_len;
};

static kh_err rkey_read_on(pg_conn *c, void *ctx)
{
    struct rkey_ctx *x = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_int(&p, x->realm_id);
    if (!x->version_out)
        pg_param_int(&p, x->version);
    kh_err err = pg_exec(c, x->version_out ? PG_RKEY_LATEST : PG_RKEY_GET, &p, &res);
    if (err != KH_OK)
        return err;
    if (PQntuples(res) == 0) {
        err = KH_ERR_NOT_FOUND;
    } else if (x->version_out) {
        *x->version_out = (int32_t)pg_get_int(res, 0, 0);
        pg_get_blob(res, 0, 1, x->wrapped, x->wrapped_len);
    } else {
        pg_get_blob(res, 0, 0, x->wrapped, x->wrapped_len);
    }
    pg_clear(res);
    return err;
}

static kh_err postgres_realm_key_latest(kh_store *s, int64_t realm_id, int32_t *version,
                                        uint8_t **wrapped, size_t *wrapped_len)
{
    struct rkey_ctx x = {realm_id, 0, version, NULL, 0, wrapped, wrapped_len};
    return pg_run(s, rkey_read_on, &x, 1);
}

static kh_err postgres_realm_key_get(kh_store *s, int64_t realm_id, int32_t version,
                                     uint8_t **wrapped, size_t *wrapped_len)
{
    struct rkey_ctx x = {realm_id, version, NULL, NULL, 0, wrapped, wrapped_len};
    return pg_run(s, rkey_read_on, &x, 1);
}

/* In an explicit transaction so that a connection lost before anything
 * was sent (BEGIN failed) can be retried without risking a double insert. */
static kh_err rkey_insert_on(pg_conn *c, void *ctx)
{
    struct rkey_ctx *x = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_int(&p, x->realm_id);
    pg_param_int(&p, x->version);
    pg_param_blob(&p, x->wrapped_in, x->wrapped_in_len);
    pg_param_int(&p, (int64_t)time(NULL));
    kh_err err = pg_begin(c);
    if (err == KH_OK)
        err = pg_exec(c, PG_RKEY_INSERT, &p, &res);
    pg_clear(res);
    return err == KH_OK ? pg_commit(c) : err;
}

static kh_err postgres_realm_key_insert(kh_store *s, int64_t realm_id, int32_t version,
                                        const uint8_t *wrapped, size_t wrapped_len)
{
    struct rkey_ctx x = {realm_id, version, NULL, wrapped, wrapped_len, NULL, NULL};
    return pg_run(s, rkey_insert_on, &x, 0);
}

/* ---- opening ---------------------------------------------------------- */

static const struct kh_store_ops postgres_ops = {
    .name = "postgresql",
    .close = postgres_close,
    .migrate = postgres_migrate,
    .schema_version = postgres_schema_version,
    .realm_ensure = postgres_realm_ensure,
    .realm_key_latest = postgres_realm_key_latest,
    .realm_key_get = postgres_realm_key_get,
    .realm_key_insert = postgres_realm_key_insert,
    .object_insert = pg_object_insert,
    .object_insert_many = pg_object_insert_many,
    .object_get = pg_object_get,
    .object_update = pg_object_update,
    .object_locate = pg_object_locate,
    .audit_append = pg_audit_append,
    .audit_append_async = pg_audit_append_async,
    .audit_read = pg_audit_read,
    .audit_head = pg_audit_head,
    .grant_add = pg_grant_add,
    .grant_remove = pg_grant_remove,
    .grant_list = pg_grant_list,
    .grant_perms = pg_grant_perms,
    .kes_name_claim = pg_kes_name_claim,
    .kes_name_get = pg_kes_name_get,
    .object_insert_audited = pg_object_insert_audited,
    .object_update_audited = pg_object_update_audited,
    .kes_name_claim_audited = pg_kes_name_claim_audited,
};

kh_err kh_postgres_open(const char *url, kh_store **out)
{
    /* Parse first: libpq's parse errors quote the URL, which may hold a
     * password, so they get a fixed message instead. */
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        PQfreemem(perr);
        kh_error("store: postgresql: the database URL does not parse"
                 " (see libpq's connection URIs)");
        return KH_ERR_CONFIG;
    }
    PQconninfoFree(opts);
    pg_store *q = kh_xcalloc(1, sizeof(*q));
    q->base.ops = &postgres_ops;
    q->url = kh_xstrdup(url);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    pg_audit_group_init(&q->audit);
    /* Connect now so a wrong URL or an unreachable server fails at start-up
     * rather than on the first request. */
    pg_conn *c = NULL;
    kh_err err = pg_acquire(&q->base, &c);
    if (err != KH_OK) {
        postgres_close(&q->base);
        return err;
    }
    kh_info("store: postgresql: connected to database %s (server %d)", PQdb(c->conn),
            PQserverVersion(c->conn));
    pg_release(&q->base, c);
    *out = &q->base;
    return KH_OK;
}
