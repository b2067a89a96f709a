/*
 * secbuf.h - the only home of key material in memory.
 *
 * A kh_secbuf lives on OpenSSL's secure heap when it is available (locked,
 * guarded, excluded from core dumps) and is always wiped before it is freed.
 */
#ifndef KH_CRYPTO_SECBUF_H
#define KH_CRYPTO_SECBUF_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kh_secbuf {
    uint8_t *data;
    size_t len;
} kh_secbuf;

/* Initialise the crypto layer: secure heap (heap_bytes, 0 = default),
 * no core dumps. Call once at start-up before any thread is created. */
kh_err kh_crypto_init(size_t heap_bytes) KH_MUST_CHECK;

/* New zeroed buffer of len bytes. Never NULL (aborts on exhaustion). */
kh_secbuf *kh_secbuf_new(size_t len);
/* New buffer holding a copy of p[0..len). */
kh_secbuf *kh_secbuf_dup(const uint8_t *p, size_t len);
/* Wipe and free; sets *b to NULL; accepts NULL. */
void kh_secbuf_free(kh_secbuf **b);

/* Constant-time equality of two byte strings (lengths are not secret). */
int kh_ct_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
