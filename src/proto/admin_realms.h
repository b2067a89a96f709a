/*
 * admin_realms.h - the realm routes of the admin API (admin_realms.c),
 * called by proto/admin.c once the caller is authenticated.
 */
#ifndef KH_PROTO_ADMIN_REALMS_H
#define KH_PROTO_ADMIN_REALMS_H

#include "net/http.h"
#include "ops/ops.h"

#include <jansson.h>
#include <stdbool.h>

/* Whether req is one of the realm routes that authenticated callers who
 * are not administrators may use too (GET /v1/admin/realms/{name}, PUT
 * and DELETE of members): their role in the realm decides. */
bool kh_admin_realms_for_members(const kh_http_request *req);

/* Answer req, whose path is "/v1/admin/realms" followed by rest ("" or
 * "/..."); body is its JSON object or NULL. admin: ctx->principal is an
 * administrator; otherwise only kh_admin_realms_for_members routes, as
 * ctx->principal's role in the realm allows (a non-member gets 404). */
void kh_admin_realms(kh_ctx *ctx, bool admin, const kh_http_request *req, json_t *body,
                     const char *rest, kh_http_reply *reply);

#endif
