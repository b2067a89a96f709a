/*
 * kes.h - the KES API (MinIO's Key Encryption Service, docs/kes.md):
 * /version and /v1/... on the HTTPS listener, JSON in and out, bytes as
 * base64, errors {"message": "..."} with KES's exact texts.
 *
 * http_routes.c hands over every path kh_kes_owns_path accepts:
 * kh_kes_route on the I/O thread (method and name checks, /version,
 * /v1/api, /v1/metrics), then kh_kes_handle on a worker for what touches
 * the store or keys. The key operations themselves are in ops/kes_ops.h.
 *
 * The KES listener (port 7373, kes_server.c) serves the same routes with
 * KES's rules: the caller is its certificate's identity, every route but
 * /version and /v1/identity/self/describe needs the caller's policy
 * (ops/kes_policy.h) to allow its path, and keys live in one namespace
 * (owner KH_KES_OWNER) shared by every identity a policy lets in.
 */
#ifndef KH_PROTO_KES_H
#define KH_PROTO_KES_H

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "net/http.h"
#include "ops/kes_policy.h"
#include "ops/ops.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "/version", or "/v1/..." except the admin API's "/v1/admin...". */
bool kh_kes_owns_path(const char *path);

/* I/O thread: true = reply filled in; false = run kh_kes_handle on a
 * worker. Sets reply->label for metrics in both cases. */
bool kh_kes_route(const kh_http_request *req, kh_http_reply *reply);

/* Worker thread, for a request kh_kes_route passed on. principal is the
 * caller (never NULL). */
void kh_kes_handle(kh_service *svc, const char *principal, const kh_http_request *req,
                   kh_http_reply *reply);

/* The same for the KES listener: every route but /version (and refusals)
 * goes to a worker, where the policy is checked first. */
bool kh_kes_listener_route(const kh_http_request *req, kh_http_reply *reply);
/* Worker thread, KES listener: principal is the certificate's identity. */
void kh_kes_listener_handle(kh_service *svc, const kh_kes_policies *pol, const char *principal,
                            const kh_http_request *req, kh_http_reply *reply);

/* What the KES listener serves with (borrowed; must outlive the server). */
typedef struct kh_kes_listener {
    kh_service *svc;
    const kh_kes_policies *policies;
    /* reloads policies when another node changed them; NULL = never */
    struct kh_kes_policy_db *policy_db;
} kh_kes_listener;
/* A kh_http_handler for net/: the KES routes only (others 404). */
kh_http_handler kh_kes_listener_handler(kh_kes_listener *l);

/* A log tap (common/log.h) that feeds warn and error lines to
 * /v1/log/error subscribers as {"message": ...}. */
void kh_kes_log_tap(kh_log_level lvl, const char *msg);

/* Standard base64 (RFC 4648 section 4, padded, as Go's encoding/base64
 * StdEncoding). */
void kh_kes_b64_append(kh_buf *out, const uint8_t *p, size_t n);
/* Decode len characters of s into out (at least len / 4 * 3 bytes); false
 * unless s is canonical padded base64. */
bool kh_kes_b64_decode(const char *s, size_t len, uint8_t *out, size_t *out_len);

#endif
