/*
 * http_stream.c - subscribers of open-ended HTTPS replies and the
 * cross-thread queue that feeds them (http_stream.h).
 *
 * Locks: reg_mu guards the list of listeners; each listener's mu guards
 * its queue and its per-topic subscriber counts. No lock is held while
 * evhttp writes, and nothing here logs: the error stream is fed by the log
 * itself, and a log line about a dropped log line would never end.
 */
#include "net/http_stream.h"

#include "common/mem.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include <linux/sockios.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define QUEUE_MAX 4096 /* lines waiting for one listener's loop */
/* Bytes waiting to be written to one subscriber: a subscriber that stops
 * reading is cut off here instead of making the server buffer its stream
 * without bound. */
#define SUB_BACKLOG_MAX (1024 * 1024)

typedef struct line {
    struct line *next;
    int topic;
    size_t len;
    char data[];
} line;

struct kh_http_sub {
    kh_http_sub *next;
    struct evhttp_request *req;
    int topic;
    int dead;           /* removed while the loop was writing: freed after it */
    kh_http_sub **slot; /* the connection's pointer to this subscriber */
};

struct kh_http_streams {
    kh_http_streams *next_reg;
    struct event *ev;
    pthread_mutex_t mu;
    line *head, *tail;
    size_t queued;
    unsigned nsubs[KH_HTTP_STREAM_TOPICS];
    kh_http_sub *subs; /* I/O thread only */
    int writing;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static kh_http_streams *reg;
/* Subscribers per topic across all listeners: what kh_http_stream_wanted
 * reads on every request without taking a lock. */
static _Atomic unsigned wanted[KH_HTTP_STREAM_TOPICS];

static void free_sub(kh_http_streams *s, kh_http_sub *sub)
{
    pthread_mutex_lock(&s->mu);
    s->nsubs[sub->topic]--;
    pthread_mutex_unlock(&s->mu);
    wanted[sub->topic]--;
    free(sub);
}

static void sweep(kh_http_streams *s)
{
    kh_http_sub **pp = &s->subs;
    while (*pp) {
        kh_http_sub *sub = *pp;
        if (sub->dead) {
            *pp = sub->next;
            free_sub(s, sub);
        } else {
            pp = &sub->next;
        }
    }
}

/* Has sub stopped reading? The backlog is what waits in its bufferevent
 * plus what its socket has not sent yet (the kernel's send buffer grows to
 * megabytes on its own). Then shut the socket down: evhttp sees the
 * failure on its next write and closes the connection the normal way,
 * which removes the subscriber (net/https.c). */
static bool backlogged(kh_http_sub *sub)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(sub->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0)
        return false;
    size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
    int unsent = 0;
    if (ioctl(fd, SIOCOUTQ, &unsent) == 0 && unsent > 0)
        pending += (size_t)unsent;
    if (pending <= SUB_BACKLOG_MAX)
        return false;
    shutdown(fd, SHUT_RDWR);
    return true;
}

static void write_line(kh_http_streams *s, const line *l)
{
    for (kh_http_sub *sub = s->subs; sub; sub = sub->next) {
        if (sub->dead || sub->topic != l->topic)
            continue;
        if (backlogged(sub))
            continue;
        struct evbuffer *b = evbuffer_new();
        if (!b || evbuffer_add(b, l->data, l->len) != 0)
            kh_oom();
        evhttp_send_reply_chunk(sub->req, b);
        evbuffer_free(b);
    }
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    kh_http_streams *s = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&s->mu);
    line *l = s->head;
    s->head = s->tail = NULL;
    s->queued = 0;
    pthread_mutex_unlock(&s->mu);
    s->writing = 1;
    while (l) {
        line *next = l->next;
        write_line(s, l);
        free(l);
        l = next;
    }
    s->writing = 0;
    sweep(s);
}

kh_http_streams *kh_http_streams_new(struct event_base *base)
{
    kh_http_streams *s = kh_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->ev = event_new(base, -1, 0, drain_cb, s);
    if (!s->ev)
        kh_oom();
    pthread_mutex_lock(&reg_mu);
    s->next_reg = reg;
    reg = s;
    pthread_mutex_unlock(&reg_mu);
    return s;
}

void kh_http_streams_free(kh_http_streams **sp)
{
    kh_http_streams *s = sp ? *sp : NULL;
    if (!s)
        return;
    pthread_mutex_lock(&reg_mu);
    for (kh_http_streams **pp = &reg; *pp; pp = &(*pp)->next_reg) {
        if (*pp == s) {
            *pp = s->next_reg;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    event_free(s->ev);
    while (s->subs) {
        kh_http_sub *next = s->subs->next;
        if (s->subs->slot)
            *s->subs->slot = NULL;
        wanted[s->subs->topic]--;
        free(s->subs);
        s->subs = next;
    }
    while (s->head) {
        line *next = s->head->next;
        free(s->head);
        s->head = next;
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
    *sp = NULL;
}

kh_http_sub *kh_http_streams_add(kh_http_streams *s, struct evhttp_request *req, int topic,
                                 kh_http_sub **slot)
{
    if (topic <= 0 || topic >= KH_HTTP_STREAM_TOPICS)
        return NULL;
    kh_http_sub *sub = kh_xcalloc(1, sizeof(*sub));
    sub->req = req;
    sub->topic = topic;
    sub->slot = slot;
    *slot = sub;
    sub->next = s->subs;
    s->subs = sub;
    pthread_mutex_lock(&s->mu);
    s->nsubs[topic]++;
    pthread_mutex_unlock(&s->mu);
    wanted[topic]++;
    return sub;
}

struct evhttp_request *kh_http_sub_request(const kh_http_sub *sub)
{
    return sub ? sub->req : NULL;
}

void kh_http_streams_remove(kh_http_streams *s, kh_http_sub *sub)
{
    sub->dead = 1;
    sub->req = NULL;
    sub->slot = NULL;
    if (!s->writing)
        sweep(s);
}

bool kh_http_stream_wanted(int topic)
{
    return topic > 0 && topic < KH_HTTP_STREAM_TOPICS && wanted[topic] > 0;
}

void kh_http_publish(int topic, const char *data, size_t len)
{
    if (topic <= 0 || topic >= KH_HTTP_STREAM_TOPICS || len == 0)
        return;
    pthread_mutex_lock(&reg_mu);
    for (kh_http_streams *s = reg; s; s = s->next_reg) {
        pthread_mutex_lock(&s->mu);
        bool wake = false;
        if (s->nsubs[topic] > 0 && s->queued < QUEUE_MAX) {
            line *l = kh_xmalloc(sizeof(*l) + len);
            l->next = NULL;
            l->topic = topic;
            l->len = len;
            memcpy(l->data, data, len);
            wake = s->head == NULL;
            if (s->tail)
                s->tail->next = l;
            else
                s->head = l;
            s->tail = l;
            s->queued++;
        }
        pthread_mutex_unlock(&s->mu);
        if (wake)
            event_active(s->ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&reg_mu);
}
