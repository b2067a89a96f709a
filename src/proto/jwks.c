/*
 * jwks.c - JSON Web Key Sets: base64url, parsing into public keys, and the
 * shared, refreshed cache (proto/jwks.h).
 */
#include "proto/jwks.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "crypto/jose.h"
#include "net/fetch.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define RSA_N_MAX (KH_JOSE_RSA_MAX_BITS / 8 + 1) /* one leading zero tolerated */
#define RSA_E_MAX 8
#define EC_COORD_MAX 33 /* read one byte too many to see an over-long coordinate */

typedef struct jwk {
    char kid[KH_JWK_KID_MAX];
    kh_jws_alg alg;
    kh_pkey *key;
} jwk;

struct kh_jwks {
    atomic_int refs;
    size_t n;
    jwk keys[];
};

/* ---- base64url ----------------------------------------------------------- */

static int b64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

kh_err kh_base64url_decode(uint8_t *out, size_t cap, size_t *out_len, const char *src, size_t len)
{
    if (!out_len || (!src && len))
        return KH_ERR_INVALID_ARG;
    if (len % 4 == 1)
        return KH_ERR_DECODE;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap || (need && !out))
        return KH_ERR_DECODE;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)src[i]);
        if (v < 0)
            return KH_ERR_DECODE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical: the unused low bits must be zero */
        return KH_ERR_DECODE;
    *out_len = o;
    return KH_OK;
}

/* ---- parsing ----------------------------------------------------------- */

/* The base64url member name of o into out; false when absent or bad. */
static bool member_bytes(const json_t *o, const char *name, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    const json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        return false;
    return kh_base64url_decode(out, cap, out_len, json_string_value(v), json_string_length(v)) ==
           KH_OK;
}

static const char *member_str(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static kh_pkey *rsa_key(const json_t *o)
{
    uint8_t n[RSA_N_MAX], e[RSA_E_MAX];
    size_t n_len, e_len;
    kh_pkey *k = NULL;
    if (!member_bytes(o, "n", n, sizeof(n), &n_len) || !member_bytes(o, "e", e, sizeof(e), &e_len))
        return NULL;
    if (kh_jose_rsa_public(&k, n, n_len, e, e_len) != KH_OK)
        return NULL;
    return k;
}

static kh_pkey *p256_key(const json_t *o)
{
    uint8_t x[EC_COORD_MAX], y[EC_COORD_MAX];
    size_t x_len, y_len;
    kh_pkey *k = NULL;
    const char *crv = member_str(o, "crv");
    if (!crv || strcmp(crv, "P-256") != 0 || !member_bytes(o, "x", x, sizeof(x), &x_len) ||
        !member_bytes(o, "y", y, sizeof(y), &y_len))
        return NULL;
    if (kh_jose_p256_public(&k, x, x_len, y, y_len) != KH_OK)
        return NULL;
    return k;
}

/* One JWK into *out; false when keyhold cannot or must not use it. */
static bool parse_key(const json_t *o, jwk *out)
{
    const char *kty = member_str(o, "kty"), *kid = member_str(o, "kid");
    const char *use = member_str(o, "use"), *alg = member_str(o, "alg");
    const json_t *kid_v = json_object_get(o, "kid");
    if (!json_is_object(o) || !kty || !kid || json_string_length(kid_v) == 0 ||
        json_string_length(kid_v) >= KH_JWK_KID_MAX || strlen(kid) != json_string_length(kid_v))
        return false;
    if (use && strcmp(use, "sig") != 0)
        return false;
    if (strcmp(kty, "RSA") == 0 && (!alg || strcmp(alg, "RS256") == 0)) {
        out->alg = KH_JWS_RS256;
        out->key = rsa_key(o);
    } else if (strcmp(kty, "EC") == 0 && (!alg || strcmp(alg, "ES256") == 0)) {
        out->alg = KH_JWS_ES256;
        out->key = p256_key(o);
    } else {
        return false;
    }
    if (!out->key) {
        kh_warn("JWKS: key \"%.64s\" is malformed; skipped", kid);
        return false;
    }
    memcpy(out->kid, kid, json_string_length(kid_v) + 1);
    return true;
}

kh_err kh_jwks_parse(const uint8_t *data, size_t len, kh_jwks **out)
{
    if (!out || (!data && len))
        return KH_ERR_INVALID_ARG;
    if (len > KH_JWKS_MAX_BYTES)
        return KH_ERR_TOO_LARGE;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *arr = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(arr)) {
        json_decref(root);
        return KH_ERR_DECODE;
    }
    size_t max = json_array_size(arr) < KH_JWKS_MAX_KEYS ? json_array_size(arr) : KH_JWKS_MAX_KEYS;
    kh_jwks *ks = kh_xcalloc(1, sizeof(*ks) + max * sizeof(jwk));
    atomic_init(&ks->refs, 1);
    for (size_t i = 0; i < json_array_size(arr) && ks->n < max; i++) {
        if (parse_key(json_array_get(arr, i), &ks->keys[ks->n]))
            ks->n++;
    }
    json_decref(root);
    *out = ks;
    return KH_OK;
}

const kh_pkey *kh_jwks_find(const kh_jwks *keys, const char *kid, kh_jws_alg alg)
{
    for (size_t i = 0; keys && kid && i < keys->n; i++) {
        if (keys->keys[i].alg == alg && strcmp(keys->keys[i].kid, kid) == 0)
            return keys->keys[i].key;
    }
    return NULL;
}

