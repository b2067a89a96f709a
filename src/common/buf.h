/*
 * buf.h - a growable byte buffer for building messages.
 *
 * Buffers may carry key material on its way to the wire, so kh_buf_free and
 * every reallocation wipe the old bytes. Allocation failure aborts (see
 * mem.h): a KMS that runs out of memory cannot answer correctly anyway.
 */
#ifndef KH_COMMON_BUF_H
#define KH_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct kh_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} kh_buf;

void kh_buf_reserve(kh_buf *b, size_t extra);
void kh_buf_append(kh_buf *b, const void *p, size_t n);
void kh_buf_append_u8(kh_buf *b, uint8_t v);
void kh_buf_append_be32(kh_buf *b, uint32_t v);
void kh_buf_append_be64(kh_buf *b, uint64_t v);
/* Reset length to 0 and wipe the content; keeps the allocation. */
void kh_buf_clear(kh_buf *b);
/* Wipe and free the content; b itself is not freed (usually on the stack). */
void kh_buf_free(kh_buf *b);

#endif
