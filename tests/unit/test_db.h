/*
 * test_db.h - a throwaway, empty database for unit tests that run on both
 * backends: a SQLite file in a fresh mkdtemp directory, or a fresh schema
 * of the PostgreSQL database KH_TEST_PG_URL names (selected through the
 * URL's options=-csearch_path=..., dropped on close), so tests never see
 * each other's rows. store_harness.h has the full store fixture; this is
 * the database alone, for suites with fixtures of their own.
 */
#ifndef KH_TESTS_TEST_DB_H
#define KH_TESTS_TEST_DB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct kh_test_db {
    char url[1024]; /* what kh_store_open gets */
    char dir[64];   /* SQLite: the test's directory */
    PGconn *admin;  /* PostgreSQL: creates and drops the schema */
    char schema[64];
} kh_test_db;

/* KH_TEST_PG_URL (scripts/pg-test-server start DIR prints one), or NULL
 * when it is unset or empty. */
static inline const char *kh_test_db_pg_url(void)
{
    const char *url = getenv("KH_TEST_PG_URL");
    return url && *url ? url : NULL;
}

/* The PostgreSQL half of a suite run without KH_TEST_PG_URL: one skipped
 * test that says why. */
static inline void kh_test_db_pg_skipped(void **state)
{
    (void)state;
    printf("PostgreSQL half skipped: KH_TEST_PG_URL is not set"
           " (scripts/pg-test-server start DIR prints one)\n");
    skip();
}

/* setup_sqlite and setup_pg, the cmocka setups of a two-backend suite
 * whose fixture is made by setup(state, NULL or KH_TEST_PG_URL). */
#define KH_TEST_DB_SETUPS(setup)                                                                   \
    static int setup_sqlite(void **state)                                                          \
    {                                                                                              \
        return setup(state, NULL);                                                                 \
    }                                                                                              \
    static int setup_pg(void **state)                                                              \
    {                                                                                              \
        return setup(state, kh_test_db_pg_url());                                                  \
    }

/* A two-backend suite: what's SQLite group, then its PostgreSQL group when
 * KH_TEST_PG_URL is set, else one skipped test saying why. Returns the
 * number of failures. */
static inline int kh_test_db_run(const char *what, const struct CMUnitTest *sqlite_tests,
                                 size_t n_sqlite, const struct CMUnitTest *pg_tests, size_t n_pg)
{
    char name[128];
    const struct CMUnitTest skipped[] = {cmocka_unit_test(kh_test_db_pg_skipped)};
    snprintf(name, sizeof(name), "%s on sqlite", what);
    int failed = _cmocka_run_group_tests(name, sqlite_tests, n_sqlite, NULL, NULL);
    snprintf(name, sizeof(name), "%s on postgresql", what);
    if (kh_test_db_pg_url())
        failed += _cmocka_run_group_tests(name, pg_tests, n_pg, NULL, NULL);
    else
        failed += _cmocka_run_group_tests(name, skipped, 1, NULL, NULL);
    return failed;
}
#define KH_TEST_DB_RUN(what, sqlite_tests, pg_tests)                                               \
    kh_test_db_run(what, sqlite_tests, sizeof(sqlite_tests) / sizeof((sqlite_tests)[0]), pg_tests, \
                   sizeof(pg_tests) / sizeof((pg_tests)[0]))

static inline int kh_test_db_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void kh_test_db_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* SQL as the schema's administrator; 0 on success. */
static inline int kh_test_db_exec(kh_test_db *d, const char *sql)
{
    PGresult *res = PQexec(d->admin, sql);
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
}

/* An empty database: on PostgreSQL when pg (a URL) is not NULL, else SQLite.
 * tag names the directory or schema. 0 on success. */
static inline int kh_test_db_open(kh_test_db *d, const char *pg, const char *tag)
{
    static int counter;
    memset(d, 0, sizeof(*d));
    if (!pg) {
        snprintf(d->dir, sizeof(d->dir), "/tmp/kh_%s_XXXXXX", tag);
        if (!mkdtemp(d->dir))
            return -1;
        snprintf(d->url, sizeof(d->url), "sqlite://%s/keyhold.db", d->dir);
        return 0;
    }
    d->admin = PQconnectdb(pg);
    if (PQstatus(d->admin) != CONNECTION_OK)
        return -1;
    PQsetNoticeProcessor(d->admin, kh_test_db_quiet, NULL);
    snprintf(d->schema, sizeof(d->schema), "kh_%s_%ld_%d", tag, (long)getpid(), ++counter);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", d->schema,
             d->schema);
    if (kh_test_db_exec(d, sql) != 0)
        return -1;
    snprintf(d->url, sizeof(d->url), "%s%coptions=-csearch_path%%3D%s", pg,
             strchr(pg, '?') ? '&' : '?', d->schema);
    return 0;
}

/* Remove the directory or drop the schema. */
static inline void kh_test_db_close(kh_test_db *d)
{
    if (d->dir[0])
        nftw(d->dir, kh_test_db_rm, 8, FTW_DEPTH | FTW_PHYS);
    if (d->admin) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", d->schema);
        (void)kh_test_db_exec(d, sql);
        PQfinish(d->admin);
    }
    memset(d, 0, sizeof(*d));
}

#endif
