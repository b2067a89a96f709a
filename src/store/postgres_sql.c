/*
 * postgres_sql.c - PostgreSQL half of the shared statements (store/sql.h).
 *
 * Statements are prepared once per connection as "kh_q<id>" with types
 * inferred by the server, run with text parameters and text results. A
 * write runs between BEGIN and COMMIT and counts as done only once the
 * COMMIT is acknowledged (pg_run retries a read, or a write whose BEGIN
 * failed, on a fresh connection).
 */
#include "common/mem.h"
#include "store/postgres_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run_ctx {
    kh_sql_fn fn;
    void *arg;
    int write;
};

static kh_err run_on(pg_conn *c, void *arg)
{
    struct run_ctx *x = arg;
    kh_sql q = {1, c};
    kh_err err = x->write ? pg_begin(c) : KH_OK;
    if (err == KH_OK)
        err = x->fn(&q, x->arg);
    if (err == KH_OK && x->write)
        err = pg_commit(c);
    return err; /* pg_run's release rolls back what is left open */
}

kh_err kh_pg_sql_run(kh_store *s, int write, kh_sql_fn fn, void *arg)
{
    struct run_ctx x = {fn, arg, write};
    return pg_run(s, run_on, &x, !write);
}

static int result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static void take_rows(const PGresult *res, kh_sql_rows *out)
{
    size_t n = (size_t)PQntuples(res), cols = (size_t)PQnfields(res);
    out->n = n;
    out->cols = cols;
    size_t cells = n * cols;
    out->cells = kh_xcalloc(cells > 0 ? cells : 1, sizeof(char *));
    for (size_t r = 0; r < n; r++)
        for (size_t i = 0; i < cols; i++)
            if (!PQgetisnull(res, (int)r, (int)i))
                out->cells[r * cols + i] = kh_xstrdup(PQgetvalue(res, (int)r, (int)i));
}

#define MAX_PARAMS 16

kh_err kh_pg_sql_exec(kh_sql *q, int id, const char *sql, const kh_sql_param *p, size_t np,
                      kh_sql_rows *out, int64_t *changes)
{
    pg_conn *c = q->conn;
    char name[16], num[MAX_PARAMS][24];
    const char *values[MAX_PARAMS];
    if (np > MAX_PARAMS)
        return KH_ERR_INVALID_ARG;
    snprintf(name, sizeof(name), "kh_q%d", id);
    if (!c->shared_prepared[id]) {
        PGresult *res = PQprepare(c->conn, name, sql, 0, NULL);
        kh_err err = result_ok(res) ? KH_OK : pg_fail(c, res, "prepare");
        PQclear(res);
        if (err != KH_OK)
            return err;
        c->n_ok++;
        c->shared_prepared[id] = 1;
    }
    for (size_t i = 0; i < np; i++) {
        values[i] = p[i].kind == KH_SQL_TEXT ? p[i].text : NULL;
        if (p[i].kind == KH_SQL_INT) {
            snprintf(num[i], sizeof(num[i]), "%" PRId64, p[i].num);
            values[i] = num[i];
        }
    }
    PGresult *res = PQexecPrepared(c->conn, name, (int)np, values, NULL, NULL, 0);
    if (!result_ok(res)) {
        kh_err err = pg_fail(c, res, "statement");
        PQclear(res);
        return err;
    }
    c->n_ok++;
    if (out)
        take_rows(res, out);
    if (changes)
        *changes = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return KH_OK;
}
