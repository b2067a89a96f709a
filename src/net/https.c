/*
 * https.c - the HTTPS listener: evhttp over bufferevent_openssl, requests
 * handed to the worker pool as kh_tasks, replies sent back on the I/O
 * thread.
 *
 * evhttp owns its connections; we see one only when its bufferevent is made
 * (bev_cb) and when its SSL is freed (tls.c's watched sessions), which is
 * enough to count connections and to keep a per-connection deadline: evhttp
 * 2.1's own timeout restarts with every byte, so a client trickling a
 * header a byte at a time would hold its connection forever. Our deadline
 * starts with the connection (handshake and first request) or with the
 * first byte of a later request, stops when the request is complete, and on
 * expiry shuts the socket down so that evhttp sees an EOF and frees the
 * connection the normal way.
 *
 * A request taken by a worker stays owned by evhttp; evhttp does not read
 * from the connection until we answer, and if the connection fails anyway
 * it detaches the request, which evhttp_send_reply then frees. At shutdown
 * the workers are joined before evhttp_free, and completions then free only
 * our own state.
 *
 * What this file is not for: routes and payloads (the kh_http_handler),
 * TLS policy (tls.c), threads (workers.c).
 */
#include "net/http.h"

#include "common/log.h"
#include "common/mem.h"
#include "net/http_stream.h"
#include "net/server_internal.h"
#include "net/sockaddr.h"
#include "net/tls.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct kh_https {
    kh_https *next;
    kh_server *srv;
    struct evhttp *http;
    kh_tls *tls;
    kh_http_handler h;
    unsigned nconns;
    kh_http_streams *streams; /* open-ended replies (http_stream.h) */
    int kes;                  /* KES listener: certificates only, no challenge */
};

/* One connection, from bev_cb until its SSL is freed (refs: one while
 * open, one per request in flight). I/O thread only. */
typedef struct hconn {
    kh_https *lst;
    struct bufferevent *bev; /* NULL once freed */
    struct event *deadline;
    struct evbuffer_cb_entry *in_cb;
    int busy; /* a request is with us (or, streaming, for good) */
    unsigned refs;
    kh_http_sub *sub; /* the stream this connection receives, if any */
    /* The client certificate's principal, worked out at the first request
     * (renegotiation is off: tls.c, so the peer cannot change after). */
    int principal_known;
    kh_err principal_err;
    char principal[KH_PRINCIPAL_MAX];
} hconn;

typedef struct hreq {
    kh_task task; /* first */
    kh_https *lst;
    hconn *hc;
    struct evhttp_request *req;
    kh_http_request in;
    kh_http_reply out;
    double t0;
} hreq;

/* ---- connections ------------------------------------------------------ */

static void hconn_unref(hconn *hc)
{
    if (--hc->refs == 0)
        free(hc);
}

static void arm_deadline(hconn *hc, unsigned s)
{
    struct timeval tv = {(time_t)s, 0};
    if (hc->bev && (s == 0 || !evtimer_pending(hc->deadline, NULL)))
        evtimer_add(hc->deadline, &tv);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    hconn *hc = arg;
    (void)fd;
    (void)what;
    if (!hc->bev || hc->busy)
        return;
    kh_info("https: request not received within %us, closing the connection",
            kh_server_cfg(hc->lst->srv)->read_timeout_s);
    /* evhttp reads an EOF next and frees the connection itself. */
    evutil_socket_t sock = bufferevent_getfd(hc->bev);
    if (sock >= 0)
        shutdown(sock, SHUT_RDWR);
}

/* Bytes of a request arrived: it must now complete in time. */
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    hconn *hc = arg;
    (void)buf;
    if (info->n_added > 0 && !hc->busy)
        arm_deadline(hc, kh_server_cfg(hc->lst->srv)->read_timeout_s);
}

/* The connection's SSL is being freed with its bufferevent (tls.c). The
 * bufferevent and its input buffer are still valid here. */
static void on_ssl_free(void *arg)
{
    hconn *hc = arg;
    if (hc->sub)
        kh_http_streams_remove(hc->lst->streams, hc->sub);
    hc->sub = NULL;
    if (hc->bev && hc->in_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(hc->bev), hc->in_cb);
    hc->bev = NULL;
    event_free(hc->deadline);
    hc->deadline = NULL;
    hc->lst->nconns--;
    hconn_unref(hc);
}

