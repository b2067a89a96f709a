/*
 * postgres_audit.c - PostgreSQL backend: the audit log and grants.
 *
 * Several nodes append to one chain. An append is one transaction that
 * locks the chain head (SELECT ... FOR UPDATE on the single audit_head row),
 * so a second node's append waits until the first has committed and then
 * reads the new head: the chain stays a single line whatever the
 * concurrency, and ids stay contiguous. Within one process, the rows of
 * concurrent callers share that transaction (a batch, as SQLite's group
 * commit does): one lock, one head update and one commit for all of them.
 * An object write that carries its operation's row (store.h, *_audited)
 * is a job of that batch too, run in its own savepoint before the head is
 * locked, its row chained only if it succeeded: the write and its row
 * commit together, and concurrent writes still share one commit instead
 * of queueing one by one on the head's lock through their commits. (A
 * write waiting for another node's row lock holds up its batch.) Rows
 * nobody waits for (pg_audit_append_async: a request's reply waits, not
 * its worker) are appended by a committer thread, batch after batch. The
 * canonical encoding is in audit_chain.c.
 */
#include "common/mem.h"
#include "store/audit_chain.h"
#include "store/postgres_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- audit ------------------------------------------------------------ */

static kh_err head_of(pg_conn *c, pg_stmt_id id, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN])
{
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    kh_err err = pg_exec(c, id, &p, &res);
    if (err != KH_OK)
        return err;
    if (PQntuples(res) != 1 || PQgetlength(res, 0, 1) != KH_AUDIT_HASH_LEN) {
        err = KH_ERR_STORE;
    } else {
        *last_id = pg_get_int(res, 0, 0);
        memcpy(hash, PQgetvalue(res, 0, 1), KH_AUDIT_HASH_LEN);
    }
    pg_clear(res);
    return err;
}

struct pg_audit_job {
    pg_fn write; /* the write the row goes with (store.h, *_audited), or NULL */
    void *arg;
    kh_audit_row *row;
    kh_buf prepared; /* kh_audit_chain_prepare, done before queueing */
    kh_err err;      /* the write's own result, then the job's */
    int done;
    pg_audit_job *next;
    kh_store_done_fn on_done; /* asynchronous: reported, then freed */
    void *on_done_arg;
};

void pg_audit_group_init(pg_audit_group *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    kh_committer_init(&g->committer);
    g->head = NULL;
    g->tail = &g->head;
    g->leader = 0;
}

void pg_audit_group_stop(pg_audit_group *g)
{
    kh_committer_stop(&g->committer, &g->mu);
}

