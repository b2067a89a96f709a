/*
 * test_store_wal.c - the SQLite store's WAL checkpoints (sqlite_ckpt.c):
 * the store's background thread, not the requests, copies the WAL into the
 * database file; concurrent writers and readers lose nothing meanwhile;
 * closing with the thread at work leaves a database that reopens whole.
 * SQLite only (fixture: store_harness.h); real files, no clock.
 */
#include "store_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/sqlite.h"
#include "store/sqlite_internal.h"
#include "store/store.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define POLL_ROUNDS 600 /* x 50 ms: a bound, not an expectation */

static void uid_of(char *uid, size_t size, int thread, int i)
{
    snprintf(uid, size, "w%d-%05d", thread, i);
}

/* Insert uid with a material blob that is its own uid, to check content. */
static kh_err insert_marked(fixture *f, const char *uid)
{
    kh_obj_row r = make_row(f, uid, "alice", 2, 1);
    r.material = (uint8_t *)uid;
    r.material_len = strlen(uid);
    return kh_store_object_insert(f->s, &r);
}

static void check_row(fixture *f, const char *uid)
{
    kh_obj_row *r = NULL;
    assert_int_equal(kh_store_object_get(f->s, uid, &r), KH_OK);
    assert_string_equal(r->uid, uid);
    assert_int_equal(r->material_len, strlen(uid));
    assert_memory_equal(r->material, uid, strlen(uid));
    kh_obj_row_free(&r);
}

/* Rows of table in the database file at path, opened read-only and
 * without the store's WAL; -1 when it cannot be read (a copy caught in the
 * middle of a checkpoint). */
static int64_t count_rows(const char *path, const char *table)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* Rows of table in a copy of the database file alone, without the -wal:
 * what the checkpoints have copied so far. */
static int64_t count_in_file_alone(fixture *f, const char *table)
{
    char copy[192], side[208];
    snprintf(copy, sizeof(copy), "%s/alone.db", f->dir);
    for (const char *ext = "-wal"; ext; ext = ext[1] == 'w' ? "-shm" : NULL) {
        snprintf(side, sizeof(side), "%s%s", copy, ext);
        unlink(side);
    }
    unlink(copy);
    if (copy_file(f->path, copy) != 0)
        return -1;
    return count_rows(copy, table);
}

/* Wait until no checkpoint is running and every frame of the WAL is in
 * the database file. The rows can be in the file before that: the
 * checkpointer marks the frames copied only once the file is synced, and
 * a WAL restarts only after that. The probe is a PASSIVE checkpoint of our
 * own, which gets SQLITE_BUSY while the checkpointer's runs and copies
 * nothing once the checkpointer's has copied everything. */
static void wait_checkpoint_done(fixture *f)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    int done = 0;
    for (int round = 0; round < POLL_ROUNDS && !done; round++) {
        int n_log = -1, n_ckpt = -2;
        int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_ckpt);
        done = rc == SQLITE_OK && n_log == n_ckpt;
        if (!done)
            usleep(50000);
    }
    sqlite3_close(db);
    assert_true(done);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* ---- tests ---------------------------------------------------------------- */

#define N_SEQ 3000
#define WAL_LIMIT (32 * 1024 * 1024) /* PRAGMA journal_size_limit, sqlite.c */

/* No request checkpoints (wal_autocheckpoint=0) and nobody else touches
 * the file, so rows that reach the database file alone while the store
 * stays open were copied there by its checkpointer. */
static void test_background_checkpoint(void **state)
{
    fixture *f = *state;
    char uid[32];
    for (int i = 0; i < N_SEQ; i++) {
        uid_of(uid, sizeof(uid), 0, i);
        assert_int_equal(insert_marked(f, uid), KH_OK);
    }
    int64_t n = -1;
    for (int round = 0; round < POLL_ROUNDS && n != N_SEQ; round++) {
        n = count_in_file_alone(f, "object");
        if (n != N_SEQ)
            usleep(50000);
    }
    assert_int_equal(n, N_SEQ);
    for (int i = 0; i < N_SEQ; i += 97) {
        uid_of(uid, sizeof(uid), 0, i);
        check_row(f, uid);
    }
    /* the audit chain head moved with them and is in the file too */
    int64_t heads = count_in_file_alone(f, "audit_head");
    assert_int_equal(heads, 1);
}

/* A reader holding an old snapshot stops checkpoints short of its frames;
 * writes go on meanwhile, its snapshot stays what it was, and once it
 * ends the checkpointer copies the rest. The WAL, which grew far past its
 * usual length meanwhile (about 100 MB), is cut back to journal_size_limit
 * (32 MiB, sqlite.c) when the next write restarts it. */
