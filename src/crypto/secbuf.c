/*
 * secbuf.c - secure buffers and crypto-layer start-up.
 *
 * Key material lives on OpenSSL's secure heap: mlock'ed, surrounded by guard
 * pages and cleansed on free. If the heap cannot be set up (RLIMIT_MEMLOCK
 * too low, say) OPENSSL_secure_zalloc falls back to the ordinary heap; we
 * still wipe on free, and we say so in the log. This file does not do any
 * cryptography itself.
 */
#include "crypto/secbuf.h"

#include "common/log.h"
#include "common/mem.h"

#include <openssl/crypto.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define DEFAULT_HEAP (4u << 20)
#define HEAP_MINSIZE 16

/* CRYPTO_secure_malloc_init wants a power of two. */
static size_t round_pow2(size_t n)
{
    size_t p = 4096;
    while (p < n && p < ((size_t)1 << 30))
        p <<= 1;
    return p;
}

static kh_err no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_CORE, &rl) != 0) {
        kh_error("crypto: cannot disable core dumps (setrlimit)");
        return KH_ERR_CONFIG;
    }
    /* Also keeps other users' ptrace and /proc/<pid>/mem away. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        kh_error("crypto: cannot mark the process non-dumpable (prctl)");
        return KH_ERR_CONFIG;
    }
    return KH_OK;
}

kh_err kh_crypto_init(size_t heap_bytes)
{
    kh_err err = no_core_dumps();
    if (err != KH_OK)
        return err;
    if (CRYPTO_secure_malloc_initialized())
        return KH_OK;
    size_t heap = round_pow2(heap_bytes ? heap_bytes : DEFAULT_HEAP);
    if (CRYPTO_secure_malloc_init(heap, HEAP_MINSIZE) == 0)
        kh_warn("crypto: secure heap unavailable (check RLIMIT_MEMLOCK); "
                "key material will be wiped but not locked in memory");
    return KH_OK;
}

kh_secbuf *kh_secbuf_new(size_t len)
{
    /* A zero-length buffer still gets a valid pointer, so callers need no
     * special case. */
    uint8_t *data = OPENSSL_secure_zalloc(len ? len : 1);
    if (!data)
        kh_oom();
    kh_secbuf *b = kh_xmalloc(sizeof(*b));
    b->data = data;
    b->len = len;
    return b;
}

kh_secbuf *kh_secbuf_dup(const uint8_t *p, size_t len)
{
    kh_secbuf *b = kh_secbuf_new(len);
    if (len)
        memcpy(b->data, p, len);
    return b;
}

void kh_secbuf_free(kh_secbuf **b)
{
    if (!b || !*b)
        return;
    OPENSSL_secure_clear_free((*b)->data, (*b)->len ? (*b)->len : 1);
    free(*b);
    *b = NULL;
}

int kh_ct_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
