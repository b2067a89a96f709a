/*
 * workers.c - a bounded worker pool: one mutex, one condition variable, a
 * FIFO of intrusive jobs and a fixed set of threads.
 *
 * It is deliberately plain: jobs here are whole requests (store and crypto
 * work), so a single lock is nowhere near contention. A submit signals the
 * condition variable only when some thread is waiting on it: a busy worker
 * takes the next job without sleeping, so a burst costs one wake-up per
 * idle thread rather than one per job.
 * Not a general scheduler: no priorities, no per-job cancellation.
 */
#include "net/workers.h"

#include "common/log.h"
#include "common/mem.h"

#include <pthread.h>

struct kh_workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kh_work *head, *tail;
    size_t len, max;
    unsigned idle; /* threads waiting on cv */
    int stopping;
    kh_work_fn run, drop;
    pthread_t *threads;
    unsigned nthreads; /* threads actually started */
};

/* Next job, or NULL when the pool is stopping. Called with mu held. */
static kh_work *take_locked(kh_workers *p)
{
    while (!p->stopping && !p->head) {
        p->idle++;
        pthread_cond_wait(&p->cv, &p->mu);
        p->idle--;
    }
    if (p->stopping)
        return NULL;
    kh_work *w = p->head;
    p->head = w->next;
    if (!p->head)
        p->tail = NULL;
    p->len--;
    w->next = NULL;
    return w;
}

static void *worker_main(void *arg)
{
    kh_workers *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        kh_work *w = take_locked(p);
        if (!w)
            break;
        pthread_mutex_unlock(&p->mu);
        p->run(w);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

kh_err kh_workers_new(unsigned n, size_t queue_max, kh_work_fn run, kh_work_fn drop,
                      kh_workers **out)
{
    if (n == 0 || queue_max == 0 || !run || !drop || !out)
        return KH_ERR_INVALID_ARG;
    kh_workers *p = kh_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->max = queue_max;
    p->run = run;
    p->drop = drop;
    p->threads = kh_xcalloc(n, sizeof(*p->threads));
    for (; p->nthreads < n; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, worker_main, p) != 0) {
            kh_error("cannot start worker thread %u of %u", p->nthreads + 1, n);
            kh_workers_free(&p);
            return KH_ERR_INTERNAL;
        }
    }
    *out = p;
    return KH_OK;
}

kh_err kh_workers_submit(kh_workers *p, kh_work *w)
{
    kh_err err = KH_OK;
    int wake = 0;
    pthread_mutex_lock(&p->mu);
    if (p->stopping || p->len >= p->max) {
        err = KH_ERR_BUSY;
    } else {
        w->next = NULL;
        if (p->tail)
            p->tail->next = w;
        else
            p->head = w;
        p->tail = w;
        p->len++;
        /* Workers look at the queue before they wait, so a job nobody is
         * woken for is taken by the next one to finish. */
        wake = p->idle > 0;
    }
    pthread_mutex_unlock(&p->mu);
    /* After the unlock: a worker woken while we still held mu would only
     * wake to sleep on mu, and cost us a second futex call to let it in. */
    if (wake)
        pthread_cond_signal(&p->cv);
    return err;
}

size_t kh_workers_pending(kh_workers *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->len;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void kh_workers_free(kh_workers **pp)
{
    kh_workers *p = pp ? *pp : NULL;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* No thread is left, so the queue is ours without the lock. */
    while (p->head) {
        kh_work *w = p->head;
        p->head = w->next;
        w->next = NULL;
        p->drop(w);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
    *pp = NULL;
}
