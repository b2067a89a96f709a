/*
 * sqlite_internal.h - shared between the files of the SQLite backend only.
 *
 * sqlite.c owns the connection pool, statement cache, errors, migrations
 * and realms; sqlite_objects.c owns managed objects and Locate;
 * sqlite_audit.c the audit log and grants.
 */
#ifndef KH_STORE_SQLITE_INTERNAL_H
#define KH_STORE_SQLITE_INTERNAL_H

#include "common/err.h"
#include "store/committer.h"
#include "store/sql.h"
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed statements, prepared once per connection on first use. */
typedef enum sq_stmt_id {
    SQ_BEGIN,
    SQ_BEGIN_IMMEDIATE,
    SQ_COMMIT,
    SQ_ROLLBACK,
    /* group commit (sqlite_commit.c): a savepoint per job and one for the
     * batch's audit rows */
    SQ_SAVEPOINT_JOB,
    SQ_RELEASE_JOB,
    SQ_ROLLBACK_TO_JOB,
    SQ_SAVEPOINT_AUDIT,
    SQ_RELEASE_AUDIT,
    SQ_ROLLBACK_TO_AUDIT,
    SQ_REALM_INSERT,
    SQ_REALM_SELECT,
    SQ_RKEY_LATEST,
    SQ_RKEY_GET,
    SQ_RKEY_INSERT,
    SQ_OBJ_INSERT,
    SQ_OBJ_GET,
    SQ_OBJ_UPDATE,
    SQ_OBJ_REVISION,
    SQ_NAME_INSERT,
    SQ_NAME_DELETE,
    SQ_AUDIT_HEAD,
    SQ_AUDIT_HEAD_SET,
    SQ_AUDIT_INSERT,
    SQ_AUDIT_READ,
    SQ_GRANT_ADD,
    SQ_GRANT_SUB,
    SQ_GRANT_PRUNE,
    SQ_GRANT_LIST,
    SQ_GRANT_PERMS,
    SQ_KES_NAME_CLAIM,
    SQ_KES_NAME_GET,
    SQ_STMT_MAX_
} sq_stmt_id;

/* Locate statements are cached by which filters are present. */
#define SQ_LOCATE_OWNER 0x01
#define SQ_LOCATE_NAME 0x02
#define SQ_LOCATE_TYPE 0x04
#define SQ_LOCATE_STATE 0x08
#define SQ_LOCATE_ALG 0x10
#define SQ_LOCATE_LEN 0x20
#define SQ_LOCATE_VISIBLE 0x40
#define SQ_LOCATE_VARIANTS 0x80

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_STMT_MAX_];
    sqlite3_stmt *locate[SQ_LOCATE_VARIANTS];
    sqlite3_stmt *shared[KH_SQL_CACHE_MAX]; /* store/sql.h statements */
    struct sq_conn *next;                   /* idle list */
    int sync_normal;                        /* PRAGMA synchronous is NORMAL, not FULL */
} sq_conn;

/* A connection with the backend's pragmas (WAL, synchronous=FULL, no
 * automatic checkpoint), and its closing (accepts NULL). */
kh_err sq_conn_open(const char *path, sq_conn **out);
void sq_conn_close(sq_conn *c);
/* PRAGMA synchronous=NORMAL (a commit is written to the WAL, not synced:
 * it survives a crash of the process, not of the machine) or FULL on c;
 * nothing to do when c already has it. Outside a transaction only. The
 * group commit sets what each batch needs, so no other writer may assume
 * FULL: every write goes through it (migrations run before any batch). */
kh_err sq_set_sync(sq_conn *c, int normal);

/* The VFS every store connection opens with (sqlite_vfs.c: SQLite's
 * default one, with each commit's WAL frames written in one call);
 * NULL, and the default VFS, when it could not be registered. */
const char *sq_vfs_name(void);
/* Since start: WAL writes SQLite asked for, and writes made of them. */
void sq_vfs_stats(uint64_t *appends, uint64_t *flushes);

/* The background WAL checkpointer (sqlite_ckpt.c): one per store. */
typedef struct sq_ckpt sq_ckpt;
sq_ckpt *sq_ckpt_new(void);
/* Open its connection on path (already in WAL mode) and start its thread. */
kh_err sq_ckpt_start(sq_ckpt *k, const char *path);
/* Wake k from db's commits as the WAL grows (sqlite3_wal_hook). */
void sq_ckpt_watch(sq_ckpt *k, sqlite3 *db);
/* For the group-commit leader, after a commit on db: checkpoint the WAL's
 * remainder when k asked for it (sq_ckpt_wanted, one atomic load), so the
 * next write restarts the WAL. */
int sq_ckpt_wanted(sq_ckpt *k);
void sq_ckpt_after_commit(sq_ckpt *k, sqlite3 *db);
/* A commit just left its WAL frames unsynced (synchronous=NORMAL): k
 * fdatasyncs the WAL within 100 ms, unless a later sync already covers
 * it. One atomic load when a sync is already due. */
void sq_ckpt_unsynced_commit(sq_ckpt *k);
uint64_t sq_ckpt_syncs(sq_ckpt *k); /* how many such syncs so far */
/* Stop and join the thread, close its connection, free k; accepts NULL. */
void sq_ckpt_free(sq_ckpt **k);

/* Group commit: writes from many threads share one transaction and one
 * fsync. Each write runs in its own savepoint, so one write's failure does
 * not undo the others'; every caller returns only once its write is
 * durable (or failed). sqlite_commit.c. */
