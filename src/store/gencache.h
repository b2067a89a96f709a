/*
 * gencache.h - a small in-process cache of what the database said, kept
 * correct by a generation counter and bounded in age by a TTL. Internal
 * to store/: the identity cache (idcache.h) and the object cache
 * (kh_store_set_object_cache) are two instances of it.
 *
 * Correctness rests on two things:
 *   - a generation counter, bumped by every write that may change a cached
 *     answer, once the write is committed (and before its caller sees the
 *     result). An entry is stamped with the generation read *before* its
 *     query and is served only while that is still the current
 *     generation, so no entry outlives a change made through this process
 *     (a write racing the query makes the entry dead on arrival);
 *   - a TTL, for what this process cannot see: changes made by another
 *     node (or a CLI) sharing the database are seen within ttl.
 *
 * Memory is bounded: a set-associative table of fixed size, allocated
 * once; a full set replaces its oldest entry. Keys longer than
 * KH_GENCACHE_KEY_MAX are not cached. Values are opaque heap objects the
 * cache owns; callers get copies.
 */
#ifndef KH_STORE_GENCACHE_H
#define KH_STORE_GENCACHE_H

#include "common/err.h"

#include <stdbool.h>
#include <stdint.h>

#define KH_GENCACHE_KEY_MAX 256 /* bytes with the terminating NUL */

typedef struct kh_gencache kh_gencache;

/* When and under which generation a lookup started (kh_gencache_mark_now). */
typedef struct kh_gencache_mark {
    uint64_t gen;
    int64_t at_ns; /* CLOCK_MONOTONIC */
} kh_gencache_mark;

/* What the cache does with the values it holds. copy_out runs under a
 * lock of the cache and must not call back into it. */
typedef struct kh_gencache_type {
    void (*copy_out)(const void *value, void *out);
    void (*free_value)(void *value);
} kh_gencache_type;

/* A cache of values of type, whose entries live ttl_ms milliseconds (> 0).
 * type must outlive the cache. */
kh_err kh_gencache_new(const kh_gencache_type *type, int64_t ttl_ms,
                       kh_gencache **out) KH_MUST_CHECK;
/* The same with the generation kept by the caller in *gen (which must
 * outlive the cache): the owner of *gen bumps it, and so does
 * kh_gencache_bump. For a cache invalidated by events counted elsewhere. */
kh_err kh_gencache_new_shared(const kh_gencache_type *type, int64_t ttl_ms, _Atomic uint64_t *gen,
                              kh_gencache **out) KH_MUST_CHECK;
/* Free every value and the cache; sets *c to NULL; accepts NULL. */
void kh_gencache_free(kh_gencache **c);

/* Invalidate every entry. NULL c: nothing to do. Thread-safe. */
void kh_gencache_bump(kh_gencache *c);

/* A fresh, unexpired entry for key: copied into out with type->copy_out,
 * true. Thread-safe. */
bool kh_gencache_get(kh_gencache *c, const char *key, void *out);

/* Forget key's entry, if any. Thread-safe. */
void kh_gencache_drop(kh_gencache *c, const char *key);

/* Call before the query whose result goes to kh_gencache_put_take. */
kh_gencache_mark kh_gencache_mark_now(kh_gencache *c);
/* Remember value for key as read by a query started at m. Takes value in
 * every case (frees it at once if it cannot be kept), but for a NULL c,
 * which has no type to free it with: check c first. Thread-safe. */
void kh_gencache_put_take(kh_gencache *c, const char *key, kh_gencache_mark m, void *value);

#endif
