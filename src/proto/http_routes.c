/*
 * http_routes.c - the routes of the HTTPS listener and the KMIP JSON
 * endpoint.
 *
 * route() runs on the I/O thread and answers everything that needs neither
 * the store nor crypto (errors, /health, /metrics); POST /kmip/2_1 goes to
 * a worker. The KMIP JSON endpoint converts the body to a binary
 * RequestMessage and calls kh_kmip_handle_as, exactly as the binary
 * listener does, so both listeners share semantics, ops and objects; only
 * the envelope differs:
 *   - a whole RequestMessage gets a whole ResponseMessage (HTTP 200, item
 *     failures in band, as in binary KMIP);
 *   - one operation's payload ({"tag": "Create", ...}) is wrapped in a 2.1
 *     RequestMessage of one batch item; success returns the bare response
 *     payload ({"tag": "CreateResponse", ...}), failure the HTTP status of
 *     the kh_err with the item's ResultReason, as
 *     {"message", "result_status", "result_reason"};
 *   - a body that is not JSON TTLV gets HTTP 400 and a ResponseMessage
 *     with OperationFailed / InvalidMessage (DESIGN.md section 3).
 */
#include "proto/http_routes.h"

#include "common/log.h"
#include "common/metrics.h"
#include "proto/admin.h"
#include "proto/authn.h"
#include "proto/kes.h"
#include "proto/kmip.h"
#include "proto/kmip_consts.h"
#include "proto/kmip_json.h"
#include "proto/kmip_names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define JSON_PROTOCOL "kmip_json"

static void message_json(kh_buf *out, const char *msg)
{
    kh_buf_append(out, "{\"message\":", 11);
    kh_json_append_string(out, msg, strlen(msg));
    kh_buf_append_u8(out, '}');
}

static void set_error(kh_http_reply *r, int status, kh_err err, const char *msg)
{
    kh_buf_clear(&r->body);
    r->status = status;
    r->result = err;
    r->content_type = NULL;
    message_json(&r->body, msg);
}

/* ---- KMIP JSON -------------------------------------------------------- */

static int invalid_message(const char *detail, kh_buf *out, kh_err *result)
{
    kh_metrics_count(JSON_PROTOCOL, NULL, KH_ERR_DECODE);
    kh_ttlv *msg = kh_ttlv_new_struct(KH_TAG_RESPONSE_MESSAGE);
    kh_ttlv *hdr = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_RESPONSE_HEADER));
    kh_ttlv_add_take(hdr, kh_kmip_version_item((kh_kmip_version){2, 1}));
    kh_ttlv_add_take(hdr, kh_ttlv_new_datetime(KH_TAG_TIME_STAMP, (int64_t)time(NULL)));
    kh_ttlv_add_take(hdr, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, 1));
    kh_ttlv *bi = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_RESULT_STATUS, KH_RESULT_STATUS_OPERATION_FAILED));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_RESULT_REASON, KH_RESULT_REASON_INVALID_MESSAGE));
    char text[KH_KMIP_JSON_DETAIL_MAX + 32];
    snprintf(text, sizeof(text), "%s: %s", kh_strerror(KH_ERR_DECODE), detail);
    kh_ttlv_add_take(bi, kh_ttlv_new_text(KH_TAG_RESULT_MESSAGE, text));
    kh_buf_clear(out);
    kh_kmip_json_encode(msg, NULL, out);
    kh_ttlv_free(&msg);
    *result = KH_ERR_DECODE;
    return 400;
}

/* Run one binary request; the decoded response tree, or NULL (a bug). */
static kh_ttlv *run_binary(kh_service *svc, const kh_who *who, const char *client_addr,
                           const kh_ttlv *req)
{
    kh_buf bin = {0}, reply = {0};
    kh_ttlv *resp = NULL;
    kh_ttlv_encode(req, &bin);
    kh_kmip_handle_who(svc, who, client_addr, JSON_PROTOCOL, bin.data, bin.len, &reply);
    if (kh_ttlv_decode(reply.data, reply.len, &kh_ttlv_default_limits, &resp) != KH_OK)
        resp = NULL;
    kh_buf_free(&bin);
    kh_buf_free(&reply);
    return resp;
}

static kh_ttlv *wrap_payload(uint32_t op, kh_ttlv *payload)
{
    kh_ttlv *msg = kh_ttlv_new_struct(KH_TAG_REQUEST_MESSAGE);
    kh_ttlv *hdr = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_REQUEST_HEADER));
    kh_ttlv_add_take(hdr, kh_kmip_version_item((kh_kmip_version){2, 1}));
    kh_ttlv_add_take(hdr, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, 1));
    kh_ttlv *bi = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, op));
    kh_ttlv_add_take(bi, payload);
    return msg;
}

