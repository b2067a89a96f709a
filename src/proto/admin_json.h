/*
 * admin_json.h - the replies every admin API file (admin.c, admin_realms.c,
 * admin_kes.c) writes: JSON bodies, {"message": ...} errors with their
 * status, 405 with Allow, and times as ISO 8601; and how they read a
 * percent-encoded path segment.
 */
#ifndef KH_PROTO_ADMIN_JSON_H
#define KH_PROTO_ADMIN_JSON_H

#include "common/err.h"
#include "net/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* j (taken; NULL = json_pack refused a value, answered 500) as r's body
 * with status. */
void kh_admin_reply(kh_http_reply *r, int status, json_t *j);
/* {"message": message or kh_strerror(err)} with status, or when status is
 * 0 the kh_err's (common/err.h); r->result = err. */
void kh_admin_fail(kh_http_reply *r, kh_err err, int status, const char *message);
/* 405 "method not allowed" with an Allow header (a static string). */
void kh_admin_not_allowed(kh_http_reply *r, const char *allow);
/* Percent-decode a path segment in place; false on a malformed escape or
 * an encoded NUL. */
bool kh_admin_pct_decode(char *s);
/* "YYYY-MM-DDTHH:MM:SSZ" for unix seconds t; null for 0. */
json_t *kh_admin_time(int64_t t);

#endif
