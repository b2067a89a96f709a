/*
 * workers.h - a bounded pool of worker threads.
 *
 * The I/O thread submits jobs; a fixed number of threads run them. The queue
 * has a hard bound: a submit that would exceed it fails with KH_ERR_BUSY
 * instead of growing, so overload is answered rather than absorbed. Jobs are
 * intrusive (a kh_work embedded in the caller's struct), so submitting never
 * allocates. The pool knows nothing of connections or protocols.
 */
#ifndef KH_NET_WORKERS_H
#define KH_NET_WORKERS_H

#include "common/err.h"

#include <stddef.h>

typedef struct kh_work {
    struct kh_work *next; /* owned by the pool while queued */
} kh_work;

/* Called on a worker thread to run a job, or by kh_workers_free (on the
 * calling thread) for a job that was queued but never ran. Either way the
 * callee owns the job from then on. */
typedef void (*kh_work_fn)(kh_work *w);

typedef struct kh_workers kh_workers;

/* Start n threads (n >= 1) with room for queue_max (>= 1) waiting jobs. */
kh_err kh_workers_new(unsigned n, size_t queue_max, kh_work_fn run, kh_work_fn drop,
                      kh_workers **out) KH_MUST_CHECK;
/* Queue w (the pool takes it) or return KH_ERR_BUSY (the caller keeps it). */
kh_err kh_workers_submit(kh_workers *p, kh_work *w) KH_MUST_CHECK;
/* Jobs waiting in the queue (not those running); for tests and metrics. */
size_t kh_workers_pending(kh_workers *p);
/* Let running jobs finish, join the threads, pass queued jobs to drop, free. */
void kh_workers_free(kh_workers **p);

#endif
