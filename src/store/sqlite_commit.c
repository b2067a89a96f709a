/*
 * sqlite_commit.c - group commit for the SQLite backend.
 *
 * With synchronous=FULL every COMMIT costs an fsync, which caps durable
 * writes at the disk's flush rate. Here a writer queues its job; the first
 * writer that finds nobody committing becomes the leader, takes every job
 * queued so far, runs them in one IMMEDIATE transaction (a savepoint each,
 * so a failed job is rolled back alone), commits once, and wakes the
 * others with their own results. Writers that arrive meanwhile form the
 * next batch. No extra thread, and a lone writer pays no extra latency.
 *
 * Audit rows are a job kind of their own, because every operation appends
 * one and a savepoint, a head read and a head update per row cost more
 * than the row: the caller encodes its row before queueing, and the leader
 * chains all the batch's rows after its other jobs under one savepoint,
 * reading the chain head once, hashing each row (one SHA-256), inserting
 * it, and moving the head once.
 *
 * An object write may carry its operation's audit row (the *_audited
 * writes of store.h): the row is chained with the others if and only if
 * its write succeeded, so the object and its row commit together, under
 * one fsync, or neither does. Should the chaining itself fail, such a
 * batch is failed whole rather than let a write commit without its row.
 *
 * Rows marked sync_later (read-only operations, when configured) need not
 * wait for an fsync: a batch made only of them commits with
 * synchronous=NORMAL (the WAL frames are written, not synced; they survive
 * a crash of keyhold, not of the machine) unless the last fsync is older
 * than SYNC_LATER_MAX_US. The next durable commit's fsync of the WAL covers
 * them, because the WAL is one file written in order.
 *
 * Audit rows may also be queued without a waiter (sq_group_audit_async):
 * a worker hands its request's row over and goes on to the next request;
 * the leader that commits the row reports the result through a callback
 * (and the reply waits for that, common/defer.h). Such jobs are led by the
 * committer thread: queued with nobody committing, they wake it; a
 * waiting caller's leader commits one batch and, if more jobs are queued,
 * hands over to the oldest waiting caller, or, when only jobs nobody waits
 * for are left, to the committer thread, which leads until the queue is
 * empty. So one thread commits batch after batch while the workers answer
 * requests.
 */
#include "common/log.h"
#include "common/mem.h"
#include "store/audit_chain.h"
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SYNC_LATER_MAX_US 100000

struct sq_job {
    sq_write_fn fn; /* NULL for an audit row alone */
    void *arg;
    kh_audit_row *audit; /* the row to chain, NULL for a write alone */
    kh_buf prepared;     /* its encoding (kh_audit_chain_prepare) */
    kh_err err;
    int done;          /* committed (or failed) */
    int lead;          /* handed the leadership: run the queue */
    pthread_cond_t cv; /* this job's waiter, signalled alone */
    sq_job *next;
    /* Asynchronous: nobody waits on cv; the leader calls on_done and frees
     * the job. */
    kh_store_done_fn on_done;
    void *on_done_arg;
};

void sq_group_init(sq_group *g)
{
    pthread_mutex_init(&g->mu, NULL);
    kh_committer_init(&g->committer);
    g->head = NULL;
    g->tail = &g->head;
    g->leader = 0;
}

void sq_group_stop(sq_group *g)
{
    kh_committer_stop(&g->committer, &g->mu);
}

void sq_group_destroy(sq_group *g)
{
    kh_committer_destroy(&g->committer);
    pthread_mutex_destroy(&g->mu);
}

/* Savepoints are cached statements: parsing them per job cost more than
 * some of the jobs. (PRAGMA synchronous is not: SQLite re-prepares a
 * pragma statement on every run anyway.) */
static kh_err savepoint(sq_conn *c, sq_stmt_id id)
{
    return sq_exec(c, sq_stmt(c, id), "savepoint");
}

/* Run one job inside its savepoint; its failure leaves the batch intact. */
static void run_job(sq_conn *c, sq_job *j)
{
    j->err = savepoint(c, SQ_SAVEPOINT_JOB);
    if (j->err != KH_OK)
        return;
    j->err = j->fn(c, j->arg);
    if (j->err != KH_OK && savepoint(c, SQ_ROLLBACK_TO_JOB) != KH_OK)
        j->err = KH_ERR_STORE;
    if (savepoint(c, SQ_RELEASE_JOB) != KH_OK && j->err == KH_OK)
        j->err = KH_ERR_STORE;
}

/* A row to chain: alone, or with a write that succeeded. */
static int chained(const sq_job *j)
{
    return j->audit && (!j->fn || j->err == KH_OK);
}

