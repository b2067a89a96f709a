/*
 * kes_keycache.c - the KES name -> uid hints (see kes_keycache.h for what
 * they may and may not be trusted with).
 *
 * A direct-mapped table under one mutex: a lookup holds it for a hash, a
 * few string compares and a copy, far less than the store query it saves,
 * so there is no point in anything finer.
 */
#include "ops/kes_keycache.h"

#include "ops/kes_ops.h"
#include "ops/object.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define SLOTS 512         /* a power of two */
#define PRINCIPAL_MAX 128 /* longer principals are not cached */

typedef struct slot {
    const void *store;
    uint64_t gen;
    int64_t at_ms;
    char principal[PRINCIPAL_MAX];
    char name[KH_KES_NAME_MAX + 1];
    char uid[KH_KES_KEYCACHE_UID_MAX + 1];
} slot;

static slot table[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot of the key, or NULL when a part is too long to be cached. */
static slot *slot_of(const void *store, const char *principal, const char *name)
{
    size_t pl = strnlen(principal, PRINCIPAL_MAX), nl = strnlen(name, KH_KES_NAME_MAX + 1);
    if (pl >= PRINCIPAL_MAX || nl > KH_KES_NAME_MAX)
        return NULL;
    uint64_t h = fnv(14695981039346656037ull, &store, sizeof(store));
    h = fnv(h, principal, pl + 1); /* the NUL separates principal from name */
    h = fnv(h, name, nl);
    return &table[(h ^ (h >> 32)) & (SLOTS - 1)];
}

static bool holds(const slot *s, const void *store, const char *principal, const char *name)
{
    return s->uid[0] && s->store == store && strcmp(s->principal, principal) == 0 &&
           strcmp(s->name, name) == 0;
}

bool kh_kes_keycache_get(const void *store, const char *principal, const char *name, char *uid,
                         size_t cap)
{
    slot *s = slot_of(store, principal, name);
    if (!s)
        return false;
    uint64_t gen = kh_object_generation();
    int64_t now = now_ms();
    bool hit = false;
    pthread_mutex_lock(&lock);
    if (holds(s, store, principal, name)) {
        hit = s->gen == gen && now - s->at_ms < KH_KES_KEYCACHE_TTL_MS && strlen(s->uid) < cap;
        if (hit)
            memcpy(uid, s->uid, strlen(s->uid) + 1);
        else
            s->uid[0] = '\0'; /* stale: free the slot */
    }
    pthread_mutex_unlock(&lock);
    return hit;
}

void kh_kes_keycache_put(const void *store, const char *principal, const char *name,
                         const char *uid, uint64_t gen)
{
    slot *s = slot_of(store, principal, name);
    size_t ul = strnlen(uid, KH_KES_KEYCACHE_UID_MAX + 1);
    if (!s || ul == 0 || ul > KH_KES_KEYCACHE_UID_MAX)
        return;
    int64_t now = now_ms();
    pthread_mutex_lock(&lock);
    s->store = store;
    s->gen = gen;
    s->at_ms = now;
    memcpy(s->principal, principal, strlen(principal) + 1);
    memcpy(s->name, name, strlen(name) + 1);
    memcpy(s->uid, uid, ul + 1);
    pthread_mutex_unlock(&lock);
}

void kh_kes_keycache_drop(const void *store, const char *principal, const char *name)
{
    slot *s = slot_of(store, principal, name);
    if (!s)
        return;
    pthread_mutex_lock(&lock);
    if (holds(s, store, principal, name))
        s->uid[0] = '\0';
    pthread_mutex_unlock(&lock);
}
