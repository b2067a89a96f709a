/*
 * sqlite_sql.c - SQLite half of the shared statements (store/sql.h).
 *
 * Writes go through the group commit (sqlite_commit.c) like every other
 * write, so they share its transaction, its fsync and its savepoint per
 * job; reads borrow a connection and run in autocommit.
 */
#include "common/mem.h"
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <string.h>

struct run_ctx {
    kh_sql_fn fn;
    void *arg;
};

static kh_err run_on(sq_conn *c, void *arg)
{
    struct run_ctx *x = arg;
    kh_sql q = {0, c};
    return x->fn(&q, x->arg);
}

kh_err kh_sq_sql_run(kh_store *s, int write, kh_sql_fn fn, void *arg)
{
    struct run_ctx x = {fn, arg};
    if (write)
        return sq_group_write(s, run_on, &x);
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    err = run_on(c, &x);
    sq_release(s, c);
    return err;
}

static int bind_all(sqlite3_stmt *st, const kh_sql_param *p, size_t np)
{
    for (size_t i = 0; i < np; i++) {
        char name[24];
        snprintf(name, sizeof(name), "$%zu", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name), rc = SQLITE_OK;
        if (idx == 0)
            continue; /* this statement does not use it */
        if (p[i].kind == KH_SQL_TEXT)
            rc = sqlite3_bind_text(st, idx, p[i].text, -1, SQLITE_STATIC);
        else if (p[i].kind == KH_SQL_INT)
            rc = sqlite3_bind_int64(st, idx, p[i].num);
        else
            rc = sqlite3_bind_null(st, idx);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static void add_row(sqlite3_stmt *st, kh_sql_rows *out, size_t *cap)
{
    size_t cols = out->cols;
    if (out->n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        out->cells = kh_xrealloc(out->cells, *cap * (cols ? cols : 1) * sizeof(char *));
    }
    for (size_t i = 0; i < cols; i++) {
        const unsigned char *t = sqlite3_column_text(st, (int)i);
        out->cells[out->n * cols + i] = t ? kh_xstrdup((const char *)t) : NULL;
    }
    out->n++;
}

kh_err kh_sq_sql_exec(kh_sql *q, int id, const char *sql, const kh_sql_param *p, size_t np,
                      kh_sql_rows *out, int64_t *changes)
{
    sq_conn *c = q->conn;
    if (!c->shared[id]) {
        int rc =
            sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->shared[id], NULL);
        if (rc != SQLITE_OK) {
            c->shared[id] = NULL;
            return sq_fail(c, rc, "prepare");
        }
    }
    sqlite3_stmt *st = c->shared[id];
    kh_err err = KH_OK;
    int rc = bind_all(st, p, np);
    size_t cap = 0;
    if (out)
        out->cols = (size_t)sqlite3_column_count(st);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && out)
            add_row(st, out, &cap);
    }
    if (rc != SQLITE_DONE)
        err = sq_fail(c, rc, "statement");
    else if (changes)
        *changes = sqlite3_changes(c->db);
    sq_done(st);
    if (err != KH_OK && out)
        kh_sql_rows_clear(out);
    return err;
}
