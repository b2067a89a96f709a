/*
 * postgres_internal.h - shared between the files of the PostgreSQL backend
 * only.
 *
 * postgres.c owns the connection pool, prepared statements, migrations and
 * realms; postgres_values.c parameters, results and errors;
 * postgres_objects.c managed objects and Locate; postgres_audit.c the
 * audit log and grants.
 */
#ifndef KH_STORE_POSTGRES_INTERNAL_H
#define KH_STORE_POSTGRES_INTERNAL_H

#include "common/err.h"
#include "store/committer.h"
#include "store/sql.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed statements, prepared once per connection on first use. */
typedef enum pg_stmt_id {
    PG_REALM_INSERT,
    PG_REALM_SELECT,
    PG_RKEY_LATEST,
    PG_RKEY_GET,
    PG_RKEY_INSERT,
    PG_OBJ_INSERT,
    PG_OBJ_GET,
    PG_OBJ_UPDATE,
    PG_OBJ_REVISION,
    PG_NAME_INSERT,
    PG_NAME_DELETE,
    PG_AUDIT_HEAD_LOCK,
    PG_AUDIT_HEAD,
    PG_AUDIT_INSERT_HEAD, /* one row, and the head moved to it */
    PG_AUDIT_INSERT2,     /* two rows */
    PG_AUDIT_INSERT2_HEAD,
    PG_AUDIT_READ,
    PG_GRANT_ADD,
    PG_GRANT_SUB,
    PG_GRANT_PRUNE,
    PG_GRANT_LIST,
    PG_GRANT_PERMS,
    PG_KES_NAME_CLAIM,
    PG_KES_NAME_GET,
    PG_STMT_MAX_
} pg_stmt_id;

/* Locate statements are prepared per set of filters present (a bit each),
 * so each gets a plan that can use its index. */
#define PG_LOCATE_OWNER 0x01
#define PG_LOCATE_NAME 0x02
#define PG_LOCATE_TYPE 0x04
#define PG_LOCATE_STATE 0x08
#define PG_LOCATE_ALG 0x10
#define PG_LOCATE_LEN 0x20
#define PG_LOCATE_VISIBLE 0x40
#define PG_LOCATE_VARIANTS 0x80

typedef struct pg_conn {
    PGconn *conn;
    uint8_t prepared[PG_STMT_MAX_];
    uint8_t locate_prepared[PG_LOCATE_VARIANTS];
    uint8_t shared_prepared[KH_SQL_CACHE_MAX]; /* store/sql.h statements */
    unsigned n_ok;                             /* statements that succeeded since borrowed */
    struct pg_conn *next;                      /* idle list */
} pg_conn;

/* Parameters of one statement: numbers as text, blobs as binary BYTEA,
 * NULL pointers as SQL NULL. Values are borrowed, never copied (except the
 * formatted numbers), so the caller's buffers must outlive the call. */
#define PG_MAX_PARAMS 16
typedef struct pg_params {
    int n;
    int too_long; /* a blob over INT_MAX bytes was given */
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][24];
} pg_params;

void pg_params_init(pg_params *p);
void pg_param_text(pg_params *p, const char *s);
void pg_param_int(pg_params *p, int64_t v);
void pg_param_null(pg_params *p);
void pg_param_blob(pg_params *p, const uint8_t *b, size_t len);

/* Run fixed statement id (results in binary format). On KH_OK, *res holds
 * the result (give it to pg_clear); on failure nothing is left to free. */
kh_err pg_exec(pg_conn *c, pg_stmt_id id, const pg_params *p, PGresult **res);
/* The same for the Locate variant mask, whose text is sql. */
kh_err pg_exec_locate(pg_conn *c, unsigned mask, const char *sql, const pg_params *p,
                      PGresult **res);
/* Run a fixed statement that returns no rows and takes no parameters. */
kh_err pg_simple(pg_conn *c, const char *sql, const char *what);
kh_err pg_begin(pg_conn *c);
/* COMMIT; KH_OK only when the server confirmed it. */
kh_err pg_commit(pg_conn *c);

/* Map a failed result to kh_err, logging the SQLSTATE and a fixed
 * description (never values). A unique violation becomes KH_ERR_EXISTS. */
