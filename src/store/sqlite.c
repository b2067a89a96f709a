/*
 * sqlite.c - SQLite backend: connection pool, statements, migrations, realms.
 *
 * One kh_store is shared by all worker threads. It keeps up to POOL_MAX
 * connections, opened lazily; a thread borrows one per call and waits when
 * all are busy. Each connection runs in WAL mode (readers never block the
 * writer) with synchronous=FULL, so a row is on disk once its transaction
 * has committed, even if the machine loses power the next instant; with
 * --durability=process (kh_store_set_durability) synchronous=NORMAL, so a
 * committed row survives a crash or kill -9 of keyhold but not a power cut. Managed
 * objects and Locate live in sqlite_objects.c.
 *
 * One connection lives outside the pool: the checkpointer's
 * (sqlite_ckpt.c), which copies the WAL into the database file on a thread
 * of its own instead of in whichever request's COMMIT crossed SQLite's
 * automatic-checkpoint threshold.
 */
#include "store/sqlite.h"

#include "common/log.h"
#include "common/mem.h"
#include "store/migrations_sqlite.h"
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 8
#define BUSY_TIMEOUT_MS 5000

typedef struct sq_store {
    kh_store base; /* first, so a kh_store * is a sq_store * */
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sq_conn *idle;
    int n_open;
    sq_group group;
    sq_ckpt *ckpt;
} sq_store;

sq_group *sq_group_of(kh_store *s)
{
    return &((sq_store *)s)->group;
}

sq_ckpt *sq_ckpt_of(kh_store *s)
{
    return ((sq_store *)s)->ckpt;
}

uint64_t kh_sqlite_wal_syncs(kh_store *s)
{
    return sq_ckpt_syncs(sq_ckpt_of(s));
}

