/*
 * authn.h - who is asking: the identity of an HTTPS request, from its
 * transport credentials (client certificate, Authorization header), and
 * the user it acts as.
 *
 * Every HTTPS route that acts for someone (KMIP JSON, KES, admin API) asks
 * kh_authn_who on the worker thread, so that one place decides, and a
 * request either gets a principal or a 401. Two steps:
 *   1. kh_authn_http authenticates: an Authorization header wins
 *      ("Bearer khk_<id>.<secret>": an API key, identity "apikey:<id>"; a
 *      header it cannot check is KH_ERR_AUTH, never ignored), else the
 *      client certificate ("tls:<hex SPKI SHA-256>"), else nothing ("").
 *   2. ops/users.h maps the identity to a user (kh_who_resolve), the same
 *      mapping the KMIP binary listener applies to its certificates, so one
 *      user owns the same objects on every listener.
 * A request with no credentials at all acts as KH_HTTP_DEFAULT_PRINCIPAL
 * ("admin"): single-user mode, announced at start-up.
 *
 * With a NULL kh_authn (tests, nothing configured) API keys cannot be
 * checked (the store is unknown) and no proxy is trusted. A JWT bearer
 * token is never ignored: it is verified (jwt:<iss>#<sub>) or refused, as
 * is an Authorization header too long to read.
 */
#ifndef KH_PROTO_AUTHN_H
#define KH_PROTO_AUTHN_H

#include "common/err.h"
#include "net/http.h"
#include "ops/ops.h"
#include "ops/users.h"

#include <stdbool.h>
#include <stddef.h>

#define KH_IDENTITY_MAX KH_WHO_MAX /* identity strings, NUL included */

/* Authentication settings and state (JWT issuers, API keys, the
 * administration token, trusted proxies), shared by all workers. */
typedef struct kh_authn kh_authn;

/* New settings that check API keys against store (borrowed). */
kh_err kh_authn_new(kh_store *store, kh_authn **out) KH_MUST_CHECK;
/* Wipes the administration token; sets *a to NULL; accepts NULL. */
void kh_authn_free(kh_authn **a);
/* The administration token (copied, wiped on free); NULL or "" = none.
 * KH_ERR_CONFIG when shorter than 16 characters. */
kh_err kh_authn_set_admin_token(kh_authn *a, const char *token) KH_MUST_CHECK;
bool kh_authn_has_admin_token(const kh_authn *a);
/* Trusted reverse proxies: comma list of IPs and CIDR blocks
 * (proto/proxy.h); KH_ERR_CONFIG when malformed. */
kh_err kh_authn_set_trusted_proxies(kh_authn *a, const char *list) KH_MUST_CHECK;

/* Step 1: the identity of req into out ("" = no credentials). KH_ERR_AUTH
 * when the request carries credentials that do not authenticate (the
 * route answers 401). */
kh_err kh_authn_http(const kh_authn *a, const kh_http_request *req,
                     char out[KH_IDENTITY_MAX]) KH_MUST_CHECK;
/* The same; on KH_ERR_AUTH *why (when why is not NULL) is a static,
 * general reason fit for the client ("token expired..."), or NULL. */
kh_err kh_authn_http_why(const kh_authn *a, const kh_http_request *req, char out[KH_IDENTITY_MAX],
                         const char **why) KH_MUST_CHECK;

/* JWT bearer tokens: "Authorization: Bearer <jwt>" (exactly two dots) is
 * checked by jwt (proto/jwt_auth.h), which a takes over; *jwt = NULL. A
 * JWT sent to a server without an issuer is refused, never taken for
 * single-user mode. */
struct kh_jwt_auth;
void kh_authn_set_jwt_take(kh_authn *a, struct kh_jwt_auth **jwt);

/* Steps 1 and 2: who req acts as. KH_ERR_AUTH as above and for a revoked
 * user. */
kh_err kh_authn_who(const kh_service *svc, const kh_http_request *req, kh_who *out) KH_MUST_CHECK;
/* The same, with kh_authn_http_why's reason. */
kh_err kh_authn_who_why(const kh_service *svc, const kh_http_request *req, kh_who *out,
                        const char **why) KH_MUST_CHECK;

/* Does req carry "Authorization: Bearer <the administration token>"?
 * (Constant-time; false when no token is configured.) */
bool kh_authn_is_admin_token(const kh_authn *a, const kh_http_request *req);

/* The client's address for logs and the audit log: the TCP peer, or the
 * X-Forwarded-For client when the peer is a trusted proxy. */
void kh_authn_client_addr(const kh_authn *a, const kh_http_request *req, char *out, size_t n);
/* The scheme the client used: X-Forwarded-Proto from a trusted proxy,
 * else "https". */
const char *kh_authn_client_proto(const kh_authn *a, const kh_http_request *req);

#endif
