/*
 * jwt_auth.c - one JWT issuer: settings, key cache, token check
 * (proto/jwt_auth.h).
 */
#include "proto/jwt_auth.h"

#include "common/log.h"
#include "common/mem.h"

#include <string.h>
#include <strings.h>

struct kh_jwt_auth {
    char *issuer, *audience;
    unsigned leeway_s;
    kh_jwks_cache *cache;
};

static bool printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    }
    return n > 0 && n <= max;
}

static kh_err check_config(const kh_jwt_auth_config *cfg)
{
    if (!cfg->issuer || !printable(cfg->issuer, KH_JWT_CLAIM_MAX)) {
        kh_error("--jwt-issuer must be 1 to %d printable characters", KH_JWT_CLAIM_MAX);
        return KH_ERR_CONFIG;
    }
    if (!cfg->jwks_url || !cfg->jwks_url[0]) {
        kh_error("--jwt-issuer needs --jwks-url, where the issuer publishes its keys");
        return KH_ERR_CONFIG;
    }
    bool https = strncasecmp(cfg->jwks_url, "https://", 8) == 0;
    bool http = strncasecmp(cfg->jwks_url, "http://", 7) == 0;
    if (!https && !(http && cfg->allow_http)) {
        kh_error("--jwks-url must be an https:// URL (http:// only with --jwks-allow-http=true)");
        return KH_ERR_CONFIG;
    }
    if (cfg->audience && !printable(cfg->audience, KH_JWT_CLAIM_MAX)) {
        kh_error("--jwt-audience must be 1 to %d printable characters", KH_JWT_CLAIM_MAX);
        return KH_ERR_CONFIG;
    }
    return KH_OK;
}

kh_err kh_jwt_auth_new(const kh_jwt_auth_config *cfg, kh_jwt_auth **out)
{
    if (!cfg || !out)
        return KH_ERR_INVALID_ARG;
    kh_err err = check_config(cfg);
    if (err != KH_OK)
        return err;
    kh_jwks_cache_config cc = {cfg->jwks_url,  cfg->jwks_ca,       cfg->allow_http,
                               cfg->refresh_s, cfg->min_refetch_s, cfg->timeout_s};
    kh_jwt_auth *a = kh_xcalloc(1, sizeof(*a));
    if ((err = kh_jwks_cache_new(&cc, &a->cache)) != KH_OK) {
        free(a);
        return err;
    }
    a->issuer = kh_xstrdup(cfg->issuer);
    a->audience = cfg->audience ? kh_xstrdup(cfg->audience) : NULL;
    a->leeway_s = cfg->leeway_s;
    *out = a;
    return KH_OK;
}

void kh_jwt_auth_free(kh_jwt_auth **a)
{
    if (!a || !*a)
        return;
    kh_jwks_cache_free(&(*a)->cache);
    free((*a)->issuer);
    free((*a)->audience);
    free(*a);
    *a = NULL;
}

void kh_jwt_auth_prefetch(kh_jwt_auth *a)
{
    kh_jwks *keys = NULL;
    if (kh_jwks_cache_get(a->cache, NULL, KH_JWS_NONE, &keys) != KH_OK)
        kh_warn("JWT issuer %s: its keys could not be fetched yet; tokens are refused until "
                "they are",
                a->issuer);
    else if (kh_jwks_count(keys) == 0)
        kh_warn("JWT issuer %s publishes no RS256 or ES256 key", a->issuer);
    kh_jwks_release(&keys);
}

kh_err kh_jwt_auth_check(kh_jwt_auth *a, const char *token, size_t len, int64_t now, char *identity,
                         size_t cap, kh_jwt_reason *why)
{
    kh_jwt *t = NULL;
    kh_jwks *keys = NULL;
    kh_jwt_policy p = {a->issuer, a->audience, a->leeway_s};
    kh_err err = kh_jwt_parse(token, len, &t, why);
    if (err != KH_OK)
        goto out;
    if ((err = kh_jwks_cache_get(a->cache, kh_jwt_kid(t), kh_jwt_alg(t), &keys)) != KH_OK) {
        err = KH_ERR_AUTH;
        if (why)
            *why = KH_JWT_KEYS_UNAVAILABLE;
        goto out;
    }
    err = kh_jwt_verify(t, keys, &p, now, identity, cap, why);
out:
    kh_jwks_release(&keys);
    kh_jwt_free(&t);
    return err;
}