static const char *const stmt_sql[SQ_STMT_MAX_] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT_JOB] = "SAVEPOINT job",
    [SQ_RELEASE_JOB] = "RELEASE job",
    [SQ_ROLLBACK_TO_JOB] = "ROLLBACK TO job",
    [SQ_SAVEPOINT_AUDIT] = "SAVEPOINT audit",
    [SQ_RELEASE_AUDIT] = "RELEASE audit",
    [SQ_ROLLBACK_TO_AUDIT] = "ROLLBACK TO audit",
    [SQ_REALM_INSERT] = "INSERT OR IGNORE INTO realm(name, created_at) VALUES (?1, ?2)",
    [SQ_REALM_SELECT] = "SELECT id FROM realm WHERE name = ?1",
    [SQ_RKEY_LATEST] = "SELECT version, wrapped FROM realm_key WHERE realm_id = ?1"
                       " ORDER BY version DESC LIMIT 1",
    [SQ_RKEY_GET] = "SELECT wrapped FROM realm_key WHERE realm_id = ?1 AND version = ?2",
    [SQ_RKEY_INSERT] = "INSERT INTO realm_key(realm_id, version, wrapped, created_at)"
                       " VALUES (?1, ?2, ?3, ?4)",
    [SQ_OBJ_INSERT] = "INSERT INTO object(uid, realm_id, owner, object_type, state, algorithm,"
                      " length, created_at, updated_at, revision, attrs, material,"
                      " material_key_version)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?12)",
    /* one row per name (one row with a NULL name when it has none): the
     * object and its names from one statement, so one snapshot without a
     * BEGIN/ROLLBACK pair around two statements. No ORDER BY: it costs a
     * temporary B-tree per query; sqlite_objects.c sorts the names. */
    [SQ_OBJ_GET] = "SELECT o.uid, o.realm_id, o.owner, o.object_type, o.state, o.algorithm,"
                   " o.length, o.created_at, o.updated_at, o.revision, o.attrs, o.material,"
                   " o.material_key_version, n.name FROM object o"
                   " LEFT JOIN object_name n ON n.uid = o.uid WHERE o.uid = ?1",
    [SQ_OBJ_UPDATE] = "UPDATE object SET realm_id = ?2, owner = ?3, state = ?4,"
                      " algorithm = ?5, length = ?6, updated_at = ?7, attrs = ?8,"
                      " material = ?9, material_key_version = ?10, revision = revision + 1"
                      " WHERE uid = ?1 AND revision = ?11",
    [SQ_OBJ_REVISION] = "SELECT revision FROM object WHERE uid = ?1",
    [SQ_NAME_INSERT] = "INSERT OR IGNORE INTO object_name(uid, name) VALUES (?1, ?2)",
    [SQ_NAME_DELETE] = "DELETE FROM object_name WHERE uid = ?1",
    [SQ_AUDIT_HEAD] = "SELECT last_id, last_hash FROM audit_head WHERE one = 1",
    [SQ_AUDIT_HEAD_SET] = "UPDATE audit_head SET last_id = ?1, last_hash = ?2 WHERE one = 1",
    [SQ_AUDIT_INSERT] = "INSERT INTO audit(id, time_us, principal, client_addr, operation,"
                        " object_uid, result, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_AUDIT_READ] = "SELECT id, time_us, principal, client_addr, operation, object_uid, result,"
                      " hash FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
    [SQ_GRANT_ADD] = "INSERT INTO access_grant(owner, object_uid, grantee, permissions, created_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (owner, object_uid, grantee)"
                     " DO UPDATE SET permissions = access_grant.permissions | excluded.permissions",
    [SQ_GRANT_SUB] = "UPDATE access_grant SET permissions = permissions & ~?4"
                     " WHERE owner = ?1 AND object_uid = ?2 AND grantee = ?3",
    [SQ_GRANT_PRUNE] = "DELETE FROM access_grant WHERE owner = ?1 AND object_uid = ?2"
                       " AND grantee = ?3 AND permissions = 0",
    [SQ_GRANT_LIST] = "SELECT owner, object_uid, grantee, permissions FROM access_grant"
                      " WHERE owner = ?1 AND (?2 IS NULL OR object_uid = ?2)"
                      " ORDER BY object_uid, grantee",
    [SQ_GRANT_PERMS] = "SELECT permissions FROM access_grant WHERE owner = ?1"
                       " AND object_uid IN (?2, '*') AND grantee IN (?3, '*')",
    /* Taken when free, or from expected (NULL never equals anything). */
    [SQ_KES_NAME_CLAIM] = "INSERT INTO kes_name(owner, name, holder, claimed_at)"
                          " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner, name) DO UPDATE"
                          " SET holder = excluded.holder, claimed_at = excluded.claimed_at"
                          " WHERE kes_name.holder = ?5",
    [SQ_KES_NAME_GET] = "SELECT holder FROM kes_name WHERE owner = ?1 AND name = ?2",
};

/* ---- errors and statements ------------------------------------------- */

kh_err sq_fail(sq_conn *c, int rc, const char *what)
{
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return KH_ERR_EXISTS;
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    kh_error("store: sqlite: %s: %s (code %d)", what, msg, rc);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return KH_ERR_BUSY;
    return KH_ERR_STORE;
}

static sqlite3_stmt *prepare_cached(sq_conn *c, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot) {
        int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK) {
            (void)sq_fail(c, rc, "prepare");
            *slot = NULL;
        }
    }
    return *slot;
}

sqlite3_stmt *sq_stmt(sq_conn *c, sq_stmt_id id)
{
    return prepare_cached(c, &c->stmt[id], stmt_sql[id]);
}

sqlite3_stmt *sq_locate_stmt(sq_conn *c, unsigned mask, const char *sql)
{
    return prepare_cached(c, &c->locate[mask % SQ_LOCATE_VARIANTS], sql);
}

