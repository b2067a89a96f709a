/*
 * server.c - listeners, connections, framing and the hand-off between the
 * I/O thread and the worker pool.
 *
 * One libevent loop runs every socket. A connection moves through
 *   HANDSHAKE -> READING -> BUSY (message in a worker) -> FLUSHING -> READING
 * and reads nothing while BUSY or FLUSHING, so each connection has at most
 * one message in flight, replies keep request order and no client can queue
 * unbounded work. Workers never touch a connection: a job carries copies of
 * what the handler needs and comes back through a mutex-protected completion
 * list that the loop drains (done_ev); https.c hands its requests over the
 * same way, as kh_tasks (server_internal.h). Connections are refcounted by the I/O
 * thread only (one reference while open, one per job), so a client that
 * disconnects while its message is in a worker leaves a closed husk that the
 * completion frees.
 *
 * What this file is not for: TLS policy and identity (tls.c), thread
 * management (workers.c), and anything about the protocol, which the
 * kh_proto_handler supplies.
 *
 * Timeouts: read_timeout_s bounds the handshake and each message from its
 * first byte to its last, however slowly it trickles in; idle_timeout_s is
 * the libevent read timeout between messages (paused while a message is in
 * a worker, since reading is disabled then); read_timeout_s also bounds how
 * long a reply may sit unread. 0 disables a timeout.
 */
#include "net/server.h"

#include "common/log.h"
#include "common/mem.h"
#include "net/server_internal.h"
#include "net/sockaddr.h"
#include "net/tls.h"
#include "net/workers.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEADER_MAX 64 /* largest header_len a handler may ask for */
#define ACCEPT_RETRY_S 1

typedef struct listener listener;
typedef struct conn conn;
typedef struct job job;

struct listener {
    listener *next;
    kh_server *srv;
    struct evconnlistener *evl;
    struct event *retry_ev; /* re-enables accept after e.g. EMFILE */
    kh_tls *tls;
    kh_proto_handler h;
};

typedef enum conn_state {
    C_HANDSHAKE,
    C_READING,
    C_BUSY,     /* message handed to a worker */
    C_FLUSHING, /* reply written, waiting for it to drain */
    C_CLOSING,  /* last reply written, close once drained */
} conn_state;

struct conn {
    conn *prev, *next;
    kh_server *srv;
    listener *lst;
    struct bufferevent *bev; /* NULL once closed */
    struct event *timer;     /* handshake / message deadline */
    conn_state state;
    unsigned refs; /* I/O thread only */
    size_t need;   /* total length of the message being read, 0 = unknown yet */
    kh_peer peer;
};

struct job {
    kh_task task; /* first */
    conn *c;      /* only dereferenced on the I/O thread */
    const kh_proto_handler *h;
    kh_peer peer;
    kh_buf msg, reply;
};

struct kh_server {
    kh_server_config cfg;
    struct event_base *base;
    int stop_pipe[2];
    struct event *stop_ev, *sigint_ev, *sigterm_ev, *done_ev;
    pthread_mutex_t done_mu;
    kh_task *done; /* completed tasks, guarded by done_mu */
    kh_workers *pool;
    listener *listeners;
    kh_https *https;
    conn *conns;
    unsigned nconns;
    int stopping;
};

static void process_input(conn *c);
static void job_run(kh_task *t);
static void job_complete(kh_task *t);

void kh_server_config_defaults(kh_server_config *c)
{
    c->workers = 4;
    c->queue_max = 1024;
    c->max_message = (size_t)1024 * 1024;
    c->read_timeout_s = 30;
    c->idle_timeout_s = 300;
    c->max_connections = 16384;
}

/* ---- connections ------------------------------------------------------ */

static const struct timeval *secs(unsigned s, struct timeval *tv)
{
    if (s == 0)
        return NULL;
    tv->tv_sec = (time_t)s;
    tv->tv_usec = 0;
    return tv;
}

static void arm_deadline(conn *c)
{
    struct timeval tv;
    if (c->srv->cfg.read_timeout_s && !evtimer_pending(c->timer, NULL))
        evtimer_add(c->timer, secs(c->srv->cfg.read_timeout_s, &tv));
}

static void conn_unref(conn *c)
{
    if (--c->refs == 0)
        free(c);
}

/* Close now. graceful sends close_notify first; only for a connection whose
 * TLS session is healthy and whose output has drained. */
static void conn_close(conn *c, int graceful)
{
    if (!c->bev)
        return;
    kh_server *s = c->srv;
    if (graceful && c->state != C_HANDSHAKE &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        kh_tls_close_notify(bufferevent_openssl_get_ssl(c->bev));
    bufferevent_free(c->bev);
    c->bev = NULL;
    event_free(c->timer);
    c->timer = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconns--;
    kh_debug("%s: closed", c->peer.addr);
    conn_unref(c);
}

static void wipe_reference(const void *data, size_t len, void *extra)
{
    (void)len;
    kh_wipe_free((void *)data, (size_t)(uintptr_t)extra);
}

/* Queue reply's bytes for writing without copying them; they are wiped
 * when libevent has handed them to OpenSSL. Takes reply's content. */
static void write_take(conn *c, kh_buf *reply)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_add_reference(out, reply->data, reply->len, wipe_reference,
                               (void *)(uintptr_t)reply->cap) == 0) {
        reply->data = NULL;
        reply->len = reply->cap = 0;
    } else if (bufferevent_write(c->bev, reply->data, reply->len) != 0) {
        kh_oom();
    }
    kh_buf_free(reply);
}

