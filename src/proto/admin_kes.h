/*
 * admin_kes.h - the KES part of the admin REST API (docs/admin-api.md,
 * "KES policies"): /v1/admin/kes/policies[/{name}] and
 * /v1/admin/kes/identities[/{identity}]. admin.c authorizes the caller
 * and parses the body, then hands over every path under "kes".
 */
#ifndef KH_PROTO_ADMIN_KES_H
#define KH_PROTO_ADMIN_KES_H

#include "net/http.h"
#include "ops/ops.h"

#include <jansson.h>

/* Answer req into r. path is what follows "/v1/admin/" ("kes" or
 * "kes/..."); body the parsed JSON object, NULL when there was none;
 * ctx the authorized admin. */
void kh_admin_kes_handle(kh_ctx *ctx, const kh_http_request *req, const char *path,
                         const json_t *body, kh_http_reply *r);

#endif
