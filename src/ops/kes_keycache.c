/*
 * kes_keycache.c - the KES name -> uid hints (see kes_keycache.h for what
 * they may and may not be trusted with): one generation cache for the
 * process, keyed by store, name and principal, holding uids.
 */
#include "ops/kes_keycache.h"

#include "common/log.h"
#include "common/mem.h"
#include "ops/object.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kh_gencache *cache; /* NULL if it could not be made: nothing cached */
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* Where a hit's uid goes. */
typedef struct uid_out {
    char *uid;
    size_t cap;
    bool fits;
} uid_out;

static void uid_copy_out(const void *value, void *out)
{
    uid_out *o = out;
    size_t n = strlen(value);
    o->fits = n < o->cap;
    if (o->fits)
        memcpy(o->uid, value, n + 1);
}

static const kh_gencache_type uid_type = {uid_copy_out, free};

static void make_cache(void)
{
    if (kh_gencache_new_shared(&uid_type, KH_KES_KEYCACHE_TTL_MS, kh_object_generation(), &cache) !=
        KH_OK)
        kh_warn("kes: no name cache (the DRBG failed): every request looks its name up");
}

static kh_gencache *the_cache(void)
{
    pthread_once(&cache_once, make_cache);
    return cache;
}

/* "store/name/principal" (a name holds no '/'), false when too long to
 * be cached. */
static bool key_of(const void *store, const char *principal, const char *name,
                   char key[KH_GENCACHE_KEY_MAX])
{
    int n = snprintf(key, KH_GENCACHE_KEY_MAX, "%p/%s/%s", store, name, principal);
    return n > 0 && n < KH_GENCACHE_KEY_MAX;
}

bool kh_kes_keycache_get(const void *store, const char *principal, const char *name, char *uid,
                         size_t cap)
{
    char key[KH_GENCACHE_KEY_MAX];
    uid_out out = {uid, cap, false};
    return key_of(store, principal, name, key) && kh_gencache_get(the_cache(), key, &out) &&
           out.fits;
}

kh_gencache_mark kh_kes_keycache_mark(void)
{
    return kh_gencache_mark_now(the_cache());
}

void kh_kes_keycache_put(const void *store, const char *principal, const char *name,
                         const char *uid, kh_gencache_mark m)
{
    char key[KH_GENCACHE_KEY_MAX];
    kh_gencache *c = the_cache();
    size_t ul = strnlen(uid, KH_KES_KEYCACHE_UID_MAX + 1);
    if (!c || ul == 0 || ul > KH_KES_KEYCACHE_UID_MAX || !key_of(store, principal, name, key))
        return;
    kh_gencache_put_take(c, key, m, kh_xstrdup(uid));
}

void kh_kes_keycache_drop(const void *store, const char *principal, const char *name)
{
    char key[KH_GENCACHE_KEY_MAX];
    if (key_of(store, principal, name, key))
        kh_gencache_drop(the_cache(), key);
}
