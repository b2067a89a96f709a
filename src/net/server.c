/*
 * server.c - the server's life and its listeners: the event loop, stop and
 * signals, binding and accepting, and the completion list by which work
 * done on the worker pool gets back to the loop.
 *
 * One libevent loop runs every socket. An accepted KMIP connection is
 * served by conn.c; https.c serves HTTPS over the same loop and pool. Both
 * hand work to the pool as kh_tasks (server_internal.h): a task runs on a
 * worker, then is pushed onto the server's completion list, and the loop
 * runs its complete(). The loop is woken only when that list goes from
 * empty to not empty, so completions that finish close together cost one
 * wake-up and are drained in one batch.
 *
 * What this file is not for: one connection's framing, state and timeouts
 * (conn.c), TLS policy and identity (tls.c), thread management
 * (workers.c), and anything about the protocol, which the
 * kh_proto_handler supplies.
 */
#include "net/server.h"

#include "common/defer.h"
#include "common/log.h"
#include "common/mem.h"
#include "net/conn.h"
#include "net/server_internal.h"
#include "net/sockaddr.h"
#include "net/tls.h"
#include "net/workers.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_RETRY_S 1

typedef struct listener listener;

struct listener {
    listener *next;
    kh_server *srv;
    struct evconnlistener *evl;
    struct event *retry_ev; /* re-enables accept after e.g. EMFILE */
    kh_tls *tls;
    kh_proto_handler h;
};

struct kh_server {
    kh_server_config cfg;
    struct event_base *base;
    int stop_pipe[2];
    struct event *stop_ev, *sigint_ev, *sigterm_ev, *done_ev;
    pthread_mutex_t done_mu;
    pthread_cond_t settled_cv; /* in_flight reached 0 (for kh_server_free) */
    kh_task *done, *done_tail; /* completed tasks, oldest first, guarded by done_mu */
    unsigned in_flight;        /* submitted, not yet on the done list; done_mu */
    kh_workers *pool;
    listener *listeners;
    kh_https *https;
    kh_conn_list conns;
    int stopping;
};

void kh_server_config_defaults(kh_server_config *c)
{
    c->workers = 4;
    c->queue_max = 1024;
    c->max_message = (size_t)1024 * 1024;
    c->read_timeout_s = 30;
    c->idle_timeout_s = 300;
    c->max_connections = 16384;
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    listener *l = arg;
    kh_server *s = l->srv;
    char addr[64];
    (void)evl;
    (void)salen;
    kh_net_format_addr(sa, addr, sizeof(addr));
    if (s->conns.n >= s->cfg.max_connections) {
        kh_warn("%s: refused, already %u connections (max_connections)", addr, s->conns.n);
        evutil_closesocket(fd);
        return;
    }
    kh_conn_accept(s, &s->conns, l->tls, &l->h, fd, addr);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    listener *l = arg;
    struct timeval tv = {ACCEPT_RETRY_S, 0};
    kh_warn("accept: %s; pausing the listener for %ds", strerror(errno), ACCEPT_RETRY_S);
    evconnlistener_disable(evl);
    evtimer_add(l->retry_ev, &tv);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    listener *l = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(l->evl);
}

/* ---- worker hand-off -------------------------------------------------- */

/* The loop is woken only by the push that finds the list empty: until it
 * has taken the list, later pushes ride on that wake-up. */
static void push_done(kh_task *t)
{
    kh_server *s = t->srv;
    t->next_done = NULL;
    pthread_mutex_lock(&s->done_mu);
    int wake = s->done == NULL;
    if (s->done_tail)
        s->done_tail->next_done = t;
    else
        s->done = t;
    s->done_tail = t;
    if (--s->in_flight == 0)
        pthread_cond_signal(&s->settled_cv);
    pthread_mutex_unlock(&s->done_mu);
    if (wake)
        event_active(s->done_ev, EV_READ, 0);
}

static void task_fire(kh_defer *d)
{
    push_done((kh_task *)((char *)d - offsetof(kh_task, defer)));
}

/* The task is done when run() has returned and whatever it left pending
 * (common/defer.h: its audit rows' commit) has finished: only then does
 * its reply go out, and the worker is free meanwhile. */
static void task_run(kh_work *w)
{
    kh_task *t = (kh_task *)w;
    kh_defer_begin(&t->defer, task_fire);
    t->run(t);
    t->ran = 1;
    kh_defer_end(&t->defer);
}

static void task_drop(kh_work *w)
{
    push_done((kh_task *)w);
}

kh_err kh_server_submit(kh_server *s, kh_task *t)
{
    t->srv = s;
    t->ran = 0;
    pthread_mutex_lock(&s->done_mu);
    s->in_flight++;
    pthread_mutex_unlock(&s->done_mu);
    kh_err err = kh_workers_submit(s->pool, &t->work);
    if (err != KH_OK) {
        pthread_mutex_lock(&s->done_mu);
        if (--s->in_flight == 0)
            pthread_cond_signal(&s->settled_cv);
        pthread_mutex_unlock(&s->done_mu);
    }
    return err;
}