void sq_done(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

kh_err sq_exec(sq_conn *c, sqlite3_stmt *st, const char *what)
{
    if (!st)
        return KH_ERR_STORE;
    int rc = sqlite3_step(st);
    kh_err err = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? KH_OK : sq_fail(c, rc, what);
    sq_done(st);
    return err;
}

kh_err sq_begin(sq_conn *c, int immediate)
{
    return sq_exec(c, sq_stmt(c, immediate ? SQ_BEGIN_IMMEDIATE : SQ_BEGIN), "begin");
}

kh_err sq_commit(sq_conn *c)
{
    kh_err err = sq_exec(c, sq_stmt(c, SQ_COMMIT), "commit");
    if (err != KH_OK)
        sq_rollback(c);
    return err;
}

void sq_rollback(sq_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        (void)sq_exec(c, sq_stmt(c, SQ_ROLLBACK), "rollback");
}

int sq_bind_blob(sqlite3_stmt *st, int i, const uint8_t *p, size_t len)
{
    if (!p)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_blob64(st, i, p, len, SQLITE_STATIC);
}

void sq_column_blob(sqlite3_stmt *st, int i, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return;
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    *out = kh_xmalloc(n > 0 ? (size_t)n : 1);
    if (n > 0)
        memcpy(*out, p, (size_t)n);
    *len = n > 0 ? (size_t)n : 0;
}

/* ---- connections ------------------------------------------------------ */

void sq_conn_close(sq_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < SQ_STMT_MAX_; i++)
        sqlite3_finalize(c->stmt[i]);
    for (int i = 0; i < SQ_LOCATE_VARIANTS; i++)
        sqlite3_finalize(c->locate[i]);
    for (int i = 0; i < KH_SQL_CACHE_MAX; i++)
        sqlite3_finalize(c->shared[i]);
    if (sqlite3_close(c->db) != SQLITE_OK)
        kh_error("store: sqlite: close: %s", sqlite3_errmsg(c->db));
    free(c);
}

/* PRAGMA journal_mode=WAL: 1 when the database is in WAL mode, 0 when it
 * stayed in another mode, or an SQLite error code (negated).
 *
 * On a new database the pragma upgrades the read lock it already holds to
 * an exclusive one. SQLite does not call the busy handler for that upgrade
 * (waiting while holding a read lock could deadlock with another
 * connection doing the same) and answers SQLITE_BUSY at once, so nodes
 * opening a new database together failed at random. Whoever loses simply
 * retries after releasing its lock, for as long as the busy timeout; once
 * a winner has switched, the mode is persistent and the pragma is a read. */
static int journal_wal(sq_conn *c)
{
    int rc = SQLITE_BUSY;
    for (int waited_ms = 0; rc == SQLITE_BUSY && waited_ms <= BUSY_TIMEOUT_MS; waited_ms += 5) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
            sqlite3_finalize(st);
            return wal;
        }
        sqlite3_finalize(st);
        if ((rc & 0xff) == SQLITE_BUSY) {
            rc = SQLITE_BUSY;
            sqlite3_sleep(5);
        }
    }
    return -rc;
}

static kh_err conn_setup(sq_conn *c)
{
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    int wal = journal_wal(c);
    if (wal < 0)
        return sq_fail(c, -wal, "journal_mode");
    if (!wal) {
        kh_error("store: sqlite: cannot switch the database to WAL mode");
        return KH_ERR_STORE;
    }
    /* secure_delete: a destroyed key's ciphertext is overwritten in the
     * file instead of lingering in a free page. wal_autocheckpoint=0: the
     * store's checkpointer thread copies the WAL, not whichever request
     * commits (sqlite_ckpt.c). journal_size_limit: a WAL that once grew
     * past twice its usual length (sqlite_ckpt.c restarts it at about
     * 16 MB) is truncated back when it restarts; below that it is reused
     * in place, since growing the file makes every WAL sync dearer. */
    int rc = sqlite3_exec(c->db,
                          "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                          " PRAGMA secure_delete=ON; PRAGMA wal_autocheckpoint=0;"
                          " PRAGMA journal_size_limit=33554432;",
                          NULL, NULL, NULL);
    return rc == SQLITE_OK ? KH_OK : sq_fail(c, rc, "pragmas");
}

