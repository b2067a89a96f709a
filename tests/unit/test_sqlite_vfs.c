/*
 * test_sqlite_vfs.c - the store's SQLite VFS (src/store/sqlite_vfs.c):
 * a commit's WAL frames go out in one write; what a commit wrote is in the
 * file when COMMIT returns (another connection sees it, a kill -9 right
 * after keeps it); a commit whose write fails fails, and loses nothing
 * committed before it; commits bigger than the buffer are whole. Real
 * SQLite files in a mkdtemp directory, real processes for the crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/sqlite_internal.h"
#include "test_db.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct vfix {
    kh_test_db db; /* a fresh SQLite directory (test_db.h) */
    char path[128];
} vfix;

static int setup(void **state)
{
    vfix *f = calloc(1, sizeof(*f));
    if (!f || kh_test_db_open(&f->db, NULL, "vfs") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->db.dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    vfix *f = *state;
    kh_test_db_close(&f->db);
    free(f);
    return 0;
}

/* A connection through the store's VFS (vfs = 1) or SQLite's default. */
static sqlite3 *open_db(const vfix *f, int vfs)
{
    sqlite3 *db = NULL;
    const char *name = vfs ? sq_vfs_name() : NULL;
    if (vfs && !name)
        return NULL;
    if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, name) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static sqlite3 *open_schema(const vfix *f)
{
    sqlite3 *db = open_db(f, 1);
    assert_non_null(db);
    assert_int_equal(exec(db,
                          "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                          " PRAGMA synchronous=NORMAL;"
                          " CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB, w TEXT);"
                          " CREATE INDEX IF NOT EXISTS t_w ON t(w);"
                          " CREATE INDEX IF NOT EXISTS t_vw ON t(w, k);"),
                     SQLITE_OK);
    return db;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* PRAGMA integrity_check finds nothing wrong with db. */
static int integrity_ok(sqlite3 *db)
{
    return query_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE "
                         "integrity_check != 'ok'") == 0;
}

static int insert(sqlite3 *db, int64_t k, size_t blob_len)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "INSERT INTO t(k, v, w) VALUES (?1, ?2, 'w' || ?1)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    unsigned char *blob = malloc(blob_len ? blob_len : 1);
    for (size_t i = 0; i < blob_len; i++)
        blob[i] = (unsigned char)(k + (int64_t)i * 7);
    sqlite3_bind_int64(st, 1, k);
    sqlite3_bind_blob(st, 2, blob, (int)blob_len, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(blob);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The blob of row k, as insert() made it: 1 when it is whole. */
static int blob_ok(sqlite3 *db, int64_t k, size_t blob_len)
{
    sqlite3_stmt *st = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = ?1", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, k);
    if (sqlite3_step(st) == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == blob_len) {
        const unsigned char *b = sqlite3_column_blob(st, 0);
        ok = 1;
        for (size_t i = 0; ok && i < blob_len; i++)
            ok = b[i] == (unsigned char)(k + (int64_t)i * 7);
    }
    sqlite3_finalize(st);
    return ok;
}

/* A commit that dirties several pages writes the WAL once, and another
 * connection (SQLite's own VFS, nothing of ours) sees it as soon as the
 * COMMIT returns. */
static void test_commit_is_one_write(void **state)
{
    vfix *f = *state;
    sqlite3 *db = open_schema(f);
    sqlite3 *other = open_db(f, 0);
    assert_non_null(other);
    for (int64_t k = 1; k <= 20; k++) {
        uint64_t a0, f0, a1, f1;
        sq_vfs_stats(&a0, &f0);
        assert_int_equal(insert(db, k, 100), SQLITE_OK);
        sq_vfs_stats(&a1, &f1);
        /* the table and its two indexes: at least three frames, each a
         * header and a page */
        assert_true(a1 - a0 >= 6);
        assert_int_equal(f1 - f0, 1);
        assert_int_equal(query_int(other, "SELECT count(*) FROM t"), k);
        assert_true(blob_ok(other, k, 100));
    }
    assert_true(integrity_ok(other));
    sqlite3_close(other);
    sqlite3_close(db);
}

/* Commits of several MiB (more than the VFS buffers) are whole, and so is
 * one that rewrote its own spilled pages in place (a cache too small for
 * the transaction). */
static void test_big_commits(void **state)
{
    vfix *f = *state;
    sqlite3 *db = open_schema(f);
    uint64_t a0, f0, a1, f1;
    sq_vfs_stats(&a0, &f0);
    assert_int_equal(insert(db, 1, 3u << 20), SQLITE_OK);
    sq_vfs_stats(&a1, &f1);
    /* ~770 frames in writes of up to 120 KiB (what the unix VFS takes) */
    assert_true(a1 - a0 >= 1500);
    assert_true(f1 - f0 >= 26 && f1 - f0 <= 40);
    assert_int_equal(exec(db, "PRAGMA cache_size=20; BEGIN"), SQLITE_OK);
    for (int64_t k = 2; k < 200; k++)
        assert_int_equal(insert(db, k, 3000), SQLITE_OK);
    assert_int_equal(exec(db, "UPDATE t SET w = w || 'x' WHERE k > 1; COMMIT"), SQLITE_OK);
    sqlite3 *other = open_db(f, 0);
    assert_non_null(other);
    assert_true(blob_ok(other, 1, 3u << 20));
    for (int64_t k = 2; k < 200; k++)
        assert_true(blob_ok(other, k, 3000));
    assert_int_equal(query_int(other, "SELECT count(*) FROM t WHERE w LIKE '%x'"), 198);
    assert_true(integrity_ok(other));
    sqlite3_close(other);
    sqlite3_close(db);
}

/* synchronous=NORMAL, i.e. --durability process: a commit that returned
 * survives a kill -9 of the process right after it. The child reports each
 * commit on a pipe once COMMIT returned, and dies by SIGKILL. */
static void test_commit_survives_kill(void **state)
{
    vfix *f = *state;
    sqlite3_close(open_schema(f));
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        sqlite3 *db = open_db(f, 1);
        if (!db || exec(db, "PRAGMA synchronous=NORMAL") != SQLITE_OK)
            _exit(2);
        for (int64_t k = 1; k <= 300; k++) {
            if (insert(db, k, 500) != SQLITE_OK)
                _exit(3);
            if (write(p[1], &k, sizeof(k)) != (ssize_t)sizeof(k))
                _exit(4);
        }
        raise(SIGKILL);
        _exit(5);
    }
    close(p[1]);
    int64_t k = 0, last = 0;
    while (read(p[0], &k, sizeof(k)) == (ssize_t)sizeof(k))
        last = k;
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(last, 300);
    sqlite3 *db = open_db(f, 0);
    assert_non_null(db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 300);
    for (int64_t i = 1; i <= 300; i++)
        assert_true(blob_ok(db, i, 500));
    assert_true(integrity_ok(db));
    sqlite3_close(db);
}

/* The child of test_write_error_fails_commit: 0 when every check held,
 * else the number of the first that failed. */
static int write_error_child(const vfix *f)
{
    sqlite3 *db = open_schema(f);
    if (insert(db, 1, 1000) != SQLITE_OK)
        return 10;
    struct stat st;
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    if (stat(wal, &st) != 0)
        return 11;
    /* the WAL may grow by 16 KiB, no more: a 200 KB commit cannot fit */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {(rlim_t)st.st_size + 16384, RLIM_INFINITY};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 12;
    int rc = insert(db, 2, 200000);
    if (rc == SQLITE_OK)
        return 13; /* the failed write must fail the commit */
    lim.rlim_cur = RLIM_INFINITY;
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 14;
    if (query_int(db, "SELECT count(*) FROM t") != 1 || !blob_ok(db, 1, 1000))
        return 15;
    if (insert(db, 3, 1000) != SQLITE_OK)
        return 16;
    sqlite3_close(db);
    sqlite3 *other = open_db(f, 0);
    if (!other)
        return 17;
    if (query_int(other, "SELECT count(*) FROM t") != 2 || !blob_ok(other, 3, 1000) ||
        !blob_ok(other, 1, 1000))
        return 18;
    if (!integrity_ok(other))
        return 19;
    sqlite3_close(other);
    return 0;
}

/* A commit whose WAL write fails (here: the file size limit, as a full
 * disk would) reports the failure, keeps what was committed before it,
 * and the next commit works. In a child: the limit is per process. */
static void test_write_error_fails_commit(void **state)
{
    vfix *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(write_error_child(f));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_is_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_survives_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error_fails_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
