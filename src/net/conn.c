/*
 * conn.c - one TLS connection of a kh_server: framing, its state machine,
 * its deadlines, and the hand-off of each whole message to the worker pool
 * and of the reply back.
 *
 * A connection moves through
 *   HANDSHAKE -> READING -> BUSY (message in a worker) -> FLUSHING -> READING
 * and processes input only while READING, so each connection has at most
 * one message in flight, replies keep request order and no client can queue
 * unbounded work. Reading itself stays enabled throughout: switching EV_READ
 * off and on per message cost two epoll_ctl(2) per request. What a
 * pipelining client sends meanwhile waits in the input buffer, which the
 * read high-watermark bounds to one maximal message (libevent may overrun
 * it by one TLS record, 16 KiB). A peer that stops sending (EOF or error on
 * read) while its message is in a worker still gets that reply and those
 * of the whole messages it sent before, then the connection closes, as
 * when reading was paused.
 *
 * Workers never touch a connection: a job carries copies of what the
 * handler needs and comes back through the server's completion list
 * (server_internal.h). Connections are refcounted by the I/O thread only
 * (one reference while open, one per job), so a client that disconnects
 * while its message is in a worker leaves a closed husk that the completion
 * frees.
 *
 * Deadlines: read_timeout_s bounds the handshake and each message from its
 * first byte to its last, however slowly it trickles in; idle_timeout_s
 * bounds the wait between messages; nothing runs while BUSY. All of them
 * share one timer per connection, armed lazily: moving a deadline later
 * only writes c->deadline, and a timer that fires before the deadline
 * re-arms itself for the rest, so a busy connection costs no timer
 * operation per message. The bufferevent's write timeout (read_timeout_s)
 * bounds how long a reply may sit unread. 0 disables a timeout.
 *
 * What this file is not for: listeners and the server's life (server.c),
 * TLS policy and identity (tls.c), threads (workers.c), and anything about
 * the protocol, which the kh_proto_handler supplies.
 */
#include "net/conn.h"

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "net/server_internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef enum conn_state {
    C_HANDSHAKE,
    C_READING,
    C_BUSY,     /* message handed to a worker */
    C_FLUSHING, /* reply written, waiting for it to drain */
    C_CLOSING,  /* last reply written, close once drained */
} conn_state;

struct kh_conn {
    kh_conn *prev, *next;
    kh_conn_list *list;
    kh_server *srv;
    const kh_proto_handler *h;
    struct bufferevent *bev; /* NULL once closed */
    struct event *timer;     /* the one deadline timer */
    int64_t deadline_ms;     /* when this phase must end (monotonic), 0 = none */
    int64_t timer_ms;        /* when the timer fires, 0 = not armed */
    size_t need;             /* total length of the message being read, 0 = unknown yet */
    unsigned refs;           /* I/O thread only */
    unsigned char state;     /* conn_state */
    unsigned char in_msg;    /* READING: a message has started */
    unsigned char read_done; /* the peer will send nothing more */
    kh_peer peer;
};

typedef struct job {
    kh_task task; /* first */
    kh_conn *c;   /* only dereferenced on the I/O thread */
    const kh_proto_handler *h;
    kh_peer peer;
    kh_buf msg, reply;
    double t0; /* dispatched (kh_metrics_now) */
} job;

static void process_input(kh_conn *c);
static void job_run(kh_task *t);
static void job_complete(kh_task *t);

/* ---- deadlines -------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm_timer(kh_conn *c, int64_t at, int64_t now)
{
    int64_t ms = at > now ? at - now : 0;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    c->timer_ms = at;
}

/* The current phase must end within s seconds from now; 0 = no deadline. */
static void set_deadline(kh_conn *c, unsigned s)
{
    if (s == 0) {
        c->deadline_ms = 0; /* a pending timer finds nothing to do */
        return;
    }
    int64_t now = now_ms();
    c->deadline_ms = now + (int64_t)s * 1000;
    /* A timer due no later than the deadline re-arms itself when it fires. */
    if (c->timer_ms == 0 || c->timer_ms > c->deadline_ms)
        arm_timer(c, c->deadline_ms, now);
}

static const char *phase_name(const kh_conn *c)
{
    if (c->state == C_HANDSHAKE)
        return "TLS handshake";
    return c->in_msg ? "message" : "idle wait";
}

static void conn_close(kh_conn *c, int graceful);

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    kh_conn *c = arg;
    (void)fd;
    (void)what;
    c->timer_ms = 0;
    if (c->deadline_ms == 0)
        return;
    int64_t now = now_ms();
    if (now < c->deadline_ms) {
        arm_timer(c, c->deadline_ms, now);
        return;
    }
    const kh_server_config *cfg = kh_server_cfg(c->srv);
    kh_info("%s: %s not completed within %us, closing", c->peer.addr, phase_name(c),
            c->state == C_READING && !c->in_msg ? cfg->idle_timeout_s : cfg->read_timeout_s);
    conn_close(c, c->state != C_HANDSHAKE);
}

