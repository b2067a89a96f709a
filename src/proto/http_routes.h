/*
 * http_routes.h - what the HTTPS listener serves: GET /health, GET
 * /metrics, KMIP JSON TTLV at POST /kmip/2_1, the KES API and the admin
 * API (docs/http.md).
 *
 * Errors are JSON {"message": "..."} with the status of the kh_err table.
 * Who a request acts as is proto/authn.h's decision (a user, a
 * certificate's principal, or "admin" without credentials: single-user
 * mode); /v1/admin goes to proto/admin.h, which authorizes itself.
 */
#ifndef KH_PROTO_HTTP_ROUTES_H
#define KH_PROTO_HTTP_ROUTES_H

#include "common/buf.h"
#include "net/http.h"
#include "ops/ops.h"

/* The principal of a request that presents no client certificate. */
#define KH_HTTP_DEFAULT_PRINCIPAL "admin"

/* A kh_http_handler for net/ bound to svc. */
kh_http_handler kh_http_routes_handler(kh_service *svc);

/* POST /kmip/2_1 with body (JSON) for principal: returns the HTTP status
 * and appends the JSON reply to out; *result is the failure for metrics. */
int kh_kmip_json_endpoint(kh_service *svc, const char *principal, const uint8_t *body, size_t len,
                          kh_buf *out, kh_err *result);
/* The same from client_addr ("ip:port", for the audit log; NULL = unknown). */
int kh_kmip_json_endpoint_from(kh_service *svc, const char *principal, const char *client_addr,
                               const uint8_t *body, size_t len, kh_buf *out, kh_err *result);

#endif