/* evhttp asks for the bufferevent of a new connection (the fd is set
 * afterwards). Never return NULL: evhttp would fall back to plain HTTP. */
static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
    kh_https *l = arg;
    const kh_server_config *cfg = kh_server_cfg(l->srv);
    hconn *hc = kh_xcalloc(1, sizeof(*hc));
    hc->lst = l;
    hc->refs = 1;
    struct ssl_st *ssl = kh_tls_session_new_watched(l->tls, on_ssl_free, hc);
    if (!ssl)
        kh_oom(); /* SSL_new fails only for want of memory */
    hc->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    hc->deadline = evtimer_new(base, deadline_cb, hc);
    if (!hc->bev || !hc->deadline)
        kh_oom();
    hc->in_cb = evbuffer_add_cb(bufferevent_get_input(hc->bev), input_cb, hc);
    if (!hc->in_cb)
        kh_oom();
    l->nconns++;
    kh_metrics_gauges g;
    kh_server_gauges(l->srv, &g);
    if (g.kmip_connections + g.https_connections > cfg->max_connections) {
        kh_warn("https: refused a connection, already %u (max_connections)",
                g.kmip_connections + g.https_connections - 1);
        arm_deadline(hc, 0);
    } else {
        arm_deadline(hc, cfg->read_timeout_s); /* handshake and first request */
    }
    return hc->bev;
}

/* ---- requests --------------------------------------------------------- */

static kh_http_method method_of(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return KH_HTTP_GET;
    case EVHTTP_REQ_HEAD:
        return KH_HTTP_HEAD;
    case EVHTTP_REQ_POST:
        return KH_HTTP_POST;
    case EVHTTP_REQ_PUT:
        return KH_HTTP_PUT;
    case EVHTTP_REQ_DELETE:
        return KH_HTTP_DELETE;
    case EVHTTP_REQ_PATCH:
        return KH_HTTP_PATCH;
    case EVHTTP_REQ_OPTIONS:
        return KH_HTTP_OPTIONS;
    default:
        return KH_HTTP_OTHER;
    }
}

static void copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = 0; /* too long to be anything we serve */
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/* Every X-Forwarded-For line, in order, as one comma list (RFC 9110
 * section 5.3): a proxy may append its own line after the client's
 * (HAProxy's forwardfor), and the first line alone is the client's word.
 * "" when the whole is too long, as copy_bounded. */
static void forwarded_for(struct evkeyvalq *headers, char *dst, size_t cap)
{
    size_t n = 0;
    dst[0] = '\0';
    /* keyvalq_struct.h's TAILQ fields, without sys/queue.h's macros */
    for (struct evkeyval *h = headers->tqh_first; h; h = h->next.tqe_next) {
        if (evutil_ascii_strcasecmp(h->key, "X-Forwarded-For") != 0)
            continue;
        size_t len = strlen(h->value);
        if (n + (n ? 1 : 0) + len >= cap) {
            dst[0] = '\0';
            return;
        }
        if (n)
            dst[n++] = ',';
        memcpy(dst + n, h->value, len);
        n += len;
        dst[n] = '\0';
    }
}

/* Move the request body into out, wiping libevent's copy (it may carry
 * key material). evhttp has already bounded it by max_message. */
static void take_body(struct evbuffer *in, kh_buf *out)
{
    size_t n = evbuffer_get_length(in);
    int nvec = evbuffer_peek(in, -1, NULL, NULL, 0);
    if (n == 0 || nvec <= 0)
        return;
    struct evbuffer_iovec *v = kh_xcalloc((size_t)nvec, sizeof(*v));
    nvec = evbuffer_peek(in, -1, NULL, v, nvec);
    kh_buf_reserve(out, n);
    for (int i = 0; i < nvec; i++) {
        kh_buf_append(out, v[i].iov_base, v[i].iov_len);
        kh_wipe(v[i].iov_base, v[i].iov_len);
    }
    free(v);
    evbuffer_drain(in, n);
}

static void peer_of(struct evhttp_connection *evcon, kh_peer *peer)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &addr, &port);
    if (addr && strchr(addr, ':'))
        snprintf(peer->addr, sizeof(peer->addr), "[%s]:%u", addr, (unsigned)port);
    else
        snprintf(peer->addr, sizeof(peer->addr), "%s:%u", addr ? addr : "?", (unsigned)port);
}

