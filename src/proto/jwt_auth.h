/*
 * jwt_auth.h - JWT bearer-token authentication for the HTTPS listener:
 * one configured issuer, its JWKS cache, and the check that turns a token
 * into the identity "jwt:<iss>#<sub>" (proto/jwt.h, proto/jwks.h).
 *
 * proto/authn.c calls kh_jwt_auth_check for "Authorization: Bearer <jwt>";
 * the settings come from `keyhold serve`'s --jwt-* and --jwks-* options.
 */
#ifndef KH_PROTO_JWT_AUTH_H
#define KH_PROTO_JWT_AUTH_H

#include "common/err.h"
#include "proto/jwt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kh_jwt_auth_config {
    const char *issuer;   /* required */
    const char *audience; /* NULL = not checked */
    const char *jwks_url; /* required; https:// unless allow_http */
    const char *jwks_ca;  /* NULL = the system's CAs */
    bool allow_http;
    unsigned leeway_s;
    unsigned refresh_s;
    unsigned min_refetch_s;
    unsigned timeout_s;
} kh_jwt_auth_config;

typedef struct kh_jwt_auth kh_jwt_auth;

/* Checks cfg (KH_ERR_CONFIG with a logged reason) and copies it; fetches
 * nothing yet. Call from the main thread. Caller frees. */
kh_err kh_jwt_auth_new(const kh_jwt_auth_config *cfg, kh_jwt_auth **out) KH_MUST_CHECK;
void kh_jwt_auth_free(kh_jwt_auth **a);

/* Fetch the issuer's keys once now, so that start-up shows whether they
 * are reachable; a failure is logged, not fatal (the workers try again). */
void kh_jwt_auth_prefetch(kh_jwt_auth *a);

/* The identity of token (len bytes, no "Bearer ") at time now into
 * identity (cap bytes). KH_ERR_AUTH with *why on refusal; thread safe. */
kh_err kh_jwt_auth_check(kh_jwt_auth *a, const char *token, size_t len, int64_t now, char *identity,
                         size_t cap, kh_jwt_reason *why) KH_MUST_CHECK;

#endif