/* Wait until every submitted task is on the done list: tasks whose run()
 * returned may still wait for a commit on another thread. */
static void wait_settled(kh_server *s)
{
    pthread_mutex_lock(&s->done_mu);
    while (s->in_flight > 0)
        pthread_cond_wait(&s->settled_cv, &s->done_mu);
    pthread_mutex_unlock(&s->done_mu);
}

static void drain_done(kh_server *s)
{
    pthread_mutex_lock(&s->done_mu);
    kh_task *t = s->done;
    s->done = s->done_tail = NULL;
    pthread_mutex_unlock(&s->done_mu);
    while (t) {
        kh_task *next = t->next_done;
        t->complete(t);
        t = next;
    }
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_done(arg);
}

/* ---- server ----------------------------------------------------------- */

static void free_event(struct event **ev)
{
    if (*ev)
        event_free(*ev);
    *ev = NULL;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    kh_server *s = arg;
    char b[64];
    (void)what;
    while (read(fd, b, sizeof(b)) > 0)
        ;
    kh_info("stop requested");
    event_base_loopbreak(s->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    kh_server *s = arg;
    (void)what;
    kh_info("signal %d, stopping", (int)sig);
    event_base_loopbreak(s->base);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;

static void global_init(void)
{
    /* A peer that resets while we write must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit (ulimit -f) the database reaches must fail that
     * commit with EFBIG, as a full disk fails it, not kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    global_ok = evthread_use_pthreads() == 0;
}

static int config_ok(const kh_server_config *c)
{
    return c->workers > 0 && c->queue_max > 0 && c->max_message > 0 && c->max_connections > 0 &&
           c->max_message <= SIZE_MAX / 2;
}

static kh_err make_events(kh_server *s)
{
    if (pipe2(s->stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return KH_ERR_IO;
    s->stop_ev = event_new(s->base, s->stop_pipe[0], EV_READ | EV_PERSIST, stop_cb, s);
    s->sigint_ev = evsignal_new(s->base, SIGINT, signal_cb, s);
    s->sigterm_ev = evsignal_new(s->base, SIGTERM, signal_cb, s);
    s->done_ev = event_new(s->base, -1, 0, done_cb, s);
    if (!s->stop_ev || !s->sigint_ev || !s->sigterm_ev || !s->done_ev)
        kh_oom();
    if (event_add(s->stop_ev, NULL) != 0 || evsignal_add(s->sigint_ev, NULL) != 0 ||
        evsignal_add(s->sigterm_ev, NULL) != 0)
        return KH_ERR_INTERNAL;
    return KH_OK;
}

kh_err kh_server_new(const kh_server_config *cfg, kh_server **out)
{
    if (!cfg || !out || !config_ok(cfg))
        return KH_ERR_INVALID_ARG;
    pthread_once(&global_once, global_init);
    if (!global_ok)
        return KH_ERR_INTERNAL;
    kh_server *s = kh_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    pthread_mutex_init(&s->done_mu, NULL);
    pthread_cond_init(&s->settled_cv, NULL);
    kh_err err = KH_ERR_INTERNAL;
    if (!(s->base = event_base_new()) || (err = make_events(s)) != KH_OK ||
        (err = kh_workers_new(cfg->workers, cfg->queue_max, task_run, task_drop, &s->pool)) !=
            KH_OK) {
        kh_error("cannot set up the server (%s)", kh_err_name(err));
        kh_server_free(&s);
        return err;
    }
    *out = s;
    return KH_OK;
}

static kh_err bind_listener(listener *l, const char *host, int port, int *bound_port)
{
    struct addrinfo hints = {0}, *res = NULL;
    char service[8];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        kh_error("cannot resolve %s: %s", host ? host : "*", gai_strerror(rc));
        return KH_ERR_CONFIG;
    }
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    for (struct addrinfo *ai = res; ai && !l->evl; ai = ai->ai_next)
        l->evl = evconnlistener_new_bind(l->srv->base, accept_cb, l, flags, -1, ai->ai_addr,
                                         (int)ai->ai_addrlen);
    freeaddrinfo(res);
    if (!l->evl) {
        kh_error("cannot listen on %s:%d: %s", host ? host : "*", port, strerror(errno));
        return KH_ERR_IO;
    }
    evconnlistener_set_error_cb(l->evl, accept_error_cb);
    int bound = kh_net_local_port(evconnlistener_get_fd(l->evl));
    if (bound < 0)
        return KH_ERR_IO;
    if (bound_port)
        *bound_port = bound;
    return KH_OK;
}

static void listener_free(listener *l)
{
    if (l->evl)
        evconnlistener_free(l->evl);
    free_event(&l->retry_ev);
    kh_tls_free(&l->tls);
    free(l);
}

static int handler_ok(const kh_server *s, const kh_proto_handler *h)
{
    return h->frame_len && h->handle && h->error && h->header_len > 0 &&
           h->header_len <= KH_NET_HEADER_MAX && h->header_len <= s->cfg.max_message;
}

kh_err kh_server_listen_tls(kh_server *s, const char *host, int port, const kh_tls_config *tls,
                            const kh_proto_handler *h, int *bound_port)
{
    if (!s || !tls || !h || !handler_ok(s, h) || port < 0 || port > 65535)
        return KH_ERR_INVALID_ARG;
    listener *l = kh_xcalloc(1, sizeof(*l));
    l->srv = s;
    l->h = *h;
    l->retry_ev = evtimer_new(s->base, accept_retry_cb, l);
    if (!l->retry_ev)
        kh_oom();
    kh_err err = kh_tls_new(tls, &l->tls);
    if (err == KH_OK)
        err = bind_listener(l, host, port, bound_port);
    if (err != KH_OK) {
        listener_free(l);
        return err;
    }
    l->next = s->listeners;
    s->listeners = l;
    return KH_OK;
}

struct event_base *kh_server_base(kh_server *s)
{
    return s->base;
}

const kh_server_config *kh_server_cfg(const kh_server *s)
{
    return &s->cfg;
}

int kh_server_stopping(const kh_server *s)
{
    return s->stopping;
}

kh_https **kh_server_https_list(kh_server *s)
{
    return &s->https;
}

void kh_server_gauges(kh_server *s, kh_metrics_gauges *g)
{
    g->kmip_connections = s->conns.n;
    g->https_connections = 0;
    for (const kh_https *h = s->https; h; h = kh_https_next(h))
        g->https_connections += kh_https_connections(h);
    g->queue_depth = s->pool ? kh_workers_pending(s->pool) : 0;
}

kh_err kh_server_run(kh_server *s)
{
    if (!s)
        return KH_ERR_INVALID_ARG;
    return event_base_dispatch(s->base) < 0 ? KH_ERR_IO : KH_OK;
}

void kh_server_stop(kh_server *s)
{
    /* write(2) is async-signal-safe; a full pipe already holds a request. */
    int saved = errno;
    if (s && s->stop_pipe[1] >= 0) {
        ssize_t r = write(s->stop_pipe[1], "", 1);
        (void)r;
    }
    errno = saved;
}

/* A bufferevent freed while one of its deferred callbacks is pending stays
 * referenced by that callback, and event_base_free cancels such callbacks
 * without releasing them: run the loop until they and the finalizers they
 * schedule have run. (The callbacks themselves were cleared by
 * bufferevent_free, so none of ours is called.) */
static void flush_libevent(kh_server *s)
{
    for (int i = 0; i < 16 && event_base_get_num_events(s->base, EVENT_BASE_COUNT_ACTIVE) > 0; i++)
        event_base_loop(s->base, EVLOOP_NONBLOCK);
}

void kh_server_free(kh_server **sp)
{
    kh_server *s = sp ? *sp : NULL;
    if (!s)
        return;
    s->stopping = 1;
    for (listener *l = s->listeners; l; l = l->next) {
        if (l->evl)
            evconnlistener_free(l->evl);
        l->evl = NULL;
        free_event(&l->retry_ev);
    }
    kh_conn_close_all(&s->conns);
    /* Joining the pool finishes running jobs and drops queued ones; both end
     * on the completion list, whose connections are closed husks by now.
     * Workers read their listener's handler, so listeners go after this. */
    kh_workers_free(&s->pool);
    wait_settled(s);
    drain_done(s);
    /* HTTPS connections go only now: a request a worker was answering
     * belongs to its evhttp connection until the task completes. */
    for (kh_https *h = s->https; h; h = kh_https_next(h))
        kh_https_shutdown(h);
    flush_libevent(s);
    while (s->listeners) {
        listener *next = s->listeners->next;
        listener_free(s->listeners);
        s->listeners = next;
    }
    free_event(&s->stop_ev);
    free_event(&s->sigint_ev);
    free_event(&s->sigterm_ev);
    free_event(&s->done_ev);
    for (int i = 0; i < 2; i++)
        if (s->stop_pipe[i] >= 0)
            close(s->stop_pipe[i]);
    if (s->base)
        event_base_free(s->base);
    /* After the base: its last finalizers may still free HTTPS sessions,
     * whose watchers update their listener. */
    while (s->https) {
        kh_https *next = kh_https_next(s->https);
        kh_https_free(&s->https);
        s->https = next;
    }
    pthread_cond_destroy(&s->settled_cv);
    pthread_mutex_destroy(&s->done_mu);
    free(s);
    *sp = NULL;
}