size_t kh_jwks_count(const kh_jwks *keys)
{
    return keys ? keys->n : 0;
}

static kh_jwks *jwks_ref(kh_jwks *keys)
{
    if (keys)
        atomic_fetch_add(&keys->refs, 1);
    return keys;
}

void kh_jwks_release(kh_jwks **keys)
{
    if (!keys || !*keys)
        return;
    if (atomic_fetch_sub(&(*keys)->refs, 1) == 1) {
        for (size_t i = 0; i < (*keys)->n; i++)
            kh_pkey_free(&(*keys)->keys[i].key);
        free(*keys);
    }
    *keys = NULL;
}

/* ---- the cache ----------------------------------------------------------- */

struct kh_jwks_cache {
    char *url, *ca_file;
    bool allow_http;
    unsigned refresh_s, min_refetch_s, timeout_s;
    pthread_mutex_t lock;       /* guards keys, fetched_at, attempted_at */
    pthread_mutex_t fetch_lock; /* held by the one thread fetching, without lock */
    kh_jwks *keys;              /* NULL until a fetch succeeded */
    int64_t fetched_at;         /* last successful fetch, monotonic ms */
    int64_t attempted_at;       /* last fetch started, successful or not, monotonic ms */
    unsigned long attempts;     /* fetches started, so a waiter sees one it missed */
};

kh_err kh_jwks_cache_new(const kh_jwks_cache_config *cfg, kh_jwks_cache **out)
{
    if (!cfg || !cfg->url || !out || cfg->timeout_s == 0)
        return KH_ERR_INVALID_ARG;
    kh_err err = kh_fetch_global_init();
    if (err != KH_OK)
        return err;
    kh_jwks_cache *c = kh_xcalloc(1, sizeof(*c));
    c->url = kh_xstrdup(cfg->url);
    c->ca_file = cfg->ca_file ? kh_xstrdup(cfg->ca_file) : NULL;
    c->allow_http = cfg->allow_http;
    c->refresh_s = cfg->refresh_s;
    c->min_refetch_s = cfg->min_refetch_s;
    c->timeout_s = cfg->timeout_s;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->fetch_lock, NULL);
    *out = c;
    return KH_OK;
}

void kh_jwks_cache_free(kh_jwks_cache **c)
{
    if (!c || !*c)
        return;
    kh_jwks_release(&(*c)->keys);
    pthread_mutex_destroy(&(*c)->lock);
    pthread_mutex_destroy(&(*c)->fetch_lock);
    free((*c)->url);
    free((*c)->ca_file);
    free(*c);
    *c = NULL;
}

/* Intervals are measured on the monotonic clock: a wall clock that jumps
 * must neither stop refreshes nor allow a burst of fetches. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fetch and parse, with no lock held; NULL on failure (logged). */
static kh_jwks *download(const kh_jwks_cache *c)
{
    kh_fetch_opts o = {c->ca_file, c->allow_http, KH_JWKS_MAX_BYTES, c->timeout_s};
    kh_buf body = {0};
    kh_jwks *keys = NULL;
    if (kh_fetch_get(c->url, &o, &body) == KH_OK &&
        kh_jwks_parse(body.data, body.len, &keys) != KH_OK)
        kh_warn("JWKS from %s is not a JSON Web Key Set", c->url);
    kh_buf_free(&body);
    if (keys)
        kh_info("JWKS from %s: %zu usable key(s)", c->url, keys->n);
    return keys;
}

/* Fetch unless another thread did since `seen` (an attempts value). When
 * another thread is fetching, return at once and go on with the keys held
 * (or none): a worker never waits behind a slow issuer, so an unreachable
 * one costs at most the one worker that tries it. */
static void refresh(kh_jwks_cache *c, unsigned long seen)
{
    if (pthread_mutex_trylock(&c->fetch_lock) != 0)
        return;
    pthread_mutex_lock(&c->lock);
    bool done_meanwhile = c->attempts != seen;
    if (!done_meanwhile) {
        c->attempts++;
        c->attempted_at = now_ms(); /* claimed: others now back off */
    }
    pthread_mutex_unlock(&c->lock);
    if (!done_meanwhile) {
        kh_jwks *fresh = download(c);
        pthread_mutex_lock(&c->lock);
        if (fresh) {
            kh_jwks_release(&c->keys);
            c->keys = fresh;
            c->fetched_at = now_ms();
        }
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&c->fetch_lock);
}

kh_err kh_jwks_cache_get(kh_jwks_cache *c, const char *kid, kh_jws_alg alg, kh_jwks **out)
{
    if (!c || !out)
        return KH_ERR_INVALID_ARG;
    int64_t now = now_ms();
    pthread_mutex_lock(&c->lock);
    bool have = c->keys != NULL;
    bool due = !have || now - c->fetched_at >= (int64_t)c->refresh_s * 1000 ||
               (kid && !kh_jwks_find(c->keys, kid, alg));
    bool allowed = c->attempts == 0 || now - c->attempted_at >= (int64_t)c->min_refetch_s * 1000;
    unsigned long seen = c->attempts;
    pthread_mutex_unlock(&c->lock);
    if (due && allowed)
        refresh(c, seen);
    pthread_mutex_lock(&c->lock);
    *out = jwks_ref(c->keys);
    pthread_mutex_unlock(&c->lock);
    return *out ? KH_OK : KH_ERR_IO;
}
