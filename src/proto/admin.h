/*
 * admin.h - the admin REST API, /v1/admin/... on the HTTPS listener
 * (docs/admin-api.md): organizations, users, identities, API keys and
 * grants, JSON in and out, errors {"message": "..."}.
 *
 * A request is allowed with "Authorization: Bearer <administration
 * token>" (--administration-token) or from an active ADMIN user (any
 * authenticator, proto/authn.h); otherwise 401 without valid credentials,
 * 403 with someone else's. Every call, allowed or not, is in the audit
 * log.
 */
#ifndef KH_PROTO_ADMIN_H
#define KH_PROTO_ADMIN_H

#include "net/http.h"
#include "ops/ops.h"

#include <stdbool.h>

/* "/v1/admin" and everything under it. */
bool kh_admin_owns_path(const char *path);

/* Worker thread: answer req. */
void kh_admin_handle(kh_service *svc, const kh_http_request *req, kh_http_reply *reply);

#endif