/* ---- closing and writing ---------------------------------------------- */

static void conn_unref(kh_conn *c)
{
    if (--c->refs == 0)
        free(c);
}

/* Close now. graceful sends close_notify first; only for a connection whose
 * TLS session is healthy and whose output has drained. */
static void conn_close(kh_conn *c, int graceful)
{
    if (!c->bev)
        return;
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
        c->list->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->list->n--;
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
static void write_take(kh_conn *c, kh_buf *reply)
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

/* An idle connection should hold no buffer. bufferevent_openssl reserves
 * input space (up to 16 KiB) before each SSL_read and keeps that empty
 * chain when the read finds nothing, which can happen right after the
 * handshake; draining a non-empty evbuffer to zero frees all its chains. */
static void release_input(kh_conn *c)
{
    static const char zero = 0;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (evbuffer_get_length(in) == 0 && evbuffer_add(in, &zero, 1) == 0)
        evbuffer_drain(in, 1);
}

/* Back to READING: take the next message if one is already buffered, at
 * once or (deferred) from the loop, which bounds the recursion when many
 * buffered messages are answered without a write. */
static void resume(kh_conn *c, int deferred)
{
    c->state = C_READING;
    set_deadline(c, kh_server_cfg(c->srv)->idle_timeout_s);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 && !c->read_done)
        return;
    if (deferred)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
    else
        process_input(c);
}

/* Read the next message once reply has been written; an empty reply means
 * there is nothing to wait for. */
static void reply_then_resume(kh_conn *c, kh_buf *reply)
{
    if (reply->len == 0) {
        resume(c, 1);
        return;
    }
    c->state = C_FLUSHING;
    write_take(c, reply);
}

static void reply_then_close(kh_conn *c, kh_buf *reply)
{
    bufferevent_disable(c->bev, EV_READ);
    set_deadline(c, 0); /* the write timeout bounds the flush */
    if (reply->len == 0) {
        conn_close(c, 1);
        return;
    }
    c->state = C_CLOSING;
    write_take(c, reply);
}

/* ---- reading and framing ---------------------------------------------- */

static void frame_error(kh_conn *c, kh_err err)
{
    kh_info("%s: bad frame (%s), closing", c->peer.addr, kh_err_name(err));
    kh_buf reply = {0};
    c->h->error(c->h->arg, err, &reply);
    reply_then_close(c, &reply);
}

static kh_err read_frame_len(kh_conn *c, struct evbuffer *in)
{
    const kh_proto_handler *h = c->h;
    size_t max = kh_server_cfg(c->srv)->max_message;
    uint8_t hdr[KH_NET_HEADER_MAX];
    size_t total = 0;
    if (evbuffer_copyout(in, hdr, h->header_len) != (ev_ssize_t)h->header_len)
        return KH_ERR_INTERNAL;
    kh_err err = h->frame_len(hdr, max, &total);
    kh_wipe(hdr, h->header_len);
    if (err != KH_OK)
        return err;
    /* Do not trust the handler with the one bound that protects memory. */
    if (total < h->header_len)
        return KH_ERR_DECODE;
    if (total > max)
        return KH_ERR_TOO_LARGE;
    c->need = total;
    return KH_OK;
}

/* Move the first n bytes of in into msg: one copy, and the plaintext left
 * in libevent's chains is wiped before they are released. */
static void take_message(struct evbuffer *in, size_t n, kh_buf *msg)
{
    int nvec = evbuffer_peek(in, (ev_ssize_t)n, NULL, NULL, 0);
    struct evbuffer_iovec one = {0}, *v = nvec > 1 ? kh_xcalloc((size_t)nvec, sizeof(*v)) : &one;
    nvec = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, nvec > 1 ? nvec : 1);
    kh_buf_reserve(msg, n);
    for (int i = 0; i < nvec && msg->len < n; i++) {
        size_t k = n - msg->len < v[i].iov_len ? n - msg->len : v[i].iov_len;
        kh_buf_append(msg, v[i].iov_base, k);
        kh_wipe(v[i].iov_base, k);
    }
    if (v != &one)
        free(v);
    evbuffer_drain(in, n);
}

static void answer_busy(kh_conn *c)
{
    kh_warn("%s: worker queue full, answering busy", c->peer.addr);
    kh_buf reply = {0};
    c->h->error(c->h->arg, KH_ERR_BUSY, &reply);
    reply_then_resume(c, &reply);
}

static void dispatch(kh_conn *c, struct evbuffer *in)
{
    job *j = kh_xcalloc(1, sizeof(*j));
    j->task.run = job_run;
    j->task.complete = job_complete;
    j->c = c;
    j->h = c->h;
    j->peer = c->peer;
    j->t0 = c->h->metrics_name ? kh_metrics_now() : 0;
    take_message(in, c->need, &j->msg);
    c->need = 0;
    c->in_msg = 0;
    c->state = C_BUSY;
    set_deadline(c, 0);
    c->refs++;
    if (kh_server_submit(c->srv, &j->task) == KH_OK)
        return;
    c->refs--;
    kh_buf_free(&j->msg);
    free(j);
    answer_busy(c);
}