/* Number, hash and insert the batch's audit rows, then move the head: all
 * or none of them (one savepoint). Returns an error when the transaction
 * can no longer be trusted, or when the rows failed and one of them belongs
 * to a write (which must not commit without it). */
static kh_err chain_audit(sq_conn *c, sq_job *batch)
{
    int with_write = 0;
    sq_job *first = NULL;
    for (sq_job *j = batch; j; j = j->next) {
        if (!chained(j))
            continue;
        first = first ? first : j;
        with_write |= j->fn != NULL;
    }
    if (!first)
        return KH_OK;
    uint8_t hash[KH_AUDIT_HASH_LEN];
    int64_t id = 0;
    kh_err err = savepoint(c, SQ_SAVEPOINT_AUDIT);
    if (err != KH_OK)
        return err;
    err = sq_audit_head_get(c, &id, hash);
    for (sq_job *j = first; err == KH_OK && j; j = j->next) {
        if (!chained(j))
            continue;
        j->audit->id = ++id;
        err = kh_audit_chain_seal(&j->prepared, hash, id, j->audit->hash);
        if (err == KH_OK)
            err = sq_audit_insert(c, j->audit);
        memcpy(hash, j->audit->hash, KH_AUDIT_HASH_LEN);
    }
    if (err == KH_OK)
        err = sq_audit_head_put(c, id, hash);
    for (sq_job *j = first; err != KH_OK && j; j = j->next)
        if (chained(j))
            j->err = err;
    if (err != KH_OK && savepoint(c, SQ_ROLLBACK_TO_AUDIT) != KH_OK)
        return KH_ERR_STORE;
    kh_err released = savepoint(c, SQ_RELEASE_AUDIT);
    return released != KH_OK ? released : with_write ? err : KH_OK;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* True when nothing in batch needs to be on disk before its caller goes on
 * and the last fsync is recent enough. */
static int may_skip_sync(const sq_group *g, const sq_job *batch)
{
    for (const sq_job *j = batch; j; j = j->next)
        if (j->fn || !j->audit->sync_later)
            return 0;
    return mono_us() - g->last_sync_us < SYNC_LATER_MAX_US;
}

/* The leader borrows from the pool like everyone else, not a connection of
 * its own: the pool is LIFO, so the connection it committed on, whose page
 * cache its own commit left valid, serves the next reads, while a writer
 * kept apart made every pooled reader's cache stale after each commit (a
 * WAL that changed under a connection drops its whole cache): Get cost 20%
 * more CPU that way and Create gained nothing measurable. Returns whether
 * the batch committed. */
static int run_batch(kh_store *s, sq_job *batch)
{
    sq_group *g = sq_group_of(s);
    /* with KH_DURABLE_PROCESS no commit waits for an fsync; else a batch
     * of read rows may skip it (lazy). The connection keeps the mode
     * until a batch needs the other (sq_set_sync): no pragma per batch. */
    int lazy = !g->sync_normal && may_skip_sync(g, batch);
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err == KH_OK)
        err = sq_set_sync(c, g->sync_normal || lazy);
    if (err == KH_OK)
        err = sq_begin(c, 1);
    for (sq_job *j = batch; err == KH_OK && j; j = j->next)
        if (j->fn)
            run_job(c, j);
    if (err == KH_OK)
        err = chain_audit(c, batch);
    if (err == KH_OK)
        err = sq_commit(c);
    if (err == KH_OK && !lazy)
        g->last_sync_us = mono_us();
    else if (err == KH_OK)
        sq_ckpt_unsynced_commit(sq_ckpt_of(s)); /* on disk within 100 ms, idle or not */
    /* A failed BEGIN or COMMIT fails every job that had not failed alone. */
    for (sq_job *j = batch; err != KH_OK && j; j = j->next)
        if (j->err == KH_OK)
            j->err = err;
    if (c)
        sq_release(s, c); /* rolls back whatever is still open */
    return err == KH_OK;
}

/* The checkpoint the checkpointer may ask for (sqlite_ckpt.c), while this
 * thread still leads, so that no other writer of this store appends to the
 * WAL meanwhile, but after the batch's other callers were released. */
static void after_batch(kh_store *s)
{
    sq_conn *c = NULL;
    if (sq_acquire(s, &c) != KH_OK)
        return;
    sq_ckpt_after_commit(sq_ckpt_of(s), c->db);
    sq_release(s, c);
}

/* Report and free the asynchronous jobs of a committed batch (without the
 * lock: a callback may queue again). */
static void report_async(sq_job *list)
{
    while (list) {
        sq_job *j = list;
        list = j->next;
        j->on_done(j->on_done_arg, j->err);
        kh_buf_free(&j->prepared);
        free(j);
    }
}

