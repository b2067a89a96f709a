/*
 * jwt.h - JSON Web Tokens (RFC 7519) in compact JWS form (RFC 7515),
 * verified against an issuer's key set (proto/jwks.h).
 *
 * Deliberately narrow, after RFC 8725 (JWT best current practice):
 * - only RS256 and ES256, and only with a key of the matching type from
 *   the configured JWKS, found by the header's "kid": "none", HS*, PS*,
 *   and a header "alg" that disagrees with the key are refused, and key
 *   material or key locations in the header (jwk, jku, x5u, x5c) are
 *   never used;
 * - a "crit" header is refused (we understand no extensions);
 * - the signature is checked before any claim is believed;
 * - "iss" must equal the configured issuer, "exp" is required, "nbf" is
 *   honoured (both with a small leeway), "aud" (string or array) must hold
 *   the configured audience when one is configured, "sub" is required;
 * - every part has a size limit, JSON with duplicate member names is
 *   refused.
 * The result is the identity "jwt:<iss>#<sub>".
 */
#ifndef KH_PROTO_JWT_H
#define KH_PROTO_JWT_H

#include "common/err.h"
#include "proto/jwks.h"

#include <stddef.h>
#include <stdint.h>

#define KH_JWT_MAX 8192         /* whole compact token, bytes */
#define KH_JWT_HEADER_MAX 1024  /* decoded header JSON */
#define KH_JWT_PAYLOAD_MAX 6144 /* decoded payload JSON */
#define KH_JWT_CLAIM_MAX 255    /* iss and sub, bytes */

/* Why a token was refused, for logs and a general 401 message. */
typedef enum kh_jwt_reason {
    KH_JWT_OK = 0,
    KH_JWT_MALFORMED,       /* not a compact JWS we can read */
    KH_JWT_ALGORITHM,       /* alg not RS256/ES256, or crit present */
    KH_JWT_UNKNOWN_KEY,     /* no key with this kid for this alg */
    KH_JWT_SIGNATURE,       /* signature does not verify */
    KH_JWT_EXPIRED,         /* exp passed (or missing) */
    KH_JWT_NOT_YET_VALID,   /* nbf in the future */
    KH_JWT_ISSUER,          /* iss is not the configured issuer */
    KH_JWT_AUDIENCE,        /* aud lacks the configured audience */
    KH_JWT_SUBJECT,         /* sub missing, empty, too long or odd */
    KH_JWT_KEYS_UNAVAILABLE /* the issuer's JWKS could not be fetched */
} kh_jwt_reason;

/* A short general sentence for reason (static; safe to show a client:
 * it says nothing of the token or the keys). */
const char *kh_jwt_reason_str(kh_jwt_reason reason);

typedef struct kh_jwt_policy {
    const char *issuer;   /* required: "iss" must equal it */
    const char *audience; /* NULL = "aud" is not checked */
    unsigned leeway_s;    /* clock skew allowed on exp and nbf */
} kh_jwt_policy;

typedef struct kh_jwt kh_jwt;

/* Split and decode a compact token, check its header (alg, crit, kid).
 * KH_ERR_AUTH with *why on any refusal; caller frees with kh_jwt_free. */
kh_err kh_jwt_parse(const char *token, size_t len, kh_jwt **out, kh_jwt_reason *why) KH_MUST_CHECK;

/* The header's algorithm and kid ("" when absent), borrowed. */
kh_jws_alg kh_jwt_alg(const kh_jwt *t);
const char *kh_jwt_kid(const kh_jwt *t);

/* Verify the signature with keys, then the claims under p at time now
 * (unix seconds); the identity "jwt:<iss>#<sub>" into identity (cap
 * bytes). KH_ERR_AUTH with *why on any refusal. */
kh_err kh_jwt_verify(const kh_jwt *t, const kh_jwks *keys, const kh_jwt_policy *p, int64_t now,
                     char *identity, size_t cap, kh_jwt_reason *why) KH_MUST_CHECK;

void kh_jwt_free(kh_jwt **t);

#endif