static void process_input(kh_conn *c)
{
    if (!c->bev || c->state != C_READING)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t have = evbuffer_get_length(in);
    if (have > 0 && !c->in_msg) { /* a message has started: it must end in time */
        c->in_msg = 1;
        set_deadline(c, kh_server_cfg(c->srv)->read_timeout_s);
    }
    if (have > 0 && c->need == 0 && have >= c->h->header_len) {
        kh_err err = read_frame_len(c, in);
        if (err != KH_OK) {
            frame_error(c, err);
            return;
        }
    }
    if (c->need > 0 && have >= c->need) {
        dispatch(c, in);
        return;
    }
    if (c->read_done) /* what is left is a part of a message that will not come */
        conn_close(c, 1);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process_input(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    kh_conn *c = arg;
    (void)bev;
    if (c->state == C_CLOSING)
        conn_close(c, 1);
    else if (c->state == C_FLUSHING)
        resume(c, 0);
}

/* ---- connection events ------------------------------------------------ */

static void log_failure(kh_conn *c, short what)
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

static void on_connected(kh_conn *c)
{
    kh_err err = kh_tls_peer_principal(bufferevent_openssl_get_ssl(c->bev), c->peer.principal);
    if (err != KH_OK) {
        kh_warn("%s: unusable client certificate, closing", c->peer.addr);
        conn_close(c, 0);
        return;
    }
    kh_debug("%s: TLS established, principal \"%s\"", c->peer.addr, c->peer.principal);
    release_input(c);
    resume(c, 0);
}

/* The peer stopped sending while its message is in a worker or its reply
 * is being written: answer it and any whole message already buffered, then
 * close (what a client that half-closes after its last request expects).
 * In READING no whole message is buffered (read_cb runs before event_cb),
 * so the caller closes at once. */
static int read_ended_mid_message(kh_conn *c, short what)
{
    if (!(what & BEV_EVENT_READING) || (c->state != C_BUSY && c->state != C_FLUSHING))
        return 0;
    log_failure(c, what);
    c->read_done = 1;
    bufferevent_disable(c->bev, EV_READ);
    return 1;
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    kh_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        on_connected(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) { /* only the write timeout is set */
        kh_info("%s: %s within %us, closing", c->peer.addr,
                c->state == C_HANDSHAKE ? "TLS handshake not completed" : "reply not read",
                kh_server_cfg(c->srv)->read_timeout_s);
        conn_close(c, 0);
        return;
    }
    if (read_ended_mid_message(c, what))
        return;
    log_failure(c, what);
    conn_close(c, 0);
}

/* ---- worker hand-off -------------------------------------------------- */

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
    kh_conn *c = j->c;
    if (t->ran && j->h->metrics_name)
        kh_metrics_observe(j->h->metrics_name, kh_metrics_now() - j->t0);
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

/* ---- accepting -------------------------------------------------------- */

static kh_conn *conn_new(kh_server *s, kh_conn_list *list, const kh_proto_handler *h,
                         struct bufferevent *bev, const char *addr)
{
    kh_conn *c = kh_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->list = list;
    c->h = h;
    c->bev = bev;
    c->refs = 1;
    c->state = C_HANDSHAKE;
    snprintf(c->peer.addr, sizeof(c->peer.addr), "%s", addr);
    c->timer = evtimer_new(kh_server_base(s), deadline_cb, c);
    if (!c->timer)
        kh_oom();
    c->next = list->head;
    if (list->head)
        list->head->prev = c;
    list->head = c;
    list->n++;
    return c;
}

void kh_conn_accept(kh_server *s, kh_conn_list *list, kh_tls *tls, const kh_proto_handler *h,
                    int fd, const char *addr)
{
    const kh_server_config *cfg = kh_server_cfg(s);
    struct ssl_st *ssl = kh_tls_session_new(tls);
    if (!ssl) {
        evutil_closesocket(fd);
        return;
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(kh_server_base(s), fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev)
        kh_oom(); /* its only failure for a fresh socket and SSL */
    kh_conn *c = conn_new(s, list, h, bev, addr);
    struct timeval wt = {(time_t)cfg->read_timeout_s, 0};
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    /* Input stops growing once a whole maximal message is buffered. */
    bufferevent_setwatermark(bev, EV_READ, 0, cfg->max_message + h->header_len);
    bufferevent_set_timeouts(bev, NULL, cfg->read_timeout_s ? &wt : NULL);
    bufferevent_enable(bev, EV_READ);
    set_deadline(c, cfg->read_timeout_s); /* the handshake must finish in time too */
}

void kh_conn_close_all(kh_conn_list *list)
{
    for (kh_conn *c = list->head, *next; c; c = next) {
        next = c->next;
        conn_close(c, 0);
    }
}