static kh_err err_of_reason(uint32_t reason)
{
    for (int e = 1; e < KH_ERR_MAX_; e++)
        if (kh_err_kmip_reason((kh_err)e) == reason)
            return (kh_err)e;
    return KH_ERR_INTERNAL;
}

/* The bare form's answer from a one-item ResponseMessage. */
static int bare_reply(uint32_t op, const kh_ttlv *resp, kh_buf *out, kh_err *result)
{
    const kh_ttlv *bi = kh_ttlv_find(resp, KH_TAG_BATCH_ITEM);
    uint32_t status = KH_RESULT_STATUS_OPERATION_FAILED, reason = KH_RESULT_REASON_GENERAL_FAILURE;
    const char *msg = NULL;
    if (!bi || kh_ttlv_get_enum(bi, KH_TAG_RESULT_STATUS, &status) != KH_OK)
        status = KH_RESULT_STATUS_OPERATION_FAILED;
    if (status == KH_RESULT_STATUS_SUCCESS) {
        char name[80];
        const kh_ttlv *p = kh_ttlv_find(bi, KH_TAG_RESPONSE_PAYLOAD);
        kh_ttlv *empty = p ? NULL : kh_ttlv_new_struct(KH_TAG_RESPONSE_PAYLOAD);
        snprintf(name, sizeof(name), "%sResponse", kh_kmip_enum_name_of(KH_TAG_OPERATION, op));
        kh_kmip_json_encode(p ? p : empty, name, out);
        kh_ttlv_free(&empty);
        *result = KH_OK;
        return 200;
    }
    if (bi && kh_ttlv_get_enum(bi, KH_TAG_RESULT_REASON, &reason) != KH_OK)
        reason = KH_RESULT_REASON_GENERAL_FAILURE;
    if (bi && kh_ttlv_get_text(bi, KH_TAG_RESULT_MESSAGE, &msg) != KH_OK)
        msg = NULL;
    *result = err_of_reason(reason);
    const char *rs = kh_kmip_enum_name_of(KH_TAG_RESULT_STATUS, status);
    const char *rr = kh_kmip_enum_name_of(KH_TAG_RESULT_REASON, reason);
    kh_buf_append(out, "{\"message\":", 11);
    msg = msg ? msg : kh_strerror(*result);
    kh_json_append_string(out, msg, strlen(msg));
    kh_buf_append(out, ",\"result_status\":", 17);
    kh_json_append_string(out, rs ? rs : "OperationFailed", strlen(rs ? rs : "OperationFailed"));
    kh_buf_append(out, ",\"result_reason\":", 17);
    kh_json_append_string(out, rr ? rr : "GeneralFailure", strlen(rr ? rr : "GeneralFailure"));
    kh_buf_append_u8(out, '}');
    return kh_err_http_status(*result);
}

int kh_kmip_json_endpoint(kh_service *svc, const char *principal, const uint8_t *body, size_t len,
                          kh_buf *out, kh_err *result)
{
    return kh_kmip_json_endpoint_from(svc, principal, NULL, body, len, out, result);
}

static int json_endpoint(kh_service *svc, const kh_who *who, const char *client_addr,
                         const uint8_t *body, size_t len, kh_buf *out, kh_err *result);

int kh_kmip_json_endpoint_from(kh_service *svc, const char *principal, const char *client_addr,
                               const uint8_t *body, size_t len, kh_buf *out, kh_err *result)
{
    kh_who who;
    memset(&who, 0, sizeof(who));
    snprintf(who.principal, sizeof(who.principal), "%s", principal);
    return json_endpoint(svc, &who, client_addr, body, len, out, result);
}