void pg_audit_group_destroy(pg_audit_group *g)
{
    kh_committer_destroy(&g->committer);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void row_params(pg_params *p, const kh_audit_row *r)
{
    pg_param_int(p, r->id);
    pg_param_int(p, r->time_us);
    pg_param_text(p, r->principal);
    pg_param_text(p, r->client_addr);
    pg_param_text(p, r->operation);
    pg_param_text(p, r->object_uid);
    pg_param_text(p, r->result);
    pg_param_blob(p, r->hash, KH_AUDIT_HASH_LEN);
}

/* Insert a (and b, when not NULL); with move_head, also move the head to
 * the last of them, in the same statement. A row alone is always the
 * batch's last (chain_rows), so it always moves the head. */
static kh_err insert_rows(pg_conn *c, const kh_audit_row *a, const kh_audit_row *b, int move_head)
{
    pg_stmt_id stmt = !b          ? PG_AUDIT_INSERT_HEAD
                      : move_head ? PG_AUDIT_INSERT2_HEAD
                                  : PG_AUDIT_INSERT2;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    row_params(&p, a);
    if (b)
        row_params(&p, b);
    kh_err err = pg_exec(c, stmt, &p, &res);
    pg_clear(res);
    /* The ids come from the head we hold locked: a clash means the chain
     * is off. */
    return err == KH_ERR_EXISTS ? KH_ERR_INTERNAL : err;
}

/* Number and hash job's row after (*last, prev), which it moves on. */
static kh_err seal(pg_audit_job *j, int64_t *last, uint8_t prev[KH_AUDIT_HASH_LEN])
{
    j->row->id = ++*last;
    kh_err err = kh_audit_chain_seal(&j->prepared, prev, *last, j->row->hash);
    memcpy(prev, j->row->hash, KH_AUDIT_HASH_LEN);
    return err;
}

/* The first job from j on whose row is to be chained (its write, if any,
 * succeeded). */
static pg_audit_job *next_row(pg_audit_job *j)
{
    while (j && j->err != KH_OK)
        j = j->next;
    return j;
}

/* Chain and insert the rows of jobs after (last, prev), two to a
 * statement, the last statement moving the head. No row: the head stays. */
static kh_err chain_rows(pg_conn *c, pg_audit_job *jobs, int64_t last,
                         uint8_t prev[KH_AUDIT_HASH_LEN])
{
    kh_err err = KH_OK;
    pg_audit_job *a = next_row(jobs);
    while (err == KH_OK && a) {
        pg_audit_job *b = next_row(a->next);
        pg_audit_job *after = b ? next_row(b->next) : NULL;
        err = seal(a, &last, prev);
        if (err == KH_OK && b)
            err = seal(b, &last, prev);
        if (err == KH_OK)
            err = insert_rows(c, a->row, b ? b->row : NULL, after == NULL);
        a = after;
    }
    return err;
}

/* A job's write inside its savepoint: its failure undoes it alone and
 * leaves the batch's transaction usable. Returns an error only when the
 * transaction itself is gone. */
static kh_err run_write(pg_conn *c, pg_audit_job *j)
{
    kh_err err = pg_simple(c, "SAVEPOINT kh_job", "savepoint");
    if (err != KH_OK)
        return err;
    j->err = j->write(c, j->arg);
    if (j->err != KH_OK &&
        (err = pg_simple(c, "ROLLBACK TO SAVEPOINT kh_job", "savepoint")) != KH_OK)
        return err;
    return pg_simple(c, "RELEASE SAVEPOINT kh_job", "savepoint");
}

/* One transaction for a whole batch: the writes that carry a row (each in
 * its savepoint), then lock the head, chain and insert the row of each
 * write that succeeded and of each row alone, move the head, commit. The
 * head is locked last, as by every transaction that takes it, so nothing
 * waits for an object's row lock while holding it. Run again as a whole
 * by pg_run on a fresh connection if BEGIN found the connection lost. */
static kh_err append_batch_on(pg_conn *c, void *ctx)
{
    uint8_t prev[KH_AUDIT_HASH_LEN];
    int64_t last = 0;
    int lazy = 1;
    for (pg_audit_job *j = ctx; j; j = j->next) {
        lazy &= !j->write && j->row->sync_later;
        j->err = KH_OK;
    }
    /* Only read-only rows: the commit need not wait for the server's WAL
     * flush (it follows within 3 x wal_writer_delay, and the rows survive
     * a crash of keyhold, not of the PostgreSQL server). One round trip
     * either way. */
    kh_err err =
        lazy ? pg_simple(c, "BEGIN; SET LOCAL synchronous_commit TO OFF", "begin") : pg_begin(c);
    for (pg_audit_job *j = ctx; err == KH_OK && j; j = j->next)
        if (j->write)
            err = run_write(c, j);
    if (err == KH_OK)
        err = head_of(c, PG_AUDIT_HEAD_LOCK, &last, prev);
    if (err == KH_OK)
        err = chain_rows(c, ctx, last, prev);
    return err == KH_OK ? pg_commit(c) : err;
}

/* Append the queue as one batch, g->mu held on entry and on return, the
 * caller having set g->leader. Waiting callers are woken; the asynchronous
 * jobs are reported (without the lock) and freed. */
static void append_queue(kh_store *s, pg_audit_group *g)
{
    pg_audit_job *batch = g->head;
    g->head = NULL;
    g->tail = &g->head;
    pthread_mutex_unlock(&g->mu);
    kh_err err = pg_run(s, append_batch_on, batch, 0);
    pthread_mutex_lock(&g->mu);
    pg_audit_job *async = NULL, **async_tail = &async;
    for (pg_audit_job *j = batch; j;) {
        pg_audit_job *next = j->next; /* j may be gone once done is seen */
        if (err != KH_OK)             /* nothing committed */
            j->err = err;
        if (j->on_done) {
            j->next = NULL;
            *async_tail = j;
            async_tail = &j->next;
        } else {
            j->done = 1;
        }
        j = next;
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    while (async) {
        pg_audit_job *j = async;
        async = j->next;
        j->on_done(j->on_done_arg, j->err);
        kh_buf_free(&j->prepared);
        free(j);
    }
    pthread_mutex_lock(&g->mu);
}

/* A leader is done (g->mu held): waiting callers may lead next; jobs
 * queued meanwhile that nobody waits for go to the committer, which also
 * hears of it when it was waiting for this leader. */
static void leader_done(pg_audit_group *g)
{
    g->leader = 0;
    pthread_cond_broadcast(&g->cv);
    int orphans = g->head != NULL;
    for (pg_audit_job *j = g->head; j && orphans; j = j->next)
        orphans = j->on_done != NULL;   /* else its caller leads */
    if (orphans || g->committer.wanted) /* the latter: it waited for us */
        kh_committer_want_locked(&g->committer);
}

kh_err pg_audit_submit(kh_store *s, pg_fn write, void *arg, kh_audit_row *row)
{
    pg_audit_group *g = pg_audit_group_of(s);
    pg_audit_job job = {.write = write, .arg = arg, .row = row};
    kh_audit_chain_prepare(row, &job.prepared);
    pthread_mutex_lock(&g->mu);
    *g->tail = &job;
    g->tail = &job.next;
    while (!job.done) {
        if (g->leader) {
            pthread_cond_wait(&g->cv, &g->mu);
            continue;
        }
        g->leader = 1;
        append_queue(s, g);
        leader_done(g);
    }
    pthread_mutex_unlock(&g->mu);
    kh_buf_free(&job.prepared);
    return job.err;
}

static int no_leader(void *arg)
{
    return !((pg_audit_group *)arg)->leader;
}

static void *committer_main(void *arg)
{
    kh_store *s = arg;
    pg_audit_group *g = pg_audit_group_of(s);
    pthread_mutex_lock(&g->mu);
    /* a leader at work signals when it is done (leader_done) */
    while (kh_committer_wait_locked(&g->committer, &g->mu, no_leader, g)) {
        g->leader = 1;
        while (g->head)
            append_queue(s, g);
        g->leader = 0;
        pthread_cond_broadcast(&g->cv); /* callers queued meanwhile may lead */
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

void pg_audit_append_async(kh_store *s, kh_audit_row *row, kh_store_done_fn done, void *arg)
{
    pg_audit_group *g = pg_audit_group_of(s);
    pg_audit_job *job = kh_xcalloc(1, sizeof(*job));
    job->row = row;
    job->on_done = done;
    job->on_done_arg = arg;
    kh_audit_chain_prepare(row, &job->prepared);
    pthread_mutex_lock(&g->mu);
    kh_committer_start_locked(&g->committer, committer_main, s);
    *g->tail = job;
    g->tail = &job->next;
    if (!g->leader) /* else the leader's batch ends by handing it on */
        kh_committer_want_locked(&g->committer);
    pthread_mutex_unlock(&g->mu);
}

kh_err pg_audit_append(kh_store *s, kh_audit_row *row)
{
    return pg_audit_submit(s, NULL, NULL, row);
}

struct read_ctx {
    int64_t after_id;
    size_t max;
    kh_audit_row **rows;
    size_t *n;
};

static kh_err read_on(pg_conn *c, void *ctx)
{
    struct read_ctx *x = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_int(&p, x->after_id);
    pg_param_int(&p, (int64_t)x->max);
    kh_err err = pg_exec(c, PG_AUDIT_READ, &p, &res);
    if (err != KH_OK)
        return err;
    size_t count = (size_t)PQntuples(res);
    kh_audit_row *list = kh_xcalloc(count ? count : 1, sizeof(*list));
    for (size_t i = 0; i < count; i++) {
        kh_audit_row *r = &list[i];
        int row = (int)i;
        r->id = pg_get_int(res, row, 0);
        r->time_us = pg_get_int(res, row, 1);
        r->principal = pg_get_text(res, row, 2);
        r->client_addr = pg_get_text(res, row, 3);
        r->operation = pg_get_text(res, row, 4);
        r->object_uid = pg_get_text(res, row, 5);
        r->result = pg_get_text(res, row, 6);
        int hl = PQgetlength(res, row, 7);
        memcpy(r->hash, PQgetvalue(res, row, 7),
               hl < KH_AUDIT_HASH_LEN ? (size_t)hl : KH_AUDIT_HASH_LEN);
    }
    pg_clear(res);
    *x->rows = list;
    *x->n = count;
    return KH_OK;
}

kh_err pg_audit_read(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows, size_t *n)
{
    struct read_ctx x = {after_id, max, rows, n};
    return pg_run(s, read_on, &x, 1);
}

struct head_ctx {
    int64_t *last_id;
    uint8_t *hash;
};

static kh_err head_on(pg_conn *c, void *ctx)
{
    struct head_ctx *x = ctx;
    return head_of(c, PG_AUDIT_HEAD, x->last_id, x->hash);
}

kh_err pg_audit_head(kh_store *s, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN])
{
    struct head_ctx x = {last_id, hash};
    return pg_run(s, head_on, &x, 1);
}

/* ---- grants ----------------------------------------------------------- */

static void grant_key(pg_params *p, const kh_grant_row *g)
{
    pg_params_init(p);
    pg_param_text(p, g->owner);
    pg_param_text(p, g->object_uid);
    pg_param_text(p, g->grantee);
}

static kh_err grant_add_on(pg_conn *c, void *ctx)
{
    const kh_grant_row *g = ctx;
    pg_params p;
    PGresult *res = NULL;
    grant_key(&p, g);
    pg_param_int(&p, (int64_t)g->permissions);
    pg_param_int(&p, (int64_t)time(NULL));
    kh_err err = pg_begin(c);
    if (err == KH_OK)
        err = pg_exec(c, PG_GRANT_ADD, &p, &res);
    pg_clear(res);
    return err == KH_OK ? pg_commit(c) : err;
}

kh_err pg_grant_add(kh_store *s, const kh_grant_row *g)
{
    return pg_run(s, grant_add_on, (void *)g, 0);
}

static kh_err grant_remove_on(pg_conn *c, void *ctx)
{
    const kh_grant_row *g = ctx;
    pg_params p;
    PGresult *res = NULL;
    grant_key(&p, g);
    pg_param_int(&p, (int64_t)g->permissions);
    kh_err err = pg_begin(c);
    if (err == KH_OK)
        err = pg_exec(c, PG_GRANT_SUB, &p, &res);
    if (err != KH_OK)
        return err;
    int changed = strcmp(PQcmdTuples(res), "0") != 0;
    pg_clear(res);
    res = NULL;
    if (!changed)
        return KH_ERR_NOT_FOUND;
    grant_key(&p, g);
    err = pg_exec(c, PG_GRANT_PRUNE, &p, &res);
    pg_clear(res);
    return err == KH_OK ? pg_commit(c) : err;
}

kh_err pg_grant_remove(kh_store *s, const kh_grant_row *g)
{
    return pg_run(s, grant_remove_on, (void *)g, 0);
}

struct list_ctx {
    const char *owner;
    const char *object_uid;
    kh_grant_row **rows;
    size_t *n;
};

static kh_err list_on(pg_conn *c, void *ctx)
{
    struct list_ctx *x = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, x->owner);
    pg_param_text(&p, x->object_uid);
    kh_err err = pg_exec(c, PG_GRANT_LIST, &p, &res);
    if (err != KH_OK)
        return err;
    size_t count = (size_t)PQntuples(res);
    kh_grant_row *list = kh_xcalloc(count ? count : 1, sizeof(*list));
    for (size_t i = 0; i < count; i++) {
        list[i].owner = pg_get_text(res, (int)i, 0);
        list[i].object_uid = pg_get_text(res, (int)i, 1);
        list[i].grantee = pg_get_text(res, (int)i, 2);
        list[i].permissions = (uint32_t)pg_get_int(res, (int)i, 3);
    }
    pg_clear(res);
    *x->rows = list;
    *x->n = count;
    return KH_OK;
}

kh_err pg_grant_list(kh_store *s, const char *owner, const char *object_uid, kh_grant_row **rows,
                     size_t *n)
{
    struct list_ctx x = {owner, object_uid, rows, n};
    return pg_run(s, list_on, &x, 1);
}

struct perms_ctx {
    const char *owner;
    const char *object_uid;
    const char *principal;
    uint32_t *perms;
};

static kh_err perms_on(pg_conn *c, void *ctx)
{
    struct perms_ctx *x = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, x->owner);
    pg_param_text(&p, x->object_uid);
    pg_param_text(&p, x->principal);
    kh_err err = pg_exec(c, PG_GRANT_PERMS, &p, &res);
    if (err != KH_OK)
        return err;
    uint32_t all = 0;
    for (int i = 0; i < PQntuples(res); i++)
        all |= (uint32_t)pg_get_int(res, i, 0);
    pg_clear(res);
    *x->perms = all;
    return KH_OK;
}

kh_err pg_grant_perms(kh_store *s, const char *owner, const char *object_uid, const char *principal,
                      uint32_t *perms)
{
    struct perms_ctx x = {owner, object_uid, principal, perms};
    return pg_run(s, perms_on, &x, 1);
}