kh_err sq_conn_open(const char *path, sq_conn **out)
{
    sq_conn *c = kh_xcalloc(1, sizeof(*c));
    int rc = sqlite3_open_v2(path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             sq_vfs_name());
    if (rc != SQLITE_OK) {
        kh_error("store: sqlite: cannot open the database: %s", sqlite3_errstr(rc));
        sq_conn_close(c);
        return KH_ERR_STORE;
    }
    kh_err err = conn_setup(c);
    if (err != KH_OK) {
        sq_conn_close(c);
        return err;
    }
    *out = c;
    return KH_OK;
}

kh_err sq_set_sync(sq_conn *c, int normal)
{
    /* not a cached statement: SQLite applies this pragma when it compiles
     * it, so stepping a prepared copy again would change nothing */
    if (c->sync_normal == normal)
        return KH_OK;
    int rc = sqlite3_exec(c->db, normal ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, "synchronous");
    c->sync_normal = normal;
    return KH_OK;
}

kh_err sq_acquire(kh_store *s, sq_conn **out)
{
    sq_store *q = (sq_store *)s;
    pthread_mutex_lock(&q->mu);
    while (!q->idle && q->n_open >= POOL_MAX)
        pthread_cond_wait(&q->cv, &q->mu);
    sq_conn *c = q->idle;
    if (c) {
        q->idle = c->next;
        pthread_mutex_unlock(&q->mu);
        c->next = NULL;
        *out = c;
        return KH_OK;
    }
    q->n_open++; /* reserve the slot, open without holding the lock */
    int normal = q->group.sync_normal;
    pthread_mutex_unlock(&q->mu);
    kh_err err = sq_conn_open(q->path, &c);
    if (err == KH_OK)
        sq_ckpt_watch(q->ckpt, c->db);
    if (err == KH_OK && normal && sq_set_sync(c, 1) != KH_OK) {
        sq_conn_close(c);
        err = KH_ERR_STORE;
    }
    if (err != KH_OK) {
        pthread_mutex_lock(&q->mu);
        q->n_open--;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        return err;
    }
    *out = c;
    return KH_OK;
}

void sq_release(kh_store *s, sq_conn *c)
{
    sq_store *q = (sq_store *)s;
    if (!c)
        return;
    sq_rollback(c); /* no transaction survives its caller */
    pthread_mutex_lock(&q->mu);
    c->next = q->idle;
    q->idle = c;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void sqlite_close(kh_store *s)
{
    sq_store *q = (sq_store *)s;
    sq_group_stop(&q->group);
    sq_conn *c = q->idle;
    while (c) {
        sq_conn *next = c->next;
        sq_conn_close(c);
        q->n_open--;
        c = next;
    }
    if (q->n_open != 0)
        kh_error("store: sqlite: closed with %d connections still borrowed", q->n_open);
    /* last: its connection, closed last, copies what is left of the WAL */
    sq_ckpt_free(&q->ckpt);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    sq_group_destroy(&q->group);
    free(q->path);
    free(q);
}

/* ---- migrations ------------------------------------------------------- */

/* Run one ad hoc query returning a single integer (0 when no row). */
static kh_err query_int(sq_conn *c, const char *sql, int64_t param, int64_t *val, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) > 0)
        rc = sqlite3_bind_int64(st, 1, param);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    *val = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    kh_err err = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? KH_OK : sq_fail(c, rc, "query");
    sqlite3_finalize(st);
    return err;
}

static kh_err exec_sql(sq_conn *c, const char *sql, const char *what)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? KH_OK : sq_fail(c, rc, what);
}

static kh_err current_version(sq_conn *c, int *version)
{
    int64_t v = 0;
    int found = 0;
    kh_err err = query_int(c,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'schema_migrations'",
                           0, &v, &found);
    if (err == KH_OK && v > 0)
        err =
            query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", 0, &v, &found);
    if (err == KH_OK)
        *version = (int)v;
    return err;
}