static int json_endpoint(kh_service *svc, const kh_who *who, const char *client_addr,
                         const uint8_t *body, size_t len, kh_buf *out, kh_err *result)
{
    char detail[KH_KMIP_JSON_DETAIL_MAX] = "";
    json_t *root = kh_kmip_json_parse((const char *)body, len);
    const json_t *jt = root ? json_object_get(root, "tag") : NULL;
    if (!root || !json_is_object(root) || !json_is_string(jt)) {
        json_decref(root);
        return invalid_message(root ? "expected an item with a \"tag\"" : "not JSON", out, result);
    }
    uint32_t op = 0;
    int whole = strcmp(json_string_value(jt), "RequestMessage") == 0;
    if (!whole && !kh_kmip_enum_by_name(KH_TAG_OPERATION, json_string_value(jt),
                                        json_string_length(jt), &op)) {
        json_decref(root);
        return invalid_message("the top tag is neither RequestMessage nor an operation", out,
                               result);
    }
    kh_ttlv *req = NULL;
    kh_err err = kh_kmip_json_from_value(root, whole ? 0 : KH_TAG_REQUEST_PAYLOAD, &req, detail);
    json_decref(root);
    if (err != KH_OK)
        return invalid_message(detail, out, result);
    if (!whole)
        req = wrap_payload(op, req);
    kh_ttlv *resp = run_binary(svc, who, client_addr, req);
    kh_ttlv_free(&req);
    int status = 500;
    *result = KH_ERR_INTERNAL;
    if (resp && whole) {
        kh_kmip_json_encode(resp, NULL, out);
        *result = KH_OK;
        status = 200;
    } else if (resp) {
        status = bare_reply(op, resp, out, result);
    } else {
        message_json(out, kh_strerror(KH_ERR_INTERNAL));
    }
    kh_ttlv_free(&resp);
    return status;
}

/* ---- routes ----------------------------------------------------------- */

static int is_json(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    if (strncasecmp(ct, want, n) != 0)
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static bool method_ok(const kh_http_request *req, kh_http_reply *r, kh_http_method m1,
                      kh_http_method m2, const char *allow)
{
    if (req->method == m1 || req->method == m2)
        return true;
    set_error(r, 405, KH_ERR_UNSUPPORTED, "method not allowed");
    r->allow = allow;
    return false;
}

static bool route_cb(void *arg, const kh_http_request *req, kh_http_reply *r)
{
    (void)arg;
    if (strcmp(req->path, "/health") == 0) {
        r->label = "health";
        if (method_ok(req, r, KH_HTTP_GET, KH_HTTP_HEAD, "GET, HEAD")) {
            r->status = 200;
            kh_buf_append(&r->body, "{\"status\":\"ok\"}", 15);
        }
        return true;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        r->label = "metrics";
        if (method_ok(req, r, KH_HTTP_GET, KH_HTTP_HEAD, "GET, HEAD")) {
            r->status = 200;
            r->content_type = "text/plain; version=0.0.4; charset=utf-8";
            kh_metrics_render(&req->gauges, &r->body);
        }
        return true;
    }
    if (strcmp(req->path, "/kmip/2_1") == 0) {
        r->label = "kmip_2_1";
        if (!method_ok(req, r, KH_HTTP_POST, KH_HTTP_POST, "POST"))
            return true;
        if (!is_json(req->content_type)) {
            set_error(r, 415, KH_ERR_UNSUPPORTED, "Content-Type must be application/json");
            return true;
        }
        return false; /* to a worker */
    }
    if (kh_admin_owns_path(req->path)) {
        r->label = "admin";
        return false; /* docs/admin-api.md; authorized on the worker */
    }
    if (kh_kes_owns_path(req->path))
        return kh_kes_route(req, r); /* /version, /v1/... (docs/kes.md) */
    r->label = "unknown";
    set_error(r, 404, KH_ERR_NOT_FOUND, "no such route");
    return true;
}

static void handle_cb(void *arg, const kh_http_request *req, kh_http_reply *r)
{
    kh_service *svc = arg;
    if (kh_admin_owns_path(req->path)) {
        kh_admin_handle(svc, req, r);
        return;
    }
    kh_who who;
    char addr[64];
    const char *why = NULL;
    kh_err err = kh_authn_who_why(svc, req, &who, &why);
    if (err != KH_OK) {
        set_error(r, err == KH_ERR_AUTH ? 401 : kh_err_http_status(err), err,
                  why ? why : kh_strerror(err));
        return;
    }
    kh_authn_client_addr(svc->authn, req, addr, sizeof(addr));
    if (strcmp(addr, req->peer.addr) != 0)
        kh_debug("https: %s via proxy %s (%s)", addr, req->peer.addr,
                 kh_authn_client_proto(svc->authn, req));
    if (kh_kes_owns_path(req->path)) {
        kh_kes_handle(svc, who.principal, req, r);
        return;
    }
    r->status = json_endpoint(svc, &who, addr, req->body.data, req->body.len, &r->body, &r->result);
}

static void error_cb(void *arg, kh_err err, kh_http_reply *r)
{
    (void)arg;
    set_error(r, kh_err_http_status(err), err, kh_strerror(err));
}

kh_http_handler kh_http_routes_handler(kh_service *svc)
{
    kh_http_handler h = {route_cb, handle_cb, error_cb, svc};
    return h;
}
