/*
 * idcache.c - the identity cache (store/idcache.h).
 *
 * SETS sets of WAYS slots; a set is found by a seeded hash of the identity
 * and has a mutex of its own, so workers authenticating different
 * identities seldom meet on a lock, and the critical section is a few
 * string compares and one small copy. The generation is one atomic
 * counter: a reader loads it, a write bumps it.
 *
 * Who can fill the cache: identities reach it only once authenticated
 * (a verified certificate, a JWT whose signature checked, an API key whose
 * secret checked), except on the KES listener, which by design accepts any
 * self-signed certificate. A client that makes many keys can therefore
 * evict other entries, one TLS handshake each; that costs the evicted
 * identities an SQL query on their next request, never a wrong answer.
 * The seed keeps a client from aiming at one set.
 */
#include "store/idcache.h"

#include "common/mem.h"
#include "crypto/rand.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAYS 4
#define SETS 1024 /* a power of two; SETS * WAYS entries, about 1 MiB */
#define KEY_MAX 192

struct slot {
    uint64_t hash; /* 0 = empty */
    uint64_t gen;
    int64_t expires_ns;
    kh_identity_owner owner;
    char identity[KEY_MAX];
};

struct set {
    struct slot slot[WAYS];
};

/* The locks apart from the sets: initializing them touches only their own
 * pages, so the sets' pages stay untouched (and out of RSS) until used. */
struct kh_idcache {
    _Atomic uint64_t gen;
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

kh_err kh_idcache_new(int64_t ttl_ms, kh_idcache **out)
{
    if (ttl_ms <= 0 || ttl_ms > INT64_MAX / 1000000 || !out)
        return KH_ERR_INVALID_ARG;
    uint64_t seed = 0;
    kh_err err = kh_random_bytes((uint8_t *)&seed, sizeof(seed));
    if (err != KH_OK)
        return err;
    kh_idcache *c = kh_xcalloc(1, sizeof(*c));
    atomic_init(&c->gen, 1);
    c->ttl_ns = ttl_ms * 1000000;
    c->seed = seed;
    c->locks = kh_xcalloc(SETS, sizeof(*c->locks));
    c->sets = kh_xcalloc(SETS, sizeof(*c->sets));
    for (size_t i = 0; i < SETS; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    *out = c;
    return KH_OK;
}

void kh_idcache_free(kh_idcache **pc)
{
    kh_idcache *c = pc ? *pc : NULL;
    if (!c)
        return;
    for (size_t i = 0; i < SETS; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->locks);
    free(c->sets);
    free(c);
    *pc = NULL;
}

void kh_idcache_bump(kh_idcache *c)
{
    if (c)
        atomic_fetch_add(&c->gen, 1);
}

kh_idcache_mark kh_idcache_mark_now(kh_idcache *c)
{
    /* the generation first: a write committed after this load bumps past
     * it, whatever the query below it sees */
    kh_idcache_mark m = {c ? atomic_load(&c->gen) : 0, mono_ns()};
    return m;
}

static bool usable(const struct slot *e, uint64_t gen, int64_t now)
{
    return e->hash != 0 && e->gen == gen && now < e->expires_ns;
}

bool kh_idcache_get(kh_idcache *c, const char *identity, kh_identity_owner *out)
{
    if (!c || !identity || strlen(identity) >= KEY_MAX)
        return false;
    uint64_t h = hash_of(c->seed, identity);
    size_t i = h & (SETS - 1);
    const struct set *set = &c->sets[i];
    uint64_t gen = atomic_load(&c->gen);
    int64_t now = mono_ns();
    bool hit = false;
    pthread_mutex_lock(&c->locks[i]);
    for (int w = 0; w < WAYS && !hit; w++) {
        const struct slot *e = &set->slot[w];
        if (e->hash == h && usable(e, gen, now) && strcmp(e->identity, identity) == 0) {
            *out = e->owner;
            hit = true;
        }
    }
    pthread_mutex_unlock(&c->locks[i]);
    return hit;
}

/* Where identity goes in set: its own slot, else a free or dead one, else
 * the one that expires first. */
static struct slot *victim(struct set *set, uint64_t h, const char *identity, uint64_t gen,
                           int64_t now)
{
    struct slot *oldest = &set->slot[0];
    for (int i = 0; i < WAYS; i++) {
        struct slot *e = &set->slot[i];
        if (e->hash == h && strcmp(e->identity, identity) == 0)
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

void kh_idcache_put(kh_idcache *c, const char *identity, kh_idcache_mark m,
                    const kh_identity_owner *o)
{
    if (!c || !identity || !*identity || strlen(identity) >= KEY_MAX)
        return;
    uint64_t gen = atomic_load(&c->gen);
    if (m.gen != gen)
        return; /* a write landed meanwhile: what we read may be stale */
    uint64_t h = hash_of(c->seed, identity);
    size_t i = h & (SETS - 1);
    pthread_mutex_lock(&c->locks[i]);
    struct slot *e = victim(&c->sets[i], h, identity, gen, mono_ns());
    e->hash = h;
    e->gen = m.gen;
    e->expires_ns = m.at_ns + c->ttl_ns;
    e->owner = *o;
    memcpy(e->identity, identity, strlen(identity) + 1);
    pthread_mutex_unlock(&c->locks[i]);
}
