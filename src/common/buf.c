/*
 * buf.c - growable byte buffer; wipes what it held before releasing it.
 */
#include "common/buf.h"

#include "common/mem.h"

#include <string.h>

void kh_buf_reserve(kh_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t want = b->len + extra;
    if (want < b->len)
        kh_oom();
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            kh_oom();
        cap *= 2;
    }
    uint8_t *n = kh_xmalloc(cap);
    if (b->len)
        memcpy(n, b->data, b->len);
    if (b->data) {
        kh_wipe(b->data, b->cap);
        free(b->data);
    }
    b->data = n;
    b->cap = cap;
}

void kh_buf_append(kh_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    kh_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void kh_buf_append_u8(kh_buf *b, uint8_t v)
{
    kh_buf_append(b, &v, 1);
}

void kh_buf_append_be32(kh_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    kh_buf_append(b, x, 4);
}

void kh_buf_append_be64(kh_buf *b, uint64_t v)
{
    kh_buf_append_be32(b, (uint32_t)(v >> 32));
    kh_buf_append_be32(b, (uint32_t)v);
}

void kh_buf_clear(kh_buf *b)
{
    if (b->data)
        kh_wipe(b->data, b->len);
    b->len = 0;
}

void kh_buf_free(kh_buf *b)
{
    if (b->data) {
        kh_wipe(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}
