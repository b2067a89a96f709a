/*
 * mem.c - aborting allocators and the wiping helper.
 */
#include "common/mem.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

_Noreturn void kh_oom(void)
{
    static const char msg[] = "keyhold: out of memory, aborting\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

void *kh_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        kh_oom();
    return p;
}

void *kh_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        kh_oom();
    return p;
}

void *kh_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        kh_oom();
    return q;
}

char *kh_xstrdup(const char *s)
{
    return kh_xstrndup(s, strlen(s));
}

char *kh_xstrndup(const char *s, size_t n)
{
    char *p = kh_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void kh_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

void kh_wipe_free(void *p, size_t n)
{
    if (!p)
        return;
    kh_wipe(p, n);
    free(p);
}