/* Read the next message once reply has been written; an empty reply means
 * there is nothing to wait for. */
static void reply_then_resume(conn *c, kh_buf *reply)
{
    if (reply->len == 0) {
        c->state = C_READING;
        bufferevent_enable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
        return;
    }
    c->state = C_FLUSHING;
    write_take(c, reply);
}

static void reply_then_close(conn *c, kh_buf *reply)
{
    bufferevent_disable(c->bev, EV_READ);
    if (reply->len == 0) {
        conn_close(c, 1);
        return;
    }
    c->state = C_CLOSING;
    write_take(c, reply);
}

static void frame_error(conn *c, kh_err err)
{
    kh_info("%s: bad frame (%s), closing", c->peer.addr, kh_err_name(err));
    evtimer_del(c->timer);
    kh_buf reply = {0};
    c->lst->h.error(c->lst->h.arg, err, &reply);
    reply_then_close(c, &reply);
}

static kh_err read_frame_len(conn *c, struct evbuffer *in)
{
    const kh_proto_handler *h = &c->lst->h;
    uint8_t hdr[HEADER_MAX];
    size_t total = 0;
    if (evbuffer_copyout(in, hdr, h->header_len) != (ev_ssize_t)h->header_len)
        return KH_ERR_INTERNAL;
    kh_err err = h->frame_len(hdr, c->srv->cfg.max_message, &total);
    kh_wipe(hdr, h->header_len);
    if (err != KH_OK)
        return err;
    /* Do not trust the handler with the one bound that protects memory. */
    if (total < h->header_len)
        return KH_ERR_DECODE;
    if (total > c->srv->cfg.max_message)
        return KH_ERR_TOO_LARGE;
    c->need = total;
    return KH_OK;
}

/* Move the first n bytes of in into msg: one copy, and the plaintext left
 * in libevent's chains is wiped before they are released. */
static void take_message(struct evbuffer *in, size_t n, kh_buf *msg)
{
    int nvec = evbuffer_peek(in, (ev_ssize_t)n, NULL, NULL, 0);
    struct evbuffer_iovec *v = kh_xcalloc((size_t)(nvec > 0 ? nvec : 1), sizeof(*v));
    nvec = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, nvec);
    kh_buf_reserve(msg, n);
    for (int i = 0; i < nvec && msg->len < n; i++) {
        size_t k = n - msg->len < v[i].iov_len ? n - msg->len : v[i].iov_len;
        kh_buf_append(msg, v[i].iov_base, k);
        kh_wipe(v[i].iov_base, k);
    }
    free(v);
    evbuffer_drain(in, n);
}

static void dispatch(conn *c, struct evbuffer *in)
{
    evtimer_del(c->timer);
    bufferevent_disable(c->bev, EV_READ);
    job *j = kh_xcalloc(1, sizeof(*j));
    j->task.run = job_run;
    j->task.complete = job_complete;
    j->c = c;
    j->h = &c->lst->h;
    j->peer = c->peer;
    take_message(in, c->need, &j->msg);
    c->need = 0;
    c->state = C_BUSY;
    c->refs++;
    if (kh_server_submit(c->srv, &j->task) == KH_OK)
        return;
    c->refs--;
    kh_buf_free(&j->msg);
    free(j);
    kh_warn("%s: worker queue full, answering busy", c->peer.addr);
    kh_buf reply = {0};
    c->lst->h.error(c->lst->h.arg, KH_ERR_BUSY, &reply);
    reply_then_resume(c, &reply);
}