/* Apply migration number version unless someone else already has. */
static kh_err migrate_one(sq_conn *c, int version, int *ran)
{
    int64_t v = 0;
    int found = 0;
    kh_err err = sq_begin(c, 1);
    if (err != KH_OK)
        return err;
    err = query_int(c, "SELECT 1 FROM schema_migrations WHERE version = ?1", version, &v, &found);
    if (err == KH_OK && !found) {
        err = exec_sql(c, kh_sqlite_migrations[version - 1], "migration");
        if (err == KH_OK)
            err = query_int(c,
                            "INSERT INTO schema_migrations(version, applied_at)"
                            " VALUES (?1, unixepoch())",
                            version, &v, &found);
        *ran = err == KH_OK;
    }
    if (err != KH_OK) {
        kh_error("store: sqlite: migration %d failed and was rolled back", version);
        sq_rollback(c);
        return err;
    }
    return sq_commit(c);
}

static kh_err migrate_all(sq_conn *c, int *applied)
{
    int current = 0, count = 0;
    kh_err err = exec_sql(c,
                          "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                          "schema_migrations");
    if (err == KH_OK)
        err = current_version(c, &current);
    if (err == KH_OK && (size_t)current > kh_sqlite_n_migrations) {
        kh_error("store: database schema version %d is newer than this keyhold knows (%zu)",
                 current, kh_sqlite_n_migrations);
        return KH_ERR_CONFIG;
    }
    for (int v = current + 1; err == KH_OK && (size_t)v <= kh_sqlite_n_migrations; v++) {
        int ran = 0;
        err = migrate_one(c, v, &ran);
        count += ran;
        if (ran)
            kh_info("store: applied migration %d", v);
    }
    *applied = count;
    return err;
}

static kh_err sqlite_migrate(kh_store *s, int *applied)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    int count = 0;
    err = migrate_all(c, &count);
    sq_release(s, c);
    if (err == KH_OK)
        *applied = count;
    return err;
}

static kh_err sqlite_schema_version(kh_store *s, int *version)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    err = current_version(c, version);
    sq_release(s, c);
    return err;
}

/* ---- realms ----------------------------------------------------------- */

static kh_err realm_ensure_on(sq_conn *c, const char *name, int64_t *id)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_REALM_INSERT);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    kh_err err = sq_exec(c, st, "realm insert");
    if (err != KH_OK || !(st = sq_stmt(c, SQ_REALM_SELECT)))
        return err != KH_OK ? err : KH_ERR_STORE;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        err = rc == SQLITE_DONE ? KH_ERR_INTERNAL : sq_fail(c, rc, "realm select");
    sq_done(st);
    return err;
}

static kh_err sqlite_realm_ensure(kh_store *s, const char *name, int64_t *id)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    err = realm_ensure_on(c, name, id);
    sq_release(s, c);
    return err;
}

/* Step a realm_key SELECT whose wrapped blob is column col. */
static kh_err rkey_fetch(sq_conn *c, sqlite3_stmt *st, int col, int32_t *version, uint8_t **wrapped,
                         size_t *wrapped_len)
{
    int rc = sqlite3_step(st);
    kh_err err = KH_OK;
    if (rc == SQLITE_ROW) {
        if (version)
            *version = sqlite3_column_int(st, 0);
        sq_column_blob(st, col, wrapped, wrapped_len);
    } else {
        err = rc == SQLITE_DONE ? KH_ERR_NOT_FOUND : sq_fail(c, rc, "realm key select");
    }
    sq_done(st);
    return err;
}

static kh_err sqlite_realm_key_latest(kh_store *s, int64_t realm_id, int32_t *version,
                                      uint8_t **wrapped, size_t *wrapped_len)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    sqlite3_stmt *st = sq_stmt(c, SQ_RKEY_LATEST);
    if (st) {
        sqlite3_bind_int64(st, 1, realm_id);
        err = rkey_fetch(c, st, 1, version, wrapped, wrapped_len);
    } else {
        err = KH_ERR_STORE;
    }
    sq_release(s, c);
    return err;
}

static kh_err sqlite_realm_key_get(kh_store *s, int64_t realm_id, int32_t version,
                                   uint8_t **wrapped, size_t *wrapped_len)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    sqlite3_stmt *st = sq_stmt(c, SQ_RKEY_GET);
    if (st) {
        sqlite3_bind_int64(st, 1, realm_id);
        sqlite3_bind_int(st, 2, version);
        err = rkey_fetch(c, st, 0, NULL, wrapped, wrapped_len);
    } else {
        err = KH_ERR_STORE;
    }
    sq_release(s, c);
    return err;
}

