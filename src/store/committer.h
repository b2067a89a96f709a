/*
 * committer.h - the thread a store's batched writer hands work to when no
 * caller waits for it (sqlite_commit.c, postgres_audit.c).
 *
 * Each backend batches writes under a mutex of its own; rows nobody waits
 * for (kh_store_audit_append_async) need a thread to commit them. This is
 * that thread's bookkeeping, guarded by the owner's mutex: started on
 * first use, woken when wanted, stopped before the store closes. What it
 * runs is the owner's.
 */
#ifndef KH_STORE_COMMITTER_H
#define KH_STORE_COMMITTER_H

#include <pthread.h>

typedef struct kh_committer {
    pthread_t thread;
    pthread_cond_t cv;
    int started;
    int wanted;   /* work is queued for it */
    int stopping; /* the store is closing */
} kh_committer;

void kh_committer_init(kh_committer *c);
void kh_committer_destroy(kh_committer *c);
/* Owner's mutex held: start run(arg) unless running (aborts if the thread
 * cannot be created, as for want of memory: common/mem.h). */
void kh_committer_start_locked(kh_committer *c, void *(*run)(void *), void *arg);
/* Owner's mutex held: there is work for it. */
void kh_committer_want_locked(kh_committer *c);
/* Owner's mutex held, on the committer thread: wait until wanted (and
 * ready(arg), when given) or stopping with nothing wanted; returns 1 with
 * wanted cleared, or 0 when the thread should end. */
int kh_committer_wait_locked(kh_committer *c, pthread_mutex_t *mu, int (*ready)(void *), void *arg);
/* Stop and join the thread (takes mu itself); before the store closes. */
void kh_committer_stop(kh_committer *c, pthread_mutex_t *mu);

#endif