static void hreq_free(hreq *r)
{
    kh_wipe(r->in.authorization, sizeof(r->in.authorization));
    kh_buf_free(&r->in.body);
    kh_buf_free(&r->out.body);
    hconn_unref(r->hc);
    free(r);
}

static void wipe_reference(const void *data, size_t len, void *extra)
{
    (void)len;
    kh_wipe_free((void *)data, (size_t)(uintptr_t)extra);
}

/* evhttp is freeing a streaming connection (before its requests and its
 * bufferevent). A request it has detached, because the client went away
 * mid-stream, waits for its owner to end it, which frees it; one still
 * attached (the server is stopping) is freed by evhttp right after. */
static void stream_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    hconn *hc = arg;
    (void)evcon;
    if (!hc->sub)
        return;
    struct evhttp_request *req = kh_http_sub_request(hc->sub);
    kh_http_streams_remove(hc->lst->streams, hc->sub);
    hc->sub = NULL;
    if (req && !evhttp_request_get_connection(req))
        evhttp_send_reply_end(req);
}

/* An open-ended reply: headers now, lines as they are published. The
 * request stays evhttp's; the connection reads nothing more. */
static void start_stream(hreq *r)
{
    hconn *hc = r->hc;
    evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), stream_closed_cb, hc);
    evhttp_send_reply_start(r->req, 200, NULL);
    if (r->out.body.len) {
        struct evbuffer *b = evbuffer_new();
        if (!b || evbuffer_add(b, r->out.body.data, r->out.body.len) != 0)
            kh_oom();
        evhttp_send_reply_chunk(r->req, b);
        evbuffer_free(b);
    }
    if (hc->bev && !hc->sub)
        (void)kh_http_streams_add(r->lst->streams, r->req, r->out.stream, &hc->sub);
    r->req = NULL;
}

/* evhttp leaves a reply in the connection's output as two pieces, the
 * headers it printed and our body, and bufferevent_openssl makes one
 * SSL_write, so one TLS record and, with TCP_NODELAY, one segment, of each
 * piece. Made one piece here (before the loop writes anything), a reply
 * costs one record, one write(2) and one segment. The copy is wiped once
 * written, as the body is; the body's own buffer is wiped as it leaves. */
#define COALESCE_MAX 16384 /* one TLS record's worth */

static void coalesce(struct evbuffer *out)
{
    size_t n = evbuffer_get_length(out);
    if (n == 0 || n > COALESCE_MAX || evbuffer_peek(out, -1, NULL, NULL, 0) < 2)
        return;
    uint8_t *p = kh_xmalloc(n);
    if (evbuffer_copyout(out, p, n) != (ev_ssize_t)n ||
        evbuffer_add_reference(out, p, n, wipe_reference, (void *)(uintptr_t)n) != 0) {
        kh_wipe_free(p, n);
        return;
    }
    evbuffer_drain(out, n);
}

static void send_reply(hreq *r)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(r->req);
    kh_http_reply *o = &r->out;
    int status = o->status ? o->status : 500;
    evhttp_add_header(oh, "Content-Type", o->content_type ? o->content_type : "application/json");
    evhttp_add_header(oh, "Cache-Control", "no-store");
    if (o->allow)
        evhttp_add_header(oh, "Allow", o->allow);
    /* RFC 9110 section 15.5.2: a 401 names how to authenticate. The KES
     * listener takes certificates only, where no scheme applies. */
    if (status == 401 && !r->lst->kes)
        evhttp_add_header(oh, "WWW-Authenticate", "Bearer realm=\"keyhold\"");
    if (o->stream && status == 200) {
        start_stream(r);
        return;
    }
    if (o->accept)
        evhttp_add_header(oh, "Accept", o->accept);
    struct evbuffer *b = evbuffer_new();
    if (!b)
        kh_oom();
    /* The body goes out without a copy and is wiped once written. */
    if (o->body.len && evbuffer_add_reference(b, o->body.data, o->body.len, wipe_reference,
                                              (void *)(uintptr_t)o->body.cap) == 0)
        o->body = (kh_buf){0};
    else if (o->body.len && evbuffer_add(b, o->body.data, o->body.len) != 0)
        kh_oom();
    /* The connection's output, when it holds nothing yet: evhttp then
     * puts exactly this reply there (its write waits for the loop). */
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct evbuffer *out = bev ? bufferevent_get_output(bev) : NULL;
    if (out && evbuffer_get_length(out) != 0)
        out = NULL;
    evhttp_send_reply(r->req, status, NULL, b);
    evbuffer_free(b);
    r->req = NULL;
    if (out)
        coalesce(out);
}

