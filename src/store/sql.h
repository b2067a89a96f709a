/*
 * sql.h - statements written once for both backends, for store/ modules
 * whose queries are plain enough to share (store_users.c). Internal to
 * store/: nothing above store/ writes SQL.
 *
 * The SQL text must mean the same in SQLite and PostgreSQL: parameters are
 * $1, $2, ..., casts are CAST(x AS type), no backend-only functions, and
 * ordering never depends on a text collation. Values travel as text or
 * 64-bit integers; results come back as text (NULL for SQL NULL).
 * Statements are prepared once per connection, cached under a small id the
 * caller picks (0 <= id < KH_SQL_CACHE_MAX; one id, one SQL text).
 */
#ifndef KH_STORE_SQL_H
#define KH_STORE_SQL_H

#include "common/err.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define KH_SQL_CACHE_MAX 64

/* Locate's visibility through realm roles (store_realms.c), for both
 * backends' locate SQL: " OR " an active role of principal (parameter P)
 * or of "*" in the object's realm with a permission in mask M. */
#define REALM_VISIBLE(P, M)                                                                        \
    " OR EXISTS (SELECT 1 FROM realm_member m WHERE m.realm_id = o.realm_id"                       \
    " AND m.member IN (" P ", '*') AND m.removed_at IS NULL AND (m.permissions & " M ") <> 0)"

/* A borrowed connection, valid inside a kh_sql_run callback only. */
typedef struct kh_sql kh_sql;

typedef enum kh_sql_kind { KH_SQL_NULL = 0, KH_SQL_TEXT = 1, KH_SQL_INT = 2 } kh_sql_kind;

typedef struct kh_sql_param {
    kh_sql_kind kind;
    const char *text; /* borrowed */
    int64_t num;
} kh_sql_param;

static inline kh_sql_param kh_sql_text(const char *s)
{
    kh_sql_param p = {s ? KH_SQL_TEXT : KH_SQL_NULL, s, 0};
    return p;
}

static inline kh_sql_param kh_sql_int(int64_t v)
{
    kh_sql_param p = {KH_SQL_INT, NULL, v};
    return p;
}

/* Result rows: cells[row * cols + col], malloc'd text or NULL. */
typedef struct kh_sql_rows {
    size_t n;
    size_t cols;
    char **cells;
} kh_sql_rows;

static inline const char *kh_sql_cell(const kh_sql_rows *r, size_t row, size_t col)
{
    return r->cells[row * r->cols + col];
}

/* A copy of a cell, "" for NULL (the caller frees it). */
char *kh_sql_cell_dup(const kh_sql_rows *r, size_t row, size_t col);
/* A cell as an integer, 0 for NULL. */
int64_t kh_sql_cell_int(const kh_sql_rows *r, size_t row, size_t col);
void kh_sql_rows_clear(kh_sql_rows *r);

typedef kh_err (*kh_sql_fn)(kh_sql *q, void *arg);

/* Run fn on a borrowed connection. write != 0: in one transaction (SQLite:
 * a savepoint of the group commit), committed when fn returns KH_OK and
 * rolled back otherwise; durable when this returns KH_OK. */
kh_err kh_sql_run(kh_store *s, int write, kh_sql_fn fn, void *arg) KH_MUST_CHECK;

/* Execute statement id (text sql) with p[0..np). out (may be NULL) gets
 * the rows (clear it with kh_sql_rows_clear); *changes (may be NULL) the
 * number of rows an INSERT/UPDATE/DELETE touched. A unique-constraint
 * violation is KH_ERR_EXISTS. */
kh_err kh_sql_exec(kh_sql *q, int id, const char *sql, const kh_sql_param *p, size_t np,
                   kh_sql_rows *out, int64_t *changes) KH_MUST_CHECK;

/* Backend halves (sqlite_sql.c, postgres_sql.c). */
struct kh_sql {
    int pg;     /* 0 = SQLite */
    void *conn; /* sq_conn * or pg_conn * */
};
kh_err kh_sq_sql_run(kh_store *s, int write, kh_sql_fn fn, void *arg);
kh_err kh_sq_sql_exec(kh_sql *q, int id, const char *sql, const kh_sql_param *p, size_t np,
                      kh_sql_rows *out, int64_t *changes);
kh_err kh_pg_sql_run(kh_store *s, int write, kh_sql_fn fn, void *arg);
kh_err kh_pg_sql_exec(kh_sql *q, int id, const char *sql, const kh_sql_param *p, size_t np,
                      kh_sql_rows *out, int64_t *changes);

#endif
