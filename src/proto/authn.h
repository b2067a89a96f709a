/*
 * authn.h - who is asking: the principal of an HTTPS request, from its
 * transport credentials (client certificate, Authorization header).
 *
 * Every HTTPS route that acts for someone (KMIP JSON, KES, admin API) asks
 * kh_authn_http on the worker thread, so that one place decides, and a
 * request either gets a principal or a 401. The KMIP binary listener's
 * principal is its client certificate's (net/tls.c).
 *
 * With a NULL kh_authn (nothing configured) a request acts as its client
 * certificate's principal, or as KH_HTTP_DEFAULT_PRINCIPAL ("admin") when
 * it sent none: single-user mode. A JWT bearer token is never ignored: it
 * is verified (jwt:<iss>#<sub>) or refused.
 */
#ifndef KH_PROTO_AUTHN_H
#define KH_PROTO_AUTHN_H

#include "common/err.h"
#include "net/http.h"

#include <stddef.h>

#define KH_IDENTITY_MAX 512 /* principal strings, NUL included */

/* Authentication settings and state (JWT issuers, API keys, the
 * administration token, trusted proxies), shared by all workers. */
typedef struct kh_authn kh_authn;

/* The principal of req into out. KH_ERR_AUTH when the request carries
 * credentials that do not authenticate (the route answers 401). */
kh_err kh_authn_http(const kh_authn *a, const kh_http_request *req,
                     char out[KH_IDENTITY_MAX]) KH_MUST_CHECK;
/* The same; on KH_ERR_AUTH *why (when why is not NULL) is a static,
 * general reason fit for the client ("token expired..."), or NULL. */
kh_err kh_authn_http_why(const kh_authn *a, const kh_http_request *req, char out[KH_IDENTITY_MAX],
                         const char **why) KH_MUST_CHECK;

/* Empty settings (nothing configured yet); caller frees. */
kh_err kh_authn_new(kh_authn **out) KH_MUST_CHECK;
void kh_authn_free(kh_authn **a);

/* JWT bearer tokens: "Authorization: Bearer <jwt>" (exactly two dots) is
 * checked by jwt (proto/jwt_auth.h), which a takes over; *jwt = NULL. A
 * JWT sent to a server without an issuer is refused, never taken for
 * single-user mode. */
struct kh_jwt_auth;
void kh_authn_set_jwt_take(kh_authn *a, struct kh_jwt_auth **jwt);

#endif