/* I/O thread: answer, count, and let the connection read its next request
 * under a fresh deadline. */
static void finish(hreq *r)
{
    hconn *hc = r->hc;
    send_reply(r);
    kh_metrics_count("http", r->out.label ? r->out.label : "unknown", r->out.result);
    kh_metrics_observe("http", kh_metrics_now() - r->t0);
    if (hc->sub) { /* streaming: no further request on this connection */
        hreq_free(r);
        return;
    }
    hc->busy = 0;
    if (hc->bev && evbuffer_get_length(bufferevent_get_input(hc->bev)) > 0)
        arm_deadline(hc, kh_server_cfg(hc->lst->srv)->read_timeout_s);
    hreq_free(r);
}

static void hreq_run(kh_task *t)
{
    hreq *r = (hreq *)t;
    r->lst->h.handle(r->lst->h.arg, &r->in, &r->out);
    kh_buf_free(&r->in.body); /* wipe the request as soon as it is answered */
    kh_wipe(r->in.authorization, sizeof(r->in.authorization));
}

static void hreq_complete(kh_task *t)
{
    hreq *r = (hreq *)t;
    if (!t->ran || kh_server_stopping(t->srv)) {
        hreq_free(r); /* evhttp_free releases the request itself */
        return;
    }
    finish(r);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    kh_https *l = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    struct ssl_st *ssl = bufferevent_openssl_get_ssl(bev);
    hconn *hc = ssl ? kh_tls_session_watch_arg(ssl) : NULL;
    if (!hc) { /* cannot happen: every connection comes from bev_cb */
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evtimer_del(hc->deadline);
    hc->busy = 1;
    hc->refs++;
    hreq *r = kh_xcalloc(1, sizeof(*r));
    r->lst = l;
    r->hc = hc;
    r->req = req;
    r->t0 = kh_metrics_now();
    r->in.method = method_of(evhttp_request_get_command(req));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    copy_bounded(r->in.path, sizeof(r->in.path), uri ? evhttp_uri_get_path(uri) : NULL);
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    copy_bounded(r->in.content_type, sizeof(r->in.content_type),
                 evhttp_find_header(ih, "Content-Type"));
    const char *authz = evhttp_find_header(ih, "Authorization");
    copy_bounded(r->in.authorization, sizeof(r->in.authorization), authz);
    r->in.authorization_oversized = authz && strlen(authz) >= sizeof(r->in.authorization);
    if (authz) /* a bearer token or API key: wipe libevent's copy now */
        kh_wipe((char *)authz, strlen(authz));
    forwarded_for(ih, r->in.forwarded_for, sizeof(r->in.forwarded_for));
    copy_bounded(r->in.forwarded_proto, sizeof(r->in.forwarded_proto),
                 evhttp_find_header(ih, "X-Forwarded-Proto"));
    take_body(evhttp_request_get_input_buffer(req), &r->in.body);
    peer_of(evcon, &r->in.peer);
    kh_server_gauges(l->srv, &r->in.gauges);
    if (!hc->principal_known) {
        hc->principal_err = kh_tls_peer_principal(ssl, hc->principal);
        hc->principal_known = 1;
    }
    memcpy(r->in.peer.principal, hc->principal, sizeof(r->in.peer.principal));
    if (hc->principal_err != KH_OK) {
        kh_warn("https %s: unusable client certificate", r->in.peer.addr);
        l->h.error(l->h.arg, KH_ERR_AUTH, &r->out);
        finish(r);
        return;
    }
    if (l->h.route(l->h.arg, &r->in, &r->out)) {
        finish(r);
        return;
    }
    r->task.run = hreq_run;
    r->task.complete = hreq_complete;
    if (kh_server_submit(l->srv, &r->task) == KH_OK)
        return;
    kh_warn("https %s: worker queue full, answering busy", r->in.peer.addr);
    kh_buf_free(&r->out.body);
    l->h.error(l->h.arg, KH_ERR_BUSY, &r->out);
    finish(r);
}

/* ---- listener --------------------------------------------------------- */

static void configure(kh_https *l)
{
    const kh_server_config *cfg = kh_server_cfg(l->srv);
    evhttp_set_bevcb(l->http, bev_cb, l);
    evhttp_set_gencb(l->http, request_cb, l);
    evhttp_set_max_body_size(l->http, (ev_ssize_t)cfg->max_message);
    evhttp_set_max_headers_size(l->http, KH_HTTP_MAX_HEADERS);
    /* evhttp's timeout is a per-read/write inactivity timeout: it closes
     * idle keep-alive connections and stalled writes; deadline_cb bounds
     * slow requests. */
    evhttp_set_timeout(l->http, (int)(cfg->idle_timeout_s ? cfg->idle_timeout_s : 300));
    /* Every method reaches the handler, so that it answers 405 in JSON. */
    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    /* Read (and discard) an oversized body before answering 413, so that a
     * client still sending sees the answer rather than a reset. */
    evhttp_set_flags(l->http, EVHTTP_SERVER_LINGERING_CLOSE);
}

static kh_err listen_https(kh_server *s, const char *host, int port, const kh_tls_config *tls,
                           int kes, int verify_chain, const kh_http_handler *h, int *bound_port)
{
    if (!s || !tls || !h || !h->route || !h->handle || !h->error || port < 0 || port > 65535)
        return KH_ERR_INVALID_ARG;
    kh_https *l = kh_xcalloc(1, sizeof(*l));
    l->srv = s;
    l->h = *h;
    l->kes = kes;
    kh_err err = kes ? kh_tls_new_kes(tls, verify_chain, &l->tls) : kh_tls_new(tls, &l->tls);
    if (err != KH_OK) {
        free(l);
        return err;
    }
    if (!(l->http = evhttp_new(kh_server_base(s))))
        kh_oom();
    configure(l);
    l->streams = kh_http_streams_new(kh_server_base(s));
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(l->http, host ? host : "0.0.0.0", (ev_uint16_t)port);
    int bound = bs ? kh_net_local_port(evhttp_bound_socket_get_fd(bs)) : -1;
    if (bound < 0) {
        kh_error("cannot listen on %s:%d (HTTPS): %s", host ? host : "*", port, strerror(errno));
        evhttp_free(l->http);
        kh_http_streams_free(&l->streams);
        kh_tls_free(&l->tls);
        free(l);
        return KH_ERR_IO;
    }
    /* evhttp writes a reply's headers and body as separate TLS records;
     * with Nagle the body then waits for the client's delayed ACK (40 ms
     * on Linux) on every keep-alive request. Accepted sockets inherit
     * TCP_NODELAY from the listening one. */
    int one = 1;
    (void)setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bound_port)
        *bound_port = bound;
    kh_https **list = kh_server_https_list(s);
    l->next = *list;
    *list = l;
    return KH_OK;
}

kh_err kh_server_listen_https(kh_server *s, const char *host, int port, const kh_tls_config *tls,
                              const kh_http_handler *h, int *bound_port)
{
    return listen_https(s, host, port, tls, 0, 0, h, bound_port);
}

kh_err kh_server_listen_kes(kh_server *s, const char *host, int port, const kh_tls_config *tls,
                            int verify_chain, const kh_http_handler *h, int *bound_port)
{
    return listen_https(s, host, port, tls, 1, verify_chain, h, bound_port);
}

void kh_https_shutdown(kh_https *l)
{
    if (l->http)
        evhttp_free(l->http);
    l->http = NULL;
    /* its event belongs to the loop, which goes next; connections freed
     * later by libevent's finalizers find their subscriber slot cleared */
    kh_http_streams_free(&l->streams);
}

void kh_https_free(kh_https **lp)
{
    kh_https *l = lp ? *lp : NULL;
    if (!l)
        return;
    kh_https_shutdown(l);
    kh_tls_free(&l->tls);
    free(l);
    *lp = NULL;
}

unsigned kh_https_connections(const kh_https *l)
{
    return l->nconns;
}

kh_https *kh_https_next(const kh_https *l)
{
    return l->next;
}