/* After a batch, with the lock held: who leads the jobs queued meanwhile.
 * Returns 1 when the caller (the committer) keeps the leadership. */
static int hand_over(sq_group *g, int committer)
{
    if (!g->head) {
        g->leader = 0;
        return 0;
    }
    if (committer)
        return 1;
    for (sq_job *j = g->head; j; j = j->next) {
        if (!j->on_done) { /* the oldest waiting caller takes the whole queue */
            j->lead = 1;
            pthread_cond_signal(&j->cv);
            return 0;
        }
    }
    kh_committer_want_locked(&g->committer);
    return 0;
}

/* Lead with g->mu held (and held again on return): commit the queue as one
 * batch, wake its waiting callers (but self), pass the leadership on;
 * the committer goes on while jobs keep coming. */
static void lead(kh_store *s, sq_group *g, const sq_job *self, int committer)
{
    int again = 1;
    while (again) {
        sq_job *batch = g->head;
        g->head = NULL;
        g->tail = &g->head;
        pthread_mutex_unlock(&g->mu);
        int committed = run_batch(s, batch);
        pthread_mutex_lock(&g->mu);
        sq_job *async = NULL, **async_tail = &async;
        for (sq_job *j = batch; j;) {
            sq_job *next = j->next; /* j may be gone once done is seen */
            if (j->on_done) {
                j->next = NULL;
                *async_tail = j;
                async_tail = &j->next;
            } else {
                j->done = 1;
                if (j != self)
                    pthread_cond_signal(&j->cv);
            }
            j = next;
        }
        pthread_mutex_unlock(&g->mu);
        report_async(async);
        if (committed && sq_ckpt_wanted(sq_ckpt_of(s)))
            after_batch(s); /* still leading: no other writer appends meanwhile */
        pthread_mutex_lock(&g->mu);
        again = hand_over(g, committer);
    }
}

static void *committer_main(void *arg)
{
    kh_store *s = arg;
    sq_group *g = sq_group_of(s);
    pthread_mutex_lock(&g->mu);
    while (kh_committer_wait_locked(&g->committer, &g->mu, NULL, NULL))
        lead(s, g, NULL, 1);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Append job to the queue (g->mu held); 1 when the caller must lead. */
static int enqueue(sq_group *g, sq_job *job)
{
    *g->tail = job;
    g->tail = &job->next;
    if (g->leader)
        return 0;
    g->leader = 1;
    return 1;
}

/* Queue job and return once a leader (perhaps this thread) committed it.
 * Each waiter sleeps on its own condition variable: a finished batch wakes
 * exactly its own jobs and hands the leadership to the oldest queued job,
 * instead of waking every waiter to let them find out who is next. */
static kh_err submit(kh_store *s, sq_job *job)
{
    sq_group *g = sq_group_of(s);
    pthread_cond_init(&job->cv, NULL);
    pthread_mutex_lock(&g->mu);
    job->lead = enqueue(g, job);
    while (!job->done) {
        if (!job->lead) {
            pthread_cond_wait(&job->cv, &g->mu);
            continue;
        }
        job->lead = 0;
        lead(s, g, job, 0);
    }
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&job->cv);
    return job->err;
}

void sq_group_audit_async(kh_store *s, kh_audit_row *row, kh_store_done_fn done, void *arg)
{
    sq_group *g = sq_group_of(s);
    sq_job *job = kh_xcalloc(1, sizeof(*job));
    job->audit = row;
    job->on_done = done;
    job->on_done_arg = arg;
    kh_audit_chain_prepare(row, &job->prepared);
    pthread_mutex_lock(&g->mu);
    kh_committer_start_locked(&g->committer, committer_main, s);
    /* Nobody committing: the committer thread does, not this worker, which
     * goes back to its requests (measured: no slower at one client, less
     * CPU per request from eight on). */
    if (enqueue(g, job))
        kh_committer_want_locked(&g->committer);
    pthread_mutex_unlock(&g->mu);
}

kh_err sq_group_write(kh_store *s, sq_write_fn fn, void *arg)
{
    sq_job job = {.fn = fn, .arg = arg};
    return submit(s, &job);
}

kh_err sq_group_write_audited(kh_store *s, sq_write_fn fn, void *arg, kh_audit_row *row)
{
    sq_job job = {.fn = fn, .arg = arg, .audit = row};
    if (row)
        kh_audit_chain_prepare(row, &job.prepared);
    kh_err err = submit(s, &job);
    kh_buf_free(&job.prepared);
    return err;
}

kh_err sq_group_audit(kh_store *s, kh_audit_row *row)
{
    return sq_group_write_audited(s, NULL, NULL, row);
}
