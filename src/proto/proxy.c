/*
 * proxy.c - trusted reverse proxies and X-Forwarded-For (proto/proxy.h).
 */
#include "proto/proxy.h"

#include "common/mem.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 64

typedef struct net_block {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix; /* bits */
} net_block;

struct kh_proxy_list {
    size_t n;
    net_block b[MAX_ENTRIES];
};

/* Parse one bare address into family/addr; false when it is none. */
static bool parse_ip(const char *s, size_t len, int *family, uint8_t addr[16])
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

/* The address part of "ip", "ip:port", "[ip6]" or "[ip6]:port". */
static bool parse_host(const char *s, size_t len, int *family, uint8_t addr[16])
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len && s[0] == '[') {
        const char *end = memchr(s, ']', len);
        return end && parse_ip(s + 1, (size_t)(end - s - 1), family, addr);
    }
    if (parse_ip(s, len, family, addr))
        return true;
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
        return parse_ip(s, (size_t)(colon - s), family, addr); /* IPv4 with a port */
    return false;
}

static bool parse_block(const char *s, size_t len, net_block *b)
{
    const char *slash = memchr(s, '/', len);
    size_t iplen = slash ? (size_t)(slash - s) : len;
    if (!parse_ip(s, iplen, &b->family, b->addr))
        return false;
    int max = b->family == AF_INET ? 32 : 128;
    b->prefix = max;
    if (slash) {
        char num[8];
        size_t nlen = len - iplen - 1;
        if (nlen == 0 || nlen >= sizeof(num))
            return false;
        memcpy(num, slash + 1, nlen);
        num[nlen] = '\0';
        char *end = NULL;
        long p = strtol(num, &end, 10);
        if (*end || p < 0 || p > max)
            return false;
        b->prefix = (int)p;
    }
    return true;
}

kh_err kh_proxy_list_parse(const char *list, kh_proxy_list **out)
{
    kh_proxy_list *l = kh_xcalloc(1, sizeof(*l));
    const char *p = list ? list : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p;
        size_t n = len;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > 0 && (l->n == MAX_ENTRIES || !parse_block(s, n, &l->b[l->n++]))) {
            free(l);
            return KH_ERR_CONFIG;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (l->n == 0) {
        free(l);
        return KH_ERR_CONFIG;
    }
    *out = l;
    return KH_OK;
}

void kh_proxy_list_free(kh_proxy_list **l)
{
    if (!l)
        return;
    free(*l);
    *l = NULL;
}

static bool in_block(const net_block *b, int family, const uint8_t addr[16])
{
    if (b->family != family)
        return false;
    int full = b->prefix / 8, rest = b->prefix % 8;
    if (memcmp(b->addr, addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (b->addr[full] & mask) == (addr[full] & mask);
}

static bool trusted_addr(const kh_proxy_list *l, int family, const uint8_t addr[16])
{
    for (size_t i = 0; l && i < l->n; i++)
        if (in_block(&l->b[i], family, addr))
            return true;
    return false;
}

bool kh_proxy_trusted(const kh_proxy_list *l, const char *ip)
{
    int family;
    uint8_t addr[16];
    return l && ip && parse_host(ip, strlen(ip), &family, addr) && trusted_addr(l, family, addr);
}

void kh_proxy_client_addr(const kh_proxy_list *l, const char *peer, const char *forwarded_for,
                          char *out, size_t n)
{
    snprintf(out, n, "%s", peer ? peer : "");
    if (!kh_proxy_trusted(l, peer) || !forwarded_for || !*forwarded_for)
        return;
    /* Right to left: skip the trusted proxies, stop at the first other. */
    size_t end = strlen(forwarded_for);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && forwarded_for[start - 1] != ',')
            start--;
        int family;
        uint8_t addr[16];
        if (!parse_host(forwarded_for + start, end - start, &family, addr)) {
            snprintf(out, n, "%s", peer); /* garbage: keep the peer, which we know */
            return;
        }
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(family, addr, ip, sizeof(ip));
        snprintf(out, n, "%s", ip);
        if (!trusted_addr(l, family, addr))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}
