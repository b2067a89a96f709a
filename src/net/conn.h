/*
 * conn.h - one KMIP-style TLS connection of a kh_server: framing, the state
 * machine, its deadlines and the hand-off of each message to the worker
 * pool. Not for use outside src/net/ (server.c accepts, conn.c serves).
 */
#ifndef KH_NET_CONN_H
#define KH_NET_CONN_H

#include "net/server.h"
#include "net/tls.h"

/* Largest header_len a handler may ask for (read into a stack buffer). */
#define KH_NET_HEADER_MAX 64

typedef struct kh_conn kh_conn;

/* The open connections of one server (I/O thread only). */
typedef struct kh_conn_list {
    kh_conn *head;
    unsigned n;
} kh_conn_list;

/* Serve the accepted socket fd over TLS (tls, h) on s, linked into list.
 * Takes fd: it is closed on failure. h must outlive the connection and its
 * queued jobs (kh_server_free closes connections and joins the workers
 * before it frees listeners). */
void kh_conn_accept(kh_server *s, kh_conn_list *list, kh_tls *tls, const kh_proto_handler *h,
                    int fd, const char *addr);
/* Close every connection of list at once (shutdown). A message still in a
 * worker leaves a closed husk that its completion frees. */
void kh_conn_close_all(kh_conn_list *list);

#endif
