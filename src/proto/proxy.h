/*
 * proxy.h - reverse proxies we trust to tell us who the client is.
 *
 * Behind a load balancer every TCP peer is the balancer; it passes the real
 * client in X-Forwarded-For. Anyone can send that header, so it is
 * believed only from peers on the --proxy-trusted-address list (IPs and
 * CIDR blocks, IPv4 and IPv6). The client is then the right-most address
 * of X-Forwarded-For that is not itself a trusted proxy (each proxy appends
 * the peer it saw, so addresses further left were written by the client
 * and may be forged).
 */
#ifndef KH_PROTO_PROXY_H
#define KH_PROTO_PROXY_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct kh_proxy_list kh_proxy_list;

/* Parse "10.0.0.0/8, 127.0.0.1, ::1"; KH_ERR_CONFIG naming nothing valid
 * or with a malformed entry. */
kh_err kh_proxy_list_parse(const char *list, kh_proxy_list **out) KH_MUST_CHECK;
void kh_proxy_list_free(kh_proxy_list **l);

/* Is ip (an address, or "ip:port" / "[ip6]:port") on the list? */
bool kh_proxy_trusted(const kh_proxy_list *l, const char *ip);

/* The client's address for a request from peer ("ip:port") that carried
 * forwarded_for ("" when absent) into out: peer itself unless peer is
 * trusted and the header names a client. */
void kh_proxy_client_addr(const kh_proxy_list *l, const char *peer, const char *forwarded_for,
                          char *out, size_t n);

#endif
