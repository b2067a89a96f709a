/*
 * committer.c - see committer.h.
 */
#include "store/committer.h"

#include "common/log.h"

#include <stdlib.h>

void kh_committer_init(kh_committer *c)
{
    pthread_cond_init(&c->cv, NULL);
    c->started = c->wanted = c->stopping = 0;
}

void kh_committer_destroy(kh_committer *c)
{
    pthread_cond_destroy(&c->cv);
}

void kh_committer_start_locked(kh_committer *c, void *(*run)(void *), void *arg)
{
    if (c->started)
        return;
    if (pthread_create(&c->thread, NULL, run, arg) != 0) {
        kh_error("store: cannot start the committer thread");
        abort();
    }
    c->started = 1;
}

void kh_committer_want_locked(kh_committer *c)
{
    c->wanted = 1;
    pthread_cond_signal(&c->cv);
}

int kh_committer_wait_locked(kh_committer *c, pthread_mutex_t *mu, int (*ready)(void *), void *arg)
{
    while (!(c->wanted && (!ready || ready(arg))) && !(c->stopping && !c->wanted))
        pthread_cond_wait(&c->cv, mu);
    if (!c->wanted)
        return 0;
    c->wanted = 0;
    return 1;
}

void kh_committer_stop(kh_committer *c, pthread_mutex_t *mu)
{
    pthread_mutex_lock(mu);
    c->stopping = 1;
    pthread_cond_signal(&c->cv);
    int started = c->started;
    pthread_mutex_unlock(mu);
    if (started)
        pthread_join(c->thread, NULL);
}