kh_err pg_fail(pg_conn *c, const PGresult *res, const char *what);

/* Binary-format column readers; NULL reads as 0 / NULL. */
int64_t pg_get_int(const PGresult *r, int row, int col);
char *pg_get_text(const PGresult *r, int row, int col); /* malloc'd */
/* Copy a BYTEA column (NULL, 0 when SQL NULL). */
void pg_get_blob(const PGresult *r, int row, int col, uint8_t **out, size_t *len);
/* Wipe every value of r (blobs are sealed material and wrapped keys), then
 * PQclear it; accepts NULL. */
void pg_clear(PGresult *r);

/* Borrow a connection, run fn on it, give it back (rolling back anything
 * left open). If the connection turns out to have been lost (server
 * restart, idle connection cut), fn runs once more on a fresh one: always
 * when read_only, and for a write only if its first statement (BEGIN)
 * failed, so that nothing can have been committed twice. */
typedef kh_err (*pg_fn)(pg_conn *c, void *ctx);
kh_err pg_run(kh_store *s, pg_fn fn, void *ctx, int read_only);

kh_err pg_object_insert(kh_store *s, const kh_obj_row *row);
kh_err pg_object_insert_many(kh_store *s, const kh_obj_row *const *rows, size_t n);
kh_err pg_object_get(kh_store *s, const char *uid, kh_obj_row **out);
kh_err pg_object_update(kh_store *s, const kh_obj_row *row);
kh_err pg_object_insert_audited(kh_store *s, const kh_obj_row *const *rows, size_t n,
                                kh_audit_row *audit);
kh_err pg_object_update_audited(kh_store *s, const kh_obj_row *row, kh_audit_row *audit);
kh_err pg_object_locate(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n);

/* Audit appends of concurrent callers share one transaction (one lock of
 * the chain head, one commit): the first caller that finds no batch
 * running takes every queued row and appends them (postgres_audit.c). */
typedef struct pg_audit_job pg_audit_job;
typedef struct pg_audit_group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pg_audit_job *head;
    pg_audit_job **tail;
    int leader; /* a thread is appending a batch */
    /* Appends the rows nobody waits for (postgres_audit.c). */
    kh_committer committer;
} pg_audit_group;
void pg_audit_group_init(pg_audit_group *g);
/* Stop the committer thread once nothing is queued; before closing. */
void pg_audit_group_stop(pg_audit_group *g);
void pg_audit_group_destroy(pg_audit_group *g);
pg_audit_group *pg_audit_group_of(kh_store *s); /* postgres.c */

kh_err pg_audit_append(kh_store *s, kh_audit_row *row);
/* The same without waiting (store.h, kh_store_audit_append_async). */
void pg_audit_append_async(kh_store *s, kh_audit_row *row, kh_store_done_fn done, void *arg);
/* write (run inside a transaction, no BEGIN/COMMIT of its own) and, if it
 * succeeds, row chained, in the next audit batch of this process: one
 * transaction and one commit for the batch's writes and rows, as SQLite's
 * group commit (store.h, *_audited). write NULL: row alone. */
kh_err pg_audit_submit(kh_store *s, pg_fn write, void *arg, kh_audit_row *row);
kh_err pg_audit_read(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows, size_t *n);
kh_err pg_audit_head(kh_store *s, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN]);
kh_err pg_grant_add(kh_store *s, const kh_grant_row *g);
kh_err pg_grant_remove(kh_store *s, const kh_grant_row *g);
kh_err pg_grant_list(kh_store *s, const char *owner, const char *object_uid, kh_grant_row **rows,
                     size_t *n);
kh_err pg_grant_perms(kh_store *s, const char *owner, const char *object_uid, const char *principal,
                      uint32_t *perms);
kh_err pg_kes_name_claim(kh_store *s, const char *owner, const char *name, const char *holder,
                         const char *expected);
kh_err pg_kes_name_claim_audited(kh_store *s, const char *owner, const char *name,
                                 const char *holder, const char *expected, kh_audit_row *audit);
kh_err pg_kes_name_get(kh_store *s, const char *owner, const char *name, char **holder);

#endif
