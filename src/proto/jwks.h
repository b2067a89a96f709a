/*
 * jwks.h - JSON Web Key Sets (RFC 7517) of a JWT issuer: parsed into
 * public keys, and cached for the workers with a refresh interval.
 *
 * Only what keyhold verifies survives parsing: RSA keys (2048-8192 bits)
 * for RS256 and EC P-256 keys for ES256, each with a "kid". Other keys
 * (symmetric "oct", OKP, other curves, "use": "enc", an "alg" we do not
 * accept) are skipped, not errors, because issuers publish them alongside.
 *
 * The cache (kh_jwks_cache) fetches the set over HTTPS (net/fetch.h):
 * when it is older than the refresh interval, and when a token names a
 * kid it does not hold (key rotation), at most once per min_refetch_s
 * either way, so that tokens with made-up kids cannot make keyhold hammer
 * the issuer. A failed fetch keeps the keys already held. Workers read a
 * reference-counted snapshot; one worker fetches, without the cache lock,
 * and the others never wait for it: they go on with the keys held.
 */
#ifndef KH_PROTO_JWKS_H
#define KH_PROTO_JWKS_H

#include "common/err.h"
#include "crypto/pkey.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KH_JWKS_MAX_BYTES (256 * 1024) /* a JWKS document */
#define KH_JWKS_MAX_KEYS 64            /* usable keys kept from one document */
#define KH_JWK_KID_MAX 256             /* "kid", NUL included */

/* The JWS algorithms keyhold accepts. Nothing else, ever: not "none", not
 * HS256 (whose "secret" an attacker would pick from the public key). */
typedef enum kh_jws_alg {
    KH_JWS_NONE = 0, /* not an algorithm: "not one we accept" */
    KH_JWS_RS256 = 1,
    KH_JWS_ES256 = 2,
} kh_jws_alg;

typedef struct kh_jwks kh_jwks;

/* Decode base64url without padding (RFC 7515 section 2) of src[0..len)
 * into out (capacity cap). Anything else (padding, '+', '/', whitespace,
 * non-zero trailing bits, a result over cap) is KH_ERR_DECODE. */
kh_err kh_base64url_decode(uint8_t *out, size_t cap, size_t *out_len, const char *src,
                           size_t len) KH_MUST_CHECK;

/* Parse a JWKS document; caller frees with kh_jwks_release. A document
 * that is not a JSON object with a "keys" array is KH_ERR_DECODE; one with
 * no usable key parses to an empty set. */
kh_err kh_jwks_parse(const uint8_t *json, size_t len, kh_jwks **out) KH_MUST_CHECK;

/* The key with this kid usable for alg, or NULL; borrowed from keys. */
const kh_pkey *kh_jwks_find(const kh_jwks *keys, const char *kid, kh_jws_alg alg);
size_t kh_jwks_count(const kh_jwks *keys);

/* Drop one reference (the parser's, or one from kh_jwks_cache_get);
 * frees at zero; sets *keys to NULL; accepts NULL. */
void kh_jwks_release(kh_jwks **keys);

typedef struct kh_jwks_cache_config {
    const char *url;        /* https://... (http:// only with allow_http) */
    const char *ca_file;    /* NULL = the system's CAs */
    bool allow_http;        /* for tests and loopback issuers */
    unsigned refresh_s;     /* refetch keys older than this */
    unsigned min_refetch_s; /* at most one fetch per this many seconds */
    unsigned timeout_s;     /* one fetch, connection included */
} kh_jwks_cache_config;

typedef struct kh_jwks_cache kh_jwks_cache;

/* A cache that has fetched nothing yet (strings are copied). Call from
 * the main thread: it initialises libcurl. */
kh_err kh_jwks_cache_new(const kh_jwks_cache_config *cfg, kh_jwks_cache **out) KH_MUST_CHECK;
void kh_jwks_cache_free(kh_jwks_cache **c);

/* A reference to the current key set (caller releases it), refreshed first
 * when due: because it is old, or because it has no key kid for alg. Thread
 * safe. KH_ERR_IO when no key set could ever be fetched. */
kh_err kh_jwks_cache_get(kh_jwks_cache *c, const char *kid, kh_jws_alg alg,
                         kh_jwks **out) KH_MUST_CHECK;

#endif
