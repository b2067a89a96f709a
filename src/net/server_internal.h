/*
 * server_internal.h - what the listeners of net/ share inside kh_server:
 * its event base and limits, the worker pool behind a generic task, and the
 * list of HTTPS listeners. Not for use outside src/net/.
 *
 * A kh_task runs its run() on a worker thread, then its complete() on the
 * I/O thread through the server's completion list (the one mechanism by
 * which work gets back to the loop), once run() has returned and nothing
 * it deferred (common/defer.h) is pending. complete() is also called, with
 * ran == 0, for a task that was queued when the server shut down.
 */
#ifndef KH_NET_SERVER_INTERNAL_H
#define KH_NET_SERVER_INTERNAL_H

#include "common/defer.h"
#include "common/metrics.h"
#include "net/server.h"
#include "net/workers.h"

struct event_base;

typedef struct kh_task kh_task;
struct kh_task {
    kh_work work; /* first: the pool sees a kh_work */
    kh_task *next_done;
    kh_server *srv;
    void (*run)(kh_task *t);      /* on a worker thread */
    void (*complete)(kh_task *t); /* on the I/O thread; owns t from then on */
    int ran;
    kh_defer defer; /* run() may leave work pending (common/defer.h) */
};

typedef struct kh_https kh_https;

struct event_base *kh_server_base(kh_server *s);
const kh_server_config *kh_server_cfg(const kh_server *s);
/* Queue t (the pool takes it) or KH_ERR_BUSY (the caller keeps it). */
kh_err kh_server_submit(kh_server *s, kh_task *t) KH_MUST_CHECK;
/* True once kh_server_free has begun: completions must not reply. */
int kh_server_stopping(const kh_server *s);
/* Connections and queue depth now (I/O thread). */
void kh_server_gauges(kh_server *s, kh_metrics_gauges *g);
/* Head of the server's list of HTTPS listeners (linked by https.c). */
kh_https **kh_server_https_list(kh_server *s);

/* https.c, called by kh_server_free: stop and free every connection, then
 * (after libevent has run its finalizers) free the listener itself. */
void kh_https_shutdown(kh_https *h);
void kh_https_free(kh_https **h);
unsigned kh_https_connections(const kh_https *h);
kh_https *kh_https_next(const kh_https *h);

#endif
