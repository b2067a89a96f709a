/*
 * sql.c - dispatch of the shared statements (store/sql.h) to the backend
 * that owns the store.
 */
#include "store/sql.h"

#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

char *kh_sql_cell_dup(const kh_sql_rows *r, size_t row, size_t col)
{
    const char *c = kh_sql_cell(r, row, col);
    return kh_xstrdup(c ? c : "");
}

int64_t kh_sql_cell_int(const kh_sql_rows *r, size_t row, size_t col)
{
    const char *c = kh_sql_cell(r, row, col);
    return c ? strtoll(c, NULL, 10) : 0;
}

void kh_sql_rows_clear(kh_sql_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->cells && i < r->n * r->cols; i++)
        free(r->cells[i]);
    free(r->cells);
    memset(r, 0, sizeof(*r));
}

kh_err kh_sql_run(kh_store *s, int write, kh_sql_fn fn, void *arg)
{
    if (!s || !fn)
        return KH_ERR_INVALID_ARG;
    if (strcmp(s->ops->name, "sqlite") == 0)
        return kh_sq_sql_run(s, write, fn, arg);
    if (strcmp(s->ops->name, "postgresql") == 0)
        return kh_pg_sql_run(s, write, fn, arg);
    return KH_ERR_UNSUPPORTED;
}

kh_err kh_sql_exec(kh_sql *q, int id, const char *sql, const kh_sql_param *p, size_t np,
                   kh_sql_rows *out, int64_t *changes)
{
    if (!q || !sql || id < 0 || id >= KH_SQL_CACHE_MAX)
        return KH_ERR_INVALID_ARG;
    if (out)
        memset(out, 0, sizeof(*out));
    return q->pg ? kh_pg_sql_exec(q, id, sql, p, np, out, changes)
                 : kh_sq_sql_exec(q, id, sql, p, np, out, changes);
}
