/*
 * admin_realms.h - the realm routes of the admin API (admin_realms.c),
 * called by proto/admin.c once the caller is known to be an
 * administrator.
 */
#ifndef KH_PROTO_ADMIN_REALMS_H
#define KH_PROTO_ADMIN_REALMS_H

#include "net/http.h"
#include "ops/ops.h"

#include <jansson.h>

/* Answer req, whose path is "/v1/admin/realms" followed by rest ("" or
 * "/..."); body is its JSON object or NULL. */
void kh_admin_realms(kh_ctx *ctx, const kh_http_request *req, json_t *body, const char *rest,
                     kh_http_reply *reply);

#endif
