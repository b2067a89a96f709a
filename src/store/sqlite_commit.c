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
 */
#include "store/sqlite_internal.h"

struct sq_job {
    sq_write_fn fn;
    void *arg;
    kh_err err;
    int done;
    sq_job *next;
};

void sq_group_init(sq_group *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->head = NULL;
    g->tail = &g->head;
    g->leader = 0;
}

void sq_group_destroy(sq_group *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static kh_err savepoint(sq_conn *c, const char *sql)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? KH_OK : sq_fail(c, rc, "savepoint");
}

/* Run one job inside its savepoint; its failure leaves the batch intact. */
static void run_job(sq_conn *c, sq_job *j)
{
    j->err = savepoint(c, "SAVEPOINT job");
    if (j->err != KH_OK)
        return;
    j->err = j->fn(c, j->arg);
    if (j->err != KH_OK && savepoint(c, "ROLLBACK TO job") != KH_OK)
        j->err = KH_ERR_STORE;
    if (savepoint(c, "RELEASE job") != KH_OK && j->err == KH_OK)
        j->err = KH_ERR_STORE;
}

static void run_batch(kh_store *s, sq_job *batch)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err == KH_OK)
        err = sq_begin(c, 1);
    for (sq_job *j = batch; err == KH_OK && j; j = j->next)
        run_job(c, j);
    if (err == KH_OK)
        err = sq_commit(c);
    /* A failed BEGIN or COMMIT fails every job that had not failed alone. */
    for (sq_job *j = batch; err != KH_OK && j; j = j->next)
        if (j->err == KH_OK)
            j->err = err;
    if (c)
        sq_release(s, c); /* rolls back whatever is still open */
}

kh_err sq_group_write(kh_store *s, sq_write_fn fn, void *arg)
{
    sq_group *g = sq_group_of(s);
    sq_job job = {fn, arg, KH_OK, 0, NULL};
    pthread_mutex_lock(&g->mu);
    *g->tail = &job;
    g->tail = &job.next;
    while (!job.done) {
        if (g->leader) {
            pthread_cond_wait(&g->cv, &g->mu);
            continue;
        }
        g->leader = 1;
        sq_job *batch = g->head;
        g->head = NULL;
        g->tail = &g->head;
        pthread_mutex_unlock(&g->mu);
        run_batch(s, batch);
        pthread_mutex_lock(&g->mu);
        for (sq_job *j = batch; j;) {
            sq_job *next = j->next; /* j may be freed once done is seen */
            j->done = 1;
            j = next;
        }
        g->leader = 0;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return job.err;
}
