/*
 * idcache.h - a small in-process cache of what an identity maps to
 * (kh_store_identity_owner), so that authenticating a request does not
 * cost an SQL read transaction every time. Internal to store/.
 *
 * A generation cache (store/gencache.h: what keeps it correct, and its
 * TTL for changes made by other nodes) whose values are kh_identity_owner:
 * an identity string, a user id, a profile and two flags, no secret.
 * store_users.c bumps it after every write.
 */
#ifndef KH_STORE_IDCACHE_H
#define KH_STORE_IDCACHE_H

#include "common/err.h"
#include "store/gencache.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct kh_gencache kh_idcache;
typedef kh_gencache_mark kh_idcache_mark;

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
