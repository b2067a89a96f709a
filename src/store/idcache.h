/*
 * idcache.h - a small in-process cache of what an identity maps to
 * (kh_store_identity_owner), so that authenticating a request does not
 * cost an SQL read transaction every time. Internal to store/.
 *
 * Correctness rests on two things:
 *   - a generation counter, bumped by every write of store_users.c once
 *     the write is committed (and before its caller sees the result). An
 *     entry is stamped with the generation read *before* its SQL query and
 *     is served only while that is still the current generation, so no
 *     entry ever outlives a change made through this process;
 *   - a TTL, for what this process cannot see: changes made by another
 *     node (or a CLI) sharing the database are seen within ttl.
 *
 * Memory is fixed (a set-associative table allocated once); a full set
 * replaces its oldest entry. Identities too long for a slot are simply not
 * cached. Entries hold no secret: an identity string, a user id, a profile
 * and two flags.
 */
#ifndef KH_STORE_IDCACHE_H
#define KH_STORE_IDCACHE_H

#include "common/err.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct kh_idcache kh_idcache;

/* When and under which generation a lookup started (kh_idcache_mark). */
typedef struct kh_idcache_mark {
    uint64_t gen;
    int64_t at_ns; /* CLOCK_MONOTONIC */
} kh_idcache_mark;

/* A cache whose entries live ttl_ms milliseconds (> 0). */
kh_err kh_idcache_new(int64_t ttl_ms, kh_idcache **out) KH_MUST_CHECK;
/* Free and set *c to NULL; accepts NULL. */
void kh_idcache_free(kh_idcache **c);

/* Invalidate every entry (a write that may change a mapping committed).
 * NULL c: nothing to do. Thread-safe. */
void kh_idcache_bump(kh_idcache *c);

/* A fresh, unexpired entry for identity into out: true. Thread-safe. */
bool kh_idcache_get(kh_idcache *c, const char *identity, kh_identity_owner *out);

/* Call before the query whose result goes to kh_idcache_put. */
kh_idcache_mark kh_idcache_mark_now(kh_idcache *c);
/* Remember o for identity as read by a query started at m. Thread-safe. */
void kh_idcache_put(kh_idcache *c, const char *identity, kh_idcache_mark m,
                    const kh_identity_owner *o);

#endif
