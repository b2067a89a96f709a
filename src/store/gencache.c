/*
 * gencache.c - the generation cache (store/gencache.h).
 *
 * SETS sets of WAYS slots; a set is found by a seeded hash of the key and
 * has a mutex of its own, so workers looking up different keys seldom
 * meet on a lock, and the critical section is a few string compares and
 * one copy. The generation is one atomic counter: a reader loads it, a
 * write bumps it. A bump frees nothing: dead entries keep their value
 * until their slot is reused or the cache is freed, so memory stays within
 * SETS * WAYS values.
 *
 * The seed keeps a client that chooses keys (identities, uids it asks
 * for) from aiming at one set; filling the cache with its own keys costs
 * other keys a database query on their next use, never a wrong answer.
 */
#include "store/gencache.h"

#include "common/mem.h"
#include "crypto/rand.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAYS 4
#define SETS 1024 /* a power of two; SETS * WAYS entries */

struct slot {
    uint64_t hash; /* 0 = empty */
    uint64_t gen;
    int64_t expires_ns;
    void *value;
    char key[KH_GENCACHE_KEY_MAX];
};

struct set {
    struct slot slot[WAYS];
};

/* The locks apart from the sets: initializing them touches only their own
 * pages, so the sets' pages stay untouched (and out of RSS) until used. */
struct kh_gencache {
    const kh_gencache_type *type;
    _Atomic uint64_t own_gen;
    _Atomic uint64_t *gen; /* &own_gen, or the caller's (kh_gencache_new_shared) */
    int64_t ttl_ns;
    uint64_t seed;
    pthread_mutex_t *locks; /* locks[i] guards sets[i]; SETS of each */
    struct set *sets;
};

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* FNV-1a over the seed and the bytes, then a 64-bit finalizer (from
 * splitmix64) so that the low bits, which pick the set, depend on every
 * byte. A table index, not a MAC: the seed only spreads entries. */
static uint64_t hash_of(uint64_t seed, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

kh_err kh_gencache_new(const kh_gencache_type *type, int64_t ttl_ms, kh_gencache **out)
{
    return kh_gencache_new_shared(type, ttl_ms, NULL, out);
}

kh_err kh_gencache_new_shared(const kh_gencache_type *type, int64_t ttl_ms, _Atomic uint64_t *gen,
                              kh_gencache **out)
{
    if (!type || !type->copy_out || !type->free_value || ttl_ms <= 0 ||
        ttl_ms > INT64_MAX / 1000000 || !out)
        return KH_ERR_INVALID_ARG;
    uint64_t seed = 0;
    kh_err err = kh_random_bytes((uint8_t *)&seed, sizeof(seed));
    if (err != KH_OK)
        return err;
    kh_gencache *c = kh_xcalloc(1, sizeof(*c));
    c->type = type;
    atomic_init(&c->own_gen, 1);
    c->gen = gen ? gen : &c->own_gen;
    c->ttl_ns = ttl_ms * 1000000;
    c->seed = seed;
    c->locks = kh_xcalloc(SETS, sizeof(*c->locks));
    c->sets = kh_xcalloc(SETS, sizeof(*c->sets));
    for (size_t i = 0; i < SETS; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    *out = c;
    return KH_OK;
}

void kh_gencache_free(kh_gencache **pc)
{
    kh_gencache *c = pc ? *pc : NULL;
    if (!c)
        return;
    for (size_t i = 0; i < SETS; i++) {
        pthread_mutex_destroy(&c->locks[i]);
        for (int w = 0; w < WAYS; w++)
            if (c->sets[i].slot[w].value)
                c->type->free_value(c->sets[i].slot[w].value);
    }
    free(c->locks);
    free(c->sets);
    free(c);
    *pc = NULL;
}

void kh_gencache_bump(kh_gencache *c)
{
    if (c)
        atomic_fetch_add(c->gen, 1);
}

kh_gencache_mark kh_gencache_mark_now(kh_gencache *c)
{
    /* the generation first: a write committed after this load bumps past
     * it, whatever the query below it sees */
    kh_gencache_mark m = {c ? atomic_load(c->gen) : 0, mono_ns()};
    return m;
}

static bool usable(const struct slot *e, uint64_t gen, int64_t now)
{
    return e->hash != 0 && e->gen == gen && now < e->expires_ns;
}

bool kh_gencache_get(kh_gencache *c, const char *key, void *out)
{
    if (!c || !key || strlen(key) >= KH_GENCACHE_KEY_MAX)
        return false;
    uint64_t h = hash_of(c->seed, key);
    size_t i = h & (SETS - 1);
    const struct set *set = &c->sets[i];
    uint64_t gen = atomic_load(c->gen);
    int64_t now = mono_ns();
    bool hit = false;
    pthread_mutex_lock(&c->locks[i]);
    for (int w = 0; w < WAYS && !hit; w++) {
        const struct slot *e = &set->slot[w];
        if (e->hash == h && usable(e, gen, now) && strcmp(e->key, key) == 0) {
            c->type->copy_out(e->value, out);
            hit = true;
        }
    }
    pthread_mutex_unlock(&c->locks[i]);
    return hit;
}

void kh_gencache_drop(kh_gencache *c, const char *key)
{
    if (!c || !key || strlen(key) >= KH_GENCACHE_KEY_MAX)
        return;
    uint64_t h = hash_of(c->seed, key);
    size_t i = h & (SETS - 1);
    void *old = NULL;
    pthread_mutex_lock(&c->locks[i]);
    for (int w = 0; w < WAYS; w++) {
        struct slot *e = &c->sets[i].slot[w];
        if (e->hash == h && strcmp(e->key, key) == 0) {
            old = e->value;
            e->value = NULL;
            e->hash = 0;
        }
    }
    pthread_mutex_unlock(&c->locks[i]);
    if (old)
        c->type->free_value(old);
}

/* Where key goes in set: its own slot, else a free or dead one, else the
 * one that expires first. */
static struct slot *victim(struct set *set, uint64_t h, const char *key, uint64_t gen, int64_t now)
{
    struct slot *oldest = &set->slot[0];
    for (int i = 0; i < WAYS; i++) {
        struct slot *e = &set->slot[i];
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    }
    for (int i = 0; i < WAYS; i++) {
        struct slot *e = &set->slot[i];
        if (!usable(e, gen, now))
            return e;
        if (e->expires_ns < oldest->expires_ns)
            oldest = e;
    }
    return oldest;
}

void kh_gencache_put_take(kh_gencache *c, const char *key, kh_gencache_mark m, void *value)
{
    if (!c || !value)
        return;
    uint64_t gen = atomic_load(c->gen);
    /* a write landed meanwhile (what we read may be stale), or no room */
    if (m.gen != gen || !key || !*key || strlen(key) >= KH_GENCACHE_KEY_MAX) {
        c->type->free_value(value);
        return;
    }
    uint64_t h = hash_of(c->seed, key);
    size_t i = h & (SETS - 1);
    pthread_mutex_lock(&c->locks[i]);
    struct slot *e = victim(&c->sets[i], h, key, gen, mono_ns());
    void *old = e->value;
    e->hash = h;
    e->gen = m.gen;
    e->expires_ns = m.at_ns + c->ttl_ns;
    e->value = value;
    memcpy(e->key, key, strlen(key) + 1);
    pthread_mutex_unlock(&c->locks[i]);
    if (old)
        c->type->free_value(old); /* outside the lock: it may wipe */
}