static void test_checkpoint_waits_for_old_reader(void **state)
{
    fixture *f = *state;
    char uid[32];
    uid_of(uid, sizeof(uid), 1, 0);
    assert_int_equal(insert_marked(f, uid), KH_OK);
    sqlite3 *rd = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(rd, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(rd, "SELECT count(*) FROM object", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 1);
    sqlite3_reset(st);
    for (int i = 1; i < N_SEQ; i++) {
        uid_of(uid, sizeof(uid), 1, i);
        assert_int_equal(insert_marked(f, uid), KH_OK);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 1); /* its snapshot */
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(rd);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_true(file_size(wal) > WAL_LIMIT);
    int64_t n = -1;
    for (int round = 0; round < POLL_ROUNDS && n != N_SEQ; round++) {
        n = count_in_file_alone(f, "object");
        if (n != N_SEQ)
            usleep(50000);
    }
    assert_int_equal(n, N_SEQ);
    wait_checkpoint_done(f);
    uid_of(uid, sizeof(uid), 1, N_SEQ);
    assert_int_equal(insert_marked(f, uid), KH_OK);
    assert_true(file_size(wal) <= WAL_LIMIT);
    check_row(f, uid);
}

#define N_WRITERS 4
#define N_READERS 3
#define PER_WRITER 800

typedef struct wal_worker {
    fixture *f;
    int id;
    int failures;
    int seen; /* readers: rows read back */
    volatile int *writers_left;
} wal_worker;

static void *writer_main(void *arg)
{
    wal_worker *w = arg;
    char uid[32];
    for (int i = 0; i < PER_WRITER; i++) {
        uid_of(uid, sizeof(uid), w->id, i);
        if (insert_marked(w->f, uid) != KH_OK)
            w->failures++;
    }
    __atomic_sub_fetch(w->writers_left, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Read back the newest rows of every writer, as they land, until the
 * writers are done: a row once read must read back whole. */
static void *reader_main(void *arg)
{
    wal_worker *w = arg;
    char uid[32];
    int next[N_WRITERS] = {0};
    while (__atomic_load_n(w->writers_left, __ATOMIC_SEQ_CST) > 0) {
        for (int t = 0; t < N_WRITERS; t++) {
            if (next[t] >= PER_WRITER)
                continue;
            uid_of(uid, sizeof(uid), t, next[t]);
            kh_obj_row *r = NULL;
            kh_err err = kh_store_object_get(w->f->s, uid, &r);
            if (err == KH_OK) {
                if (r->material_len != strlen(uid) || memcmp(r->material, uid, strlen(uid)) != 0)
                    w->failures++;
                next[t]++;
                w->seen++;
            } else if (err != KH_ERR_NOT_FOUND) {
                w->failures++;
            }
            kh_obj_row_free(&r);
        }
    }
    return NULL;
}

static void run_writers_and_readers(fixture *f, int readers)
{
    volatile int left = N_WRITERS;
    wal_worker ws[N_WRITERS + N_READERS];
    pthread_t th[N_WRITERS + N_READERS];
    int n = N_WRITERS + readers;
    for (int i = 0; i < n; i++) {
        ws[i] = (wal_worker){.f = f, .id = i, .writers_left = &left};
        assert_int_equal(
            pthread_create(&th[i], NULL, i < N_WRITERS ? writer_main : reader_main, &ws[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ws[i].failures, 0);
    }
}

static void check_all_rows(fixture *f)
{
    char uid[32];
    for (int t = 0; t < N_WRITERS; t++) {
        for (int i = 0; i < PER_WRITER; i++) {
            uid_of(uid, sizeof(uid), t, i);
            check_row(f, uid);
        }
    }
    kh_locate_query q;
    kh_locate_query_init(&q);
    q.owner = "alice";
    assert_int_equal(count_locate(f->s, &q), N_WRITERS * PER_WRITER);
}

static void test_concurrent_writers_readers(void **state)
{
    fixture *f = *state;
    run_writers_and_readers(f, N_READERS);
    check_all_rows(f);
    reopen(f);
    check_all_rows(f);
}

/* Close at once after a burst of writes, the checkpointer likely at work:
 * the last connection to close copies the WAL and removes it, and the
 * database reopens with every row, its integrity intact. */
static void test_close_while_checkpointing(void **state)
{
    fixture *f = *state;
    run_writers_and_readers(f, 0);
    kh_store_close(&f->s);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_true(file_size(wal) <= 0); /* gone, or empty */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(count_rows(f->path, "object"), N_WRITERS * PER_WRITER);
    assert_int_equal(kh_store_open(f->reopen_url, &f->s), KH_OK);
    check_all_rows(f);
}

/* An audit row committed without an fsync (a read's, with
 * --audit-sync-reads=false) is fsync'd by the background thread soon
 * after, even when nothing else is written: the WAL is synced once, and
 * commits that fsync'd themselves add no such sync. */
static void test_unsynced_commit_is_synced(void **state)
{
    fixture *f = *state;
    kh_audit_row a = audit_op_row("Get", "k", "KH_OK");
    a.sync_later = false;
    assert_int_equal(kh_store_audit_append(f->s, &a), KH_OK);
    usleep(300 * 1000);
    assert_int_equal(kh_sqlite_wal_syncs(f->s), 0); /* nothing was left unsynced */
    /* a fresh fsync, so that the read's row may skip its own (a stall of
     * over 100 ms between the two, on a loaded machine, makes the row
     * durable by itself: then again) */
    int appended = 1;
    for (int round = 0; round < 20 && kh_sqlite_wal_syncs(f->s) == 0; round++) {
        char uid[32];
        snprintf(uid, sizeof(uid), "durable-%d", round);
        assert_int_equal(insert_marked(f, uid), KH_OK);
        a.sync_later = true;
        assert_int_equal(kh_store_audit_append(f->s, &a), KH_OK);
        appended++;
        for (int i = 0; i < 20 && kh_sqlite_wal_syncs(f->s) == 0; i++)
            usleep(50 * 1000);
    }
    assert_true(kh_sqlite_wal_syncs(f->s) >= 1);
    int64_t last = 0;
    uint8_t hash[32];
    reopen(f);
    assert_int_equal(kh_store_audit_head(f->s, &last, hash), KH_OK);
    assert_int_equal(last, appended);
}

/* PRAGMA synchronous of the pooled connection a single thread gets (the
 * pool is LIFO: the one the last batch committed on). */
static int pool_sync_level(fixture *f)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sq_acquire(f->s, &c), KH_OK);
    assert_int_equal(sqlite3_prepare_v2(c->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int level = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sq_release(f->s, c);
    return level;
}

/* A batch of read rows commits with synchronous=NORMAL, every time, and
 * the next write's batch with FULL again, on the same connection. */
static void test_sync_mode_per_batch(void **state)
{
    fixture *f = *state;
    kh_audit_row a = audit_op_row("Get", "k", "KH_OK");
    a.sync_later = true;
    int lazy_seen = 0;
    for (int round = 0; round < 3; round++) {
        char uid[32];
        snprintf(uid, sizeof(uid), "mode-%d", round);
        assert_int_equal(insert_marked(f, uid), KH_OK);
        assert_int_equal(pool_sync_level(f), 2); /* FULL */
        assert_int_equal(kh_store_audit_append(f->s, &a), KH_OK);
        /* NORMAL unless more than 100 ms passed since the insert's fsync
         * (a stalled machine): then this row was synced itself */
        lazy_seen += pool_sync_level(f) == 1;
    }
    assert_true(lazy_seen >= 2); /* not only the first batch */
}

/* A write the disk refuses (here the file-size limit, with SIGXFSZ
 * ignored as keyhold serve does; a full disk answers the same way) fails
 * that write alone: rows committed before are whole, the refused one is
 * absent, and once there is room again the next write commits. */
static void test_refused_write_loses_nothing(void **state)
{
    fixture *f = *state;
    char uid[32], wal[160];
    for (int i = 0; i < 20; i++) {
        uid_of(uid, sizeof(uid), 2, i);
        assert_int_equal(insert_marked(f, uid), KH_OK);
    }
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_true(file_size(f->path) < (1 << 20) && file_size(wal) < (1 << 20));
    size_t big_len = 4u << 20; /* past the limit wherever the WAL now ends */
    uint8_t *big = calloc(1, big_len);
    kh_obj_row r = make_row(f, "refused", "alice", 2, 1);
    r.material = big;
    r.material_len = big_len;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim, tight;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &lim), 0);
    tight = lim;
    tight.rlim_cur = 2u << 20;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &tight), 0);
    kh_err err = kh_store_object_insert(f->s, &r);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    signal(SIGXFSZ, old_handler);
    free(big);
    assert_int_not_equal(err, KH_OK);
    kh_obj_row *got = NULL;
    assert_int_equal(kh_store_object_get(f->s, "refused", &got), KH_ERR_NOT_FOUND);
    for (int i = 0; i < 20; i++) {
        uid_of(uid, sizeof(uid), 2, i);
        check_row(f, uid);
    }
    uid_of(uid, sizeof(uid), 2, 20);
    assert_int_equal(insert_marked(f, uid), KH_OK);
    reopen(f);
    check_row(f, uid);
    assert_int_equal(kh_store_object_get(f->s, "refused", &got), KH_ERR_NOT_FOUND);
}

int main(void)
{
    store_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_background_checkpoint, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_waits_for_old_reader, setup_sqlite,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_readers, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_checkpointing, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_unsynced_commit_is_synced, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_sync_mode_per_batch, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_refused_write_loses_nothing, setup_sqlite, teardown),
    };
    return cmocka_run_group_tests_name("store on sqlite: WAL checkpoints", tests, NULL, NULL);
}