static void process_input(conn *c)
{
    if (!c->bev || c->state != C_READING)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t have = evbuffer_get_length(in);
    if (have == 0)
        return;
    arm_deadline(c); /* a message has started */
    if (c->need == 0) {
        if (have < c->lst->h.header_len)
            return;
        kh_err err = read_frame_len(c, in);
        if (err != KH_OK) {
            frame_error(c, err);
            return;
        }
    }
    if (have >= c->need)
        dispatch(c, in);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process_input(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    (void)bev;
    if (c->state == C_CLOSING) {
        conn_close(c, 1);
    } else if (c->state == C_FLUSHING) {
        kh_buf none = {0};
        reply_then_resume(c, &none);
    }
}

static void log_failure(conn *c, short what)
{
    int sock_err = EVUTIL_SOCKET_ERROR();
    unsigned long code;
    int any = 0;
    while ((code = bufferevent_get_openssl_error(c->bev)) != 0) {
        kh_tls_log_error(c->peer.addr, code);
        any = 1;
    }
    kh_tls_drain_errors(c->peer.addr);
    if (c->state == C_HANDSHAKE && !any)
        kh_warn("%s: TLS handshake failed (%s)", c->peer.addr,
                (what & BEV_EVENT_EOF) || !sock_err ? "peer closed" : strerror(sock_err));
    else if (c->state != C_HANDSHAKE)
        kh_debug("%s: connection ended", c->peer.addr);
}

static void on_connected(conn *c)
{
    evtimer_del(c->timer);
    kh_err err = kh_tls_peer_principal(bufferevent_openssl_get_ssl(c->bev), c->peer.principal);
    if (err != KH_OK) {
        kh_warn("%s: unusable client certificate, closing", c->peer.addr);
        conn_close(c, 0);
        return;
    }
    kh_debug("%s: TLS established, principal \"%s\"", c->peer.addr, c->peer.principal);
    c->state = C_READING;
    process_input(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        on_connected(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        kh_info("%s: %s timeout, closing", c->peer.addr,
                (what & BEV_EVENT_READING) ? "idle" : "write");
        conn_close(c, (what & BEV_EVENT_READING) != 0);
        return;
    }
    log_failure(c, what);
    conn_close(c, 0);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    (void)fd;
    (void)what;
    kh_info("%s: %s not completed within %us, closing", c->peer.addr,
            c->state == C_HANDSHAKE ? "TLS handshake" : "message", c->srv->cfg.read_timeout_s);
    conn_close(c, c->state != C_HANDSHAKE);
}

static conn *conn_new(listener *l, struct bufferevent *bev, const char *addr)
{
    kh_server *s = l->srv;
    conn *c = kh_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->lst = l;
    c->bev = bev;
    c->refs = 1;
    c->state = C_HANDSHAKE;
    snprintf(c->peer.addr, sizeof(c->peer.addr), "%s", addr);
    c->timer = evtimer_new(s->base, deadline_cb, c);
    if (!c->timer)
        kh_oom();
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    return c;
}

static void setup_bev(conn *c)
{
    const kh_server_config *cfg = &c->srv->cfg;
    struct timeval idle, rt;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    /* Reading pauses once a whole maximal message is buffered. (libevent
     * may overrun this by at most one TLS record, 16 KiB.) */
    bufferevent_setwatermark(c->bev, EV_READ, 0, cfg->max_message + c->lst->h.header_len);
    bufferevent_set_timeouts(c->bev, secs(cfg->idle_timeout_s, &idle),
                             secs(cfg->read_timeout_s, &rt));
    bufferevent_enable(c->bev, EV_READ);
    arm_deadline(c); /* the handshake must finish in time too */
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
    if (s->nconns >= s->cfg.max_connections) {
        kh_warn("%s: refused, already %u connections (max_connections)", addr, s->nconns);
        evutil_closesocket(fd);
        return;
    }
    struct ssl_st *ssl = kh_tls_session_new(l->tls);
    if (!ssl) {
        evutil_closesocket(fd);
        return;
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev)
        kh_oom(); /* its only failure for a fresh socket and SSL */
    setup_bev(conn_new(l, bev, addr));
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

static void push_done(kh_task *t)
{
    kh_server *s = t->srv;
    pthread_mutex_lock(&s->done_mu);
    t->next_done = s->done;
    s->done = t;
    pthread_mutex_unlock(&s->done_mu);
    event_active(s->done_ev, EV_READ, 0);
}

static void task_run(kh_work *w)
{
    kh_task *t = (kh_task *)w;
    t->run(t);
    t->ran = 1;
    push_done(t);
}

static void task_drop(kh_work *w)
{
    push_done((kh_task *)w);
}

kh_err kh_server_submit(kh_server *s, kh_task *t)
{
    t->srv = s;
    t->ran = 0;
    return kh_workers_submit(s->pool, &t->work);
}

static void job_run(kh_task *t)
{
    job *j = (job *)t;
    j->h->handle(j->h->arg, &j->peer, j->msg.data, j->msg.len, &j->reply);
    kh_buf_free(&j->msg); /* wipe the request as soon as it is answered */
}

/* On the I/O thread: deliver a finished job's reply if its connection is
 * still open, then release both. */
static void job_complete(kh_task *t)
{
    job *j = (job *)t;
    conn *c = j->c;
    if (c->bev && t->ran) {
        if (j->reply.len == 0)
            reply_then_close(c, &j->reply);
        else
            reply_then_resume(c, &j->reply);
    }
    kh_buf_free(&j->msg);
    kh_buf_free(&j->reply);
    free(j);
    conn_unref(c);
}

static void drain_done(kh_server *s)
{
    pthread_mutex_lock(&s->done_mu);
    kh_task *t = s->done;
    s->done = NULL;
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
           h->header_len <= HEADER_MAX && h->header_len <= s->cfg.max_message;
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
    g->kmip_connections = s->nconns;
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
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c, 0);
    }
    /* Joining the pool finishes running jobs and drops queued ones; both end
     * on the completion list, whose connections are closed husks by now.
     * Workers read their listener's handler, so listeners go after this. */
    kh_workers_free(&s->pool);
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
    pthread_mutex_destroy(&s->done_mu);
    free(s);
    *sp = NULL;
}
