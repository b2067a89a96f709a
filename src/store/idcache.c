/*
 * idcache.c - the identity cache (store/idcache.h): a generation cache
 * (store/gencache.h) whose values are kh_identity_owner.
 *
 * Who can fill it: identities reach it only once authenticated (a verified
 * certificate, a JWT whose signature checked, an API key whose secret
 * checked), except on the KES listener, which by design accepts any
 * self-signed certificate. A client that makes many keys can therefore
 * evict other entries, one TLS handshake each; that costs the evicted
 * identities an SQL query on their next request, never a wrong answer.
 */
#include "store/idcache.h"

#include "common/mem.h"
#include "store/gencache.h"

#include <stdlib.h>
#include <string.h>

static void owner_copy_out(const void *value, void *out)
{
    memcpy(out, value, sizeof(kh_identity_owner));
}

static const kh_gencache_type owner_type = {owner_copy_out, free};

kh_err kh_idcache_new(int64_t ttl_ms, kh_idcache **out)
{
    return kh_gencache_new(&owner_type, ttl_ms, out);
}

void kh_idcache_free(kh_idcache **c)
{
    kh_gencache_free(c);
}

void kh_idcache_bump(kh_idcache *c)
{
    kh_gencache_bump(c);
}

kh_idcache_mark kh_idcache_mark_now(kh_idcache *c)
{
    return kh_gencache_mark_now(c);
}

bool kh_idcache_get(kh_idcache *c, const char *identity, kh_identity_owner *out)
{
    return kh_gencache_get(c, identity, out);
}

void kh_idcache_put(kh_idcache *c, const char *identity, kh_idcache_mark m,
                    const kh_identity_owner *o)
{
    if (!c)
        return;
    kh_identity_owner *copy = kh_xmalloc(sizeof(*copy));
    *copy = *o;
    kh_gencache_put_take(c, identity, m, copy);
}
