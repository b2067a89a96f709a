/*
 * kes_keycache.h - which key a KES name resolved to, remembered so that
 * generate, encrypt and decrypt need not Locate the name on every request.
 *
 * The cache holds uids only, never material, and is a hint: every hit is
 * checked against the key's row, read from the store for the request
 * (ops/op_kes.c, find_cached): the key must still be live, owned by the
 * caller and named so. A key deleted or renamed, here or on another node
 * sharing the database, therefore stops answering at once.
 *
 * What a hit cannot see is another key gaining the name with precedence
 * over the cached one (kh_kes_key_find prefers the caller's oldest own
 * key): only an older key renamed to it over KMIP. Entries die with every
 * object write of this process (kh_object_generation) and, for writes on
 * other nodes, after KH_KES_KEYCACHE_TTL_MS. Only own keys are cached, so
 * grants never decide a cached answer.
 *
 * Bounded, thread-safe: a generation cache (store/gencache.h) whose
 * generation is kh_object_generation's counter.
 */
#ifndef KH_OPS_KES_KEYCACHE_H
#define KH_OPS_KES_KEYCACHE_H

#include "store/gencache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KH_KES_KEYCACHE_TTL_MS 1000
#define KH_KES_KEYCACHE_UID_MAX 64 /* longer uids are not cached */

/* The uid remembered for (store, principal, name) into uid (cap bytes):
 * false when none, expired, or an object was written since it was put. */
bool kh_kes_keycache_get(const void *store, const char *principal, const char *name, char *uid,
                         size_t cap);
/* Call before the lookup whose answer goes to kh_kes_keycache_put. */
kh_gencache_mark kh_kes_keycache_mark(void);
/* Remember uid for (store, principal, name), as looked up from m on. Too
 * long = ignored. */
void kh_kes_keycache_put(const void *store, const char *principal, const char *name,
                         const char *uid, kh_gencache_mark m);
/* Forget (store, principal, name). */
void kh_kes_keycache_drop(const void *store, const char *principal, const char *name);

#endif