static kh_err sqlite_realm_key_insert(kh_store *s, int64_t realm_id, int32_t version,
                                      const uint8_t *wrapped, size_t wrapped_len)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    sqlite3_stmt *st = sq_stmt(c, SQ_RKEY_INSERT);
    if (st) {
        sqlite3_bind_int64(st, 1, realm_id);
        sqlite3_bind_int(st, 2, version);
        sq_bind_blob(st, 3, wrapped, wrapped_len);
        sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
        err = sq_exec(c, st, "realm key insert");
    } else {
        err = KH_ERR_STORE;
    }
    sq_release(s, c);
    return err;
}

/* ---- opening ---------------------------------------------------------- */

/* The pool's idle connections change now, new ones when they open. */
static kh_err sqlite_set_durability(kh_store *s, kh_durability d)
{
    sq_store *q = (sq_store *)s;
    int normal = d == KH_DURABLE_PROCESS;
    pthread_mutex_lock(&q->mu);
    q->group.sync_normal = normal;
    kh_err err = KH_OK;
    for (sq_conn *c = q->idle; c && err == KH_OK; c = c->next)
        err = sq_set_sync(c, normal);
    pthread_mutex_unlock(&q->mu);
    return err;
}

static const struct kh_store_ops sqlite_ops = {
    .name = "sqlite",
    .set_durability = sqlite_set_durability,
    .close = sqlite_close,
    .migrate = sqlite_migrate,
    .schema_version = sqlite_schema_version,
    .realm_ensure = sqlite_realm_ensure,
    .realm_key_latest = sqlite_realm_key_latest,
    .realm_key_get = sqlite_realm_key_get,
    .realm_key_insert = sqlite_realm_key_insert,
    .object_insert = sq_object_insert,
    .object_insert_many = sq_object_insert_many,
    .object_get = sq_object_get,
    .object_update = sq_object_update,
    .object_locate = sq_object_locate,
    .audit_append = sq_audit_append,
    .audit_append_async = sq_group_audit_async,
    .audit_read = sq_audit_read,
    .audit_head = sq_audit_head,
    .grant_add = sq_grant_add,
    .grant_remove = sq_grant_remove,
    .grant_list = sq_grant_list,
    .grant_perms = sq_grant_perms,
    .kes_name_claim = sq_kes_name_claim,
    .kes_name_get = sq_kes_name_get,
    .object_insert_audited = sq_object_insert_audited,
    .object_update_audited = sq_object_update_audited,
    .kes_name_claim_audited = sq_kes_name_claim_audited,
};

/* SQLite would create the file 0644; the database names every key and its
 * owner, so create it private (the -wal and -shm files inherit its mode). */
static kh_err precreate(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        kh_error("store: cannot open database file %s: %s", path, strerror(errno));
        return KH_ERR_IO;
    }
    close(fd);
    return KH_OK;
}

kh_err kh_sqlite_open(const char *path, kh_store **out)
{
    kh_err err = precreate(path);
    if (err != KH_OK)
        return err;
    sq_store *q = kh_xcalloc(1, sizeof(*q));
    q->base.ops = &sqlite_ops;
    q->path = kh_xstrdup(path);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    sq_group_init(&q->group);
    q->ckpt = sq_ckpt_new();
    /* Open one connection now so a bad path or a locked file fails at
     * start-up rather than on the first request; it also sets WAL mode. */
    sq_conn *c = NULL;
    err = sq_acquire(&q->base, &c);
    if (err != KH_OK) {
        sqlite_close(&q->base);
        return err;
    }
    sq_release(&q->base, c);
    err = sq_ckpt_start(q->ckpt, q->path);
    if (err != KH_OK) {
        sqlite_close(&q->base);
        return err;
    }
    *out = &q->base;
    return KH_OK;
}