typedef kh_err (*sq_write_fn)(sq_conn *c, void *arg);
typedef struct sq_job sq_job;
typedef struct sq_group {
    pthread_mutex_t mu;
    sq_job *head;
    sq_job **tail;
    int leader;           /* a thread is committing a batch */
    int64_t last_sync_us; /* CLOCK_MONOTONIC of the last fsync'd commit */
    int sync_normal;      /* KH_DURABLE_PROCESS: every connection synchronous=NORMAL */
    /* Leads when jobs nobody waits for are left queued (sqlite_commit.c). */
    kh_committer committer;
} sq_group;

void sq_group_init(sq_group *g);
/* Stop the committer thread once the queue is empty; before closing. */
void sq_group_stop(sq_group *g);
/* The store's checkpointer (sqlite_ckpt.c). */
sq_ckpt *sq_ckpt_of(kh_store *s);
void sq_group_destroy(sq_group *g);
sq_group *sq_group_of(kh_store *s);
kh_err sq_group_write(kh_store *s, sq_write_fn fn, void *arg);
/* Append row to the audit chain in the next batch: the caller encodes the
 * row (off the lock); the leader numbers, hashes and inserts every audit
 * row of its batch after the batch's other writes, reading and moving the
 * chain head once. Sets row->id and row->hash on success. */
kh_err sq_group_audit(kh_store *s, kh_audit_row *row);
/* The same without waiting: done(arg, result) once committed or failed,
 * on the thread that committed it (store.h, kh_store_audit_append_async). */
void sq_group_audit_async(kh_store *s, kh_audit_row *row, kh_store_done_fn done, void *arg);
/* fn's write and, if it succeeds, row (may be NULL) chained in the same
 * transaction: both commit or neither (store.h, *_audited). */
kh_err sq_group_write_audited(kh_store *s, sq_write_fn fn, void *arg, kh_audit_row *row);

/* Borrow a connection (waits when all are busy); give it back with
 * sq_release, which also rolls back a transaction left open. */
kh_err sq_acquire(kh_store *s, sq_conn **out);
void sq_release(kh_store *s, sq_conn *c);

/* A cached statement, reset and unbound; NULL (logged) on failure. */
sqlite3_stmt *sq_stmt(sq_conn *c, sq_stmt_id id);
/* Cache sql as locate variant mask; NULL (logged) on failure. */
sqlite3_stmt *sq_locate_stmt(sq_conn *c, unsigned mask, const char *sql);
/* Reset st and drop its bindings (so no pointer to caller data lingers). */
void sq_done(sqlite3_stmt *st);

/* Map a SQLite result code to kh_err, logging what failed (never values).
 * Unique/primary-key constraint violations become KH_ERR_EXISTS. */
kh_err sq_fail(sq_conn *c, int rc, const char *what);

/* Run a cached statement that returns no rows. */
kh_err sq_exec(sq_conn *c, sqlite3_stmt *st, const char *what);
kh_err sq_begin(sq_conn *c, int immediate);
kh_err sq_commit(sq_conn *c);
void sq_rollback(sq_conn *c);

/* Bind a blob, or NULL when p is NULL. */
int sq_bind_blob(sqlite3_stmt *st, int i, const uint8_t *p, size_t len);
/* Copy column i as a malloc'd blob (NULL, 0 when the column is NULL). */
void sq_column_blob(sqlite3_stmt *st, int i, uint8_t **out, size_t *len);

kh_err sq_object_insert(kh_store *s, const kh_obj_row *row);
kh_err sq_object_insert_many(kh_store *s, const kh_obj_row *const *rows, size_t n);
kh_err sq_object_get(kh_store *s, const char *uid, kh_obj_row **out);
kh_err sq_object_update(kh_store *s, const kh_obj_row *row);
kh_err sq_object_insert_audited(kh_store *s, const kh_obj_row *const *rows, size_t n,
                                kh_audit_row *audit);
kh_err sq_object_update_audited(kh_store *s, const kh_obj_row *row, kh_audit_row *audit);
kh_err sq_object_locate(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n);

kh_err sq_audit_append(kh_store *s, kh_audit_row *row);
kh_err sq_audit_read(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows, size_t *n);
kh_err sq_audit_head(kh_store *s, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN]);
/* For the group commit's leader, inside its transaction (sqlite_audit.c). */
kh_err sq_audit_head_get(sq_conn *c, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN]);
kh_err sq_audit_insert(sq_conn *c, const kh_audit_row *r);
kh_err sq_audit_head_put(sq_conn *c, int64_t last_id, const uint8_t hash[KH_AUDIT_HASH_LEN]);
kh_err sq_grant_add(kh_store *s, const kh_grant_row *g);
kh_err sq_grant_remove(kh_store *s, const kh_grant_row *g);
kh_err sq_grant_list(kh_store *s, const char *owner, const char *object_uid, kh_grant_row **rows,
                     size_t *n);
kh_err sq_grant_perms(kh_store *s, const char *owner, const char *object_uid, const char *principal,
                      uint32_t *perms);
kh_err sq_kes_name_claim(kh_store *s, const char *owner, const char *name, const char *holder,
                         const char *expected);
kh_err sq_kes_name_claim_audited(kh_store *s, const char *owner, const char *name,
                                 const char *holder, const char *expected, kh_audit_row *audit);
kh_err sq_kes_name_get(kh_store *s, const char *owner, const char *name, char **holder);

#endif
