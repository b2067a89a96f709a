/*
 * http_stream.h - open-ended HTTPS replies (NDJSON streams such as KES's
 * /v1/log/audit): the subscribers of one HTTPS listener and the hand-off of
 * published lines to its I/O thread. Not for use outside src/net/ (the
 * public side is kh_http_publish in net/http.h).
 *
 * Publishers run on any thread: a line is queued on every listener that
 * has a subscriber for its topic and the listener's event wakes its loop,
 * which writes the line to each subscriber as one chunk. Queues are
 * bounded; a line that does not fit is dropped (a slow reader loses lines,
 * never the server memory).
 */
#ifndef KH_NET_HTTP_STREAM_H
#define KH_NET_HTTP_STREAM_H

#include "net/http.h"

struct event_base;
struct evhttp_request;

typedef struct kh_http_streams kh_http_streams;
typedef struct kh_http_sub kh_http_sub;

/* The streams of one listener on base, registered for publishing. */
kh_http_streams *kh_http_streams_new(struct event_base *base);
/* Unregister, drop every subscriber (their requests belong to evhttp,
 * freed by evhttp_free before this) and free. */
void kh_http_streams_free(kh_http_streams **s);
/* I/O thread: req (whose reply has started) now receives topic's lines,
 * until kh_http_streams_remove (when its connection goes). *slot holds the
 * subscriber and is set to NULL if the streams are freed first. NULL for
 * an unknown topic. */
kh_http_sub *kh_http_streams_add(kh_http_streams *s, struct evhttp_request *req, int topic,
                                 kh_http_sub **slot);
/* The request sub writes to (NULL once removed). */
struct evhttp_request *kh_http_sub_request(const kh_http_sub *sub);
/* I/O thread: stop writing to sub and free it. */
void kh_http_streams_remove(kh_http_streams *s, kh_http_sub *sub);

#endif
