/*
 * kes_internal.h - what the files of the KES API share (kes.c routes and
 * key operations, kes_identity.c identity and policy answers). Not for use
 * outside src/proto/kes*.c.
 */
#ifndef KH_PROTO_KES_INTERNAL_H
#define KH_PROTO_KES_INTERNAL_H

#include "common/buf.h"
#include "common/err.h"
#include "net/http.h"
#include "ops/kes_policy.h"

#include <stdbool.h>
#include <stdint.h>

/* r = status with {"message": msg}, for metrics err. */
void kh_kes_fail(kh_http_reply *r, int status, kh_err err, const char *msg);
/* r = 200 with whatever body it holds. */
void kh_kes_ok(kh_http_reply *r);
/* s as a JSON string. */
void kh_kes_append_str(kh_buf *out, const char *s);

/* The identity and policy routes. pol == NULL on the HTTPS listener,
 * which has no policies: every caller is alone with its own keys. */
void kh_kes_reply_self(const kh_kes_policies *pol, const char *principal, kh_http_reply *r);
void kh_kes_reply_identity(const kh_kes_policies *pol, const char *principal, const char *id,
                           kh_http_reply *r);
void kh_kes_reply_identity_list(const kh_kes_policies *pol, const char *pattern, kh_http_reply *r);
/* describe ({"name", "created_at", "created_by"}) or, read, with its rules. */
void kh_kes_reply_policy(const kh_kes_policies *pol, const char *name, bool read, kh_http_reply *r);
void kh_kes_reply_policy_list(const kh_kes_policies *pol, const char *pattern, kh_http_reply *r);

/* /v1/log/audit or /v1/log/error (topic KH_HTTP_STREAM_*): r becomes an
 * open-ended NDJSON reply. pol == NULL: only the single-user admin. */
void kh_kes_reply_log(const kh_kes_policies *pol, const char *principal, int topic,
                      kh_http_reply *r);
/* Publish one audit event for a KES call answered with status after ns. */
void kh_kes_publish_audit(const kh_http_request *req, const char *principal, int status,
                          int64_t ns);

#endif
