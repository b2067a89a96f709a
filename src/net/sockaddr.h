/*
 * sockaddr.h - small socket address helpers shared by the listeners.
 */
#ifndef KH_NET_SOCKADDR_H
#define KH_NET_SOCKADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* "ip:port" or "[ip6]:port" (or "?") into out[0..n). */
void kh_net_format_addr(const struct sockaddr *sa, char *out, size_t n);
/* The local port a listening socket is bound to, -1 on error. */
int kh_net_local_port(int fd);

#endif
