/*
 * kmip.c - the KMIP message layer: headers, batches, per-item results.
 *
 * Operation payloads are handled in kmip_ops.c; this file only knows the
 * envelope. The response always uses the protocol version of the request.
 */
#include "proto/kmip.h"

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "ops/audit.h"
#include "ops/authz.h"
#include "proto/kmip_consts.h"
#include "proto/kmip_names.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const kh_kmip_version kh_kmip_versions[] = {
    {2, 1}, {2, 0}, {1, 4}, {1, 3}, {1, 2}, {1, 1}, {1, 0},
};
const size_t kh_kmip_versions_count = sizeof(kh_kmip_versions) / sizeof(kh_kmip_versions[0]);

kh_ttlv *kh_kmip_version_item(kh_kmip_version v)
{
    kh_ttlv *pv = kh_ttlv_new_struct(KH_TAG_PROTOCOL_VERSION);
    kh_ttlv_add_take(pv, kh_ttlv_new_int(KH_TAG_PROTOCOL_VERSION_MAJOR, v.major));
    kh_ttlv_add_take(pv, kh_ttlv_new_int(KH_TAG_PROTOCOL_VERSION_MINOR, v.minor));
    return pv;
}

static kh_ttlv *new_response(kh_kmip_version v, int64_t now)
{
    kh_ttlv *msg = kh_ttlv_new_struct(KH_TAG_RESPONSE_MESSAGE);
    kh_ttlv *hdr = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_RESPONSE_HEADER));
    kh_ttlv_add_take(hdr, kh_kmip_version_item(v));
    kh_ttlv_add_take(hdr, kh_ttlv_new_datetime(KH_TAG_TIME_STAMP, now));
    kh_ttlv_add_take(hdr, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, 0));
    return msg;
}

static void set_batch_count(kh_ttlv *msg)
{
    kh_ttlv *hdr = kh_ttlv_find(msg, KH_TAG_RESPONSE_HEADER);
    kh_ttlv *bc = kh_ttlv_find(hdr, KH_TAG_BATCH_COUNT);
    bc->num = (int64_t)kh_ttlv_count(msg, KH_TAG_BATCH_ITEM);
}

static kh_ttlv *failed_item(uint32_t op, kh_err err, const char *detail)
{
    kh_ttlv *bi = kh_ttlv_new_struct(KH_TAG_BATCH_ITEM);
    if (op)
        kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, op));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_RESULT_STATUS, KH_RESULT_STATUS_OPERATION_FAILED));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_RESULT_REASON, kh_err_kmip_reason(err)));
    char msg[160];
    snprintf(msg, sizeof(msg), "%s%s%s", kh_strerror(err), detail ? ": " : "",
             detail ? detail : "");
    kh_ttlv_add_take(bi, kh_ttlv_new_text(KH_TAG_RESULT_MESSAGE, msg));
    return bi;
}

static void encode_free(kh_ttlv **msg, kh_buf *reply)
{
    kh_buf_clear(reply);
    kh_ttlv_encode(*msg, reply);
    kh_ttlv_free(msg);
}

/* A whole-message failure: one failed batch item. */
static void message_failure(const char *proto, kh_kmip_version v, kh_err err, const char *detail,
                            kh_buf *reply)
{
    kh_metrics_count(proto, NULL, err);
    kh_ttlv *msg = new_response(v, (int64_t)time(NULL));
    kh_ttlv_add_take(msg, failed_item(0, err, detail));
    set_batch_count(msg);
    encode_free(&msg, reply);
}

void kh_kmip_error_reply(kh_err err, kh_buf *reply)
{
    kh_kmip_version v = {1, 0};
    message_failure("kmip", v, err, err == KH_ERR_BUSY ? NULL : "request rejected before decoding",
                    reply);
}

kh_err kh_kmip_version_parse(const kh_ttlv *pv, kh_kmip_version *v)
{
    if (!pv || pv->type != KH_TTLV_STRUCTURE ||
        kh_ttlv_get_int(pv, KH_TAG_PROTOCOL_VERSION_MAJOR, &v->major) != KH_OK ||
        kh_ttlv_get_int(pv, KH_TAG_PROTOCOL_VERSION_MINOR, &v->minor) != KH_OK)
        return KH_ERR_DECODE;
    return KH_OK;
}

bool kh_kmip_version_supported(kh_kmip_version v)
{
    for (size_t i = 0; i < kh_kmip_versions_count; i++)
        if (kh_kmip_versions[i].major == v.major && kh_kmip_versions[i].minor == v.minor)
            return true;
    return false;
}

kh_err kh_kmip_check_tags(kh_kmip_call *c, const kh_ttlv *s, const uint32_t *allowed, size_t n)
{
    for (size_t i = 0; i < s->nkids; i++) {
        size_t k = 0;
        while (k < n && allowed[k] != s->kids[i]->tag)
            k++;
        if (k == n) {
            snprintf(c->detail, sizeof(c->detail), "unexpected tag 0x%06X", s->kids[i]->tag);
            c->result_message = c->detail;
            return KH_ERR_DECODE;
        }
    }
    return KH_OK;
}

static const uint32_t header_tags[] = {
    KH_TAG_PROTOCOL_VERSION,
    KH_TAG_MAXIMUM_RESPONSE_SIZE,
    KH_TAG_CLIENT_CORRELATION_VALUE,
    KH_TAG_SERVER_CORRELATION_VALUE,
    KH_TAG_ASYNCHRONOUS_INDICATOR,
    KH_TAG_ATTESTATION_CAPABLE_INDICATOR,
    KH_TAG_ATTESTATION_TYPE,
    KH_TAG_AUTHENTICATION,
    KH_TAG_BATCH_ERROR_CONTINUATION_OPTION,
    KH_TAG_BATCH_ORDER_OPTION,
    KH_TAG_TIME_STAMP,
    KH_TAG_BATCH_COUNT,
};
static const uint32_t item_tags[] = {KH_TAG_OPERATION, KH_TAG_UNIQUE_BATCH_ITEM_ID,
                                     KH_TAG_REQUEST_PAYLOAD, KH_TAG_MESSAGE_EXTENSION,
                                     KH_TAG_EPHEMERAL};
static const uint32_t message_tags[] = {KH_TAG_REQUEST_HEADER, KH_TAG_BATCH_ITEM};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static kh_ttlv *run_item(kh_kmip_call *c, const kh_ttlv *item, kh_err *result)
{
    uint32_t op = 0;
    const kh_ttlv *payload = kh_ttlv_find(item, KH_TAG_REQUEST_PAYLOAD);
    const kh_ttlv *bid = kh_ttlv_find(item, KH_TAG_UNIQUE_BATCH_ITEM_ID);
    kh_err err = kh_ttlv_get_enum(item, KH_TAG_OPERATION, &op);
    if (err == KH_OK && (!payload || payload->type != KH_TTLV_STRUCTURE))
        err = KH_ERR_DECODE;
    if (err == KH_OK && bid && bid->type != KH_TTLV_BYTE_STRING)
        err = KH_ERR_DECODE;
    kh_ttlv *resp = kh_ttlv_new_struct(KH_TAG_RESPONSE_PAYLOAD);
    c->result_message = NULL;
    if (err != KH_OK)
        err = KH_ERR_DECODE;
    if (err == KH_OK)
        err = kh_kmip_check_tags(c, item, item_tags, COUNT(item_tags));
    c->ctx->perm = kh_authz_perm_of_kmip_op(op); /* what kh_object_load checks */
    if (err == KH_OK)
        err = kh_kmip_dispatch(c, op, payload, resp);
    kh_ttlv *bi;
    if (err == KH_OK) {
        bi = kh_ttlv_new_struct(KH_TAG_BATCH_ITEM);
        kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, op));
        kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_RESULT_STATUS, KH_RESULT_STATUS_SUCCESS));
        kh_ttlv_add_take(bi, resp);
        resp = NULL;
    } else {
        bi = failed_item(op, err, c->result_message);
    }
    kh_ttlv_free(&resp);
    if (bid) /* the batch item id goes right after the operation */
        kh_ttlv_add_take(bi, kh_ttlv_dup(bid));
    if (bid && bi->nkids > 2) {
        kh_ttlv *moved = bi->kids[bi->nkids - 1];
        memmove(&bi->kids[2], &bi->kids[1], (bi->nkids - 2) * sizeof(kh_ttlv *));
        bi->kids[1] = moved;
    }
    *result = err;
    return bi;
}

static kh_err check_header(const kh_ttlv *req, const kh_ttlv **hdr, uint32_t *on_error)
{
    *hdr = kh_ttlv_find(req, KH_TAG_REQUEST_HEADER);
    if (req->tag != KH_TAG_REQUEST_MESSAGE || !*hdr || (*hdr)->type != KH_TTLV_STRUCTURE)
        return KH_ERR_DECODE;
    int32_t count;
    if (kh_ttlv_get_int(*hdr, KH_TAG_BATCH_COUNT, &count) != KH_OK)
        return KH_ERR_DECODE;
    if (count < 1 || (size_t)count != kh_ttlv_count(req, KH_TAG_BATCH_ITEM))
        return KH_ERR_DECODE;
    const kh_ttlv *opt = kh_ttlv_find(*hdr, KH_TAG_BATCH_ERROR_CONTINUATION_OPTION);
    *on_error = KH_BATCH_ERROR_CONTINUATION_OPTION_STOP;
    if (opt) {
        if (opt->type != KH_TTLV_ENUMERATION)
            return KH_ERR_DECODE;
        *on_error = (uint32_t)opt->num;
    }
    return KH_OK;
}

/* Metrics: one count per batch item, labelled with its operation. */
static void count_item(const char *proto, const kh_ttlv *bi, kh_err err)
{
    const kh_ttlv *op = kh_ttlv_find(bi, KH_TAG_OPERATION);
    const char *name = op ? kh_kmip_enum_name_of(KH_TAG_OPERATION, (uint32_t)op->num) : NULL;
    kh_metrics_count(proto, op ? (name ? name : "unknown") : NULL, err);
}

/* The audit log's operation name of one batch item. */
static const char *audit_op_name(const kh_ttlv *item)
{
    const kh_ttlv *op = kh_ttlv_find(item, KH_TAG_OPERATION);
    const char *name = op && op->type == KH_TTLV_ENUMERATION
                           ? kh_kmip_enum_name_of(KH_TAG_OPERATION, (uint32_t)op->num)
                           : NULL;
    return name ? name : (op ? "unknown" : "");
}

/* The uid a batch item's request names, or NULL. */
static const char *audit_request_uid(const kh_ttlv *item)
{
    const kh_ttlv *req = kh_ttlv_find(item, KH_TAG_REQUEST_PAYLOAD);
    const kh_ttlv *uid =
        req && req->type == KH_TTLV_STRUCTURE ? kh_ttlv_find(req, KH_TAG_UNIQUE_IDENTIFIER) : NULL;
    return uid && uid->type == KH_TTLV_TEXT_STRING ? (const char *)uid->data : NULL;
}

/* The audit log's object of one batch item: the uid the request names,
 * else the one uid its response names (Create, Register), else none. A
 * write that carried the row chose the same (ops/audit.h). */
static void audit_item(kh_ctx *ctx, kh_audit_pending *p, const kh_ttlv *item, const kh_ttlv *bi,
                       kh_err err)
{
    const char *uid_text = audit_request_uid(item);
    const kh_ttlv *resp = kh_ttlv_find(bi, KH_TAG_RESPONSE_PAYLOAD);
    if (!uid_text && resp && kh_ttlv_count(resp, KH_TAG_UNIQUE_IDENTIFIER) == 1) {
        const kh_ttlv *uid = kh_ttlv_find(resp, KH_TAG_UNIQUE_IDENTIFIER);
        if (uid->type == KH_TTLV_TEXT_STRING)
            uid_text = (const char *)uid->data;
    }
    (void)kh_audit_finish(ctx, p, audit_op_name(item), uid_text ? uid_text : "", err);
}

/* A request refused as a whole: audited as operation "RequestMessage". */
static void refuse(const kh_ctx *ctx, const char *proto, kh_kmip_version v, kh_err err,
                   const char *detail, kh_buf *reply)
{
    (void)kh_audit_record(ctx, "RequestMessage", "", err);
    message_failure(proto, v, err, detail, reply);
}

/* auth: KH_OK, or why the caller did not authenticate (then the whole
 * message is refused with that reason once its version is known). */
static void handle_message(kh_service *svc, const kh_who *who, kh_err auth, const char *client_addr,
                           const char *proto, const uint8_t *msg, size_t len, kh_buf *reply)
{
    kh_kmip_version v = {1, 0};
    kh_ttlv *req = NULL;
    kh_ctx ctx = {.principal = who->principal,
                  .now = (int64_t)time(NULL),
                  .svc = svc,
                  .client_addr = client_addr,
                  .perm = 0,
                  .identity = who->user_id[0] ? who->identity : NULL};
    kh_err err = kh_ttlv_decode(msg, len, &kh_ttlv_default_limits, &req);
    if (err != KH_OK) {
        refuse(&ctx, proto, v, err, "request does not decode as TTLV", reply);
        return;
    }
    const kh_ttlv *hdr = NULL;
    uint32_t on_error = 0;
    if ((err = check_header(req, &hdr, &on_error)) != KH_OK ||
        (err = kh_kmip_version_parse(kh_ttlv_find(hdr, KH_TAG_PROTOCOL_VERSION), &v)) != KH_OK) {
        kh_ttlv_free(&req);
        refuse(&ctx, proto, v, err, "bad request header", reply);
        return;
    }
    if (auth != KH_OK) {
        kh_ttlv_free(&req);
        refuse(&ctx, proto, v, auth, NULL, reply);
        return;
    }
    if (!kh_kmip_version_supported(v)) {
        kh_kmip_version ours = v.major >= 2 ? kh_kmip_versions[0] : (kh_kmip_version){1, 4};
        kh_ttlv_free(&req);
        refuse(&ctx, proto, ours, KH_ERR_VERSION, NULL, reply);
        return;
    }
    kh_kmip_call call = {&ctx, v, NULL, NULL, {0}};
    if (kh_kmip_check_tags(&call, req, message_tags, COUNT(message_tags)) != KH_OK ||
        kh_kmip_check_tags(&call, hdr, header_tags, COUNT(header_tags)) != KH_OK) {
        kh_ttlv_free(&req);
        refuse(&ctx, proto, v, KH_ERR_DECODE, call.detail, reply);
        return;
    }
    kh_ttlv *resp = new_response(v, ctx.now);
    kh_audit_pending pending;
    for (size_t i = 0; i < req->nkids; i++) {
        if (req->kids[i]->tag != KH_TAG_BATCH_ITEM)
            continue;
        kh_err item_err;
        /* a write of the operation may carry its audit row (ops/audit.h) */
        kh_audit_prepare(&ctx, &pending, audit_op_name(req->kids[i]),
                         audit_request_uid(req->kids[i]));
        ctx.audit = &pending;
        kh_ttlv *bi = kh_ttlv_add_take(resp, run_item(&call, req->kids[i], &item_err));
        ctx.audit = NULL;
        count_item(proto, bi, item_err);
        audit_item(&ctx, &pending, req->kids[i], bi, item_err);
        if (item_err != KH_OK && on_error != KH_BATCH_ERROR_CONTINUATION_OPTION_CONTINUE)
            break; /* Stop (and Undo, which we cannot honour) end the batch */
    }
    set_batch_count(resp);
    free(call.id_placeholder);
    kh_ttlv_free(&req);
    encode_free(&resp, reply);
}

void kh_kmip_handle_who(kh_service *svc, const kh_who *who, const char *client_addr,
                        const char *protocol, const uint8_t *msg, size_t len, kh_buf *reply)
{
    double t0 = kh_metrics_now();
    handle_message(svc, who, KH_OK, client_addr ? client_addr : "", protocol, msg, len, reply);
    kh_metrics_observe(protocol, kh_metrics_now() - t0);
}

void kh_kmip_handle_as(kh_service *svc, const char *principal, const char *client_addr,
                       const char *protocol, const uint8_t *msg, size_t len, kh_buf *reply)
{
    kh_who who;
    memset(&who, 0, sizeof(who));
    snprintf(who.principal, sizeof(who.principal), "%s", principal);
    kh_kmip_handle_who(svc, &who, client_addr, protocol, msg, len, reply);
}

void kh_kmip_handle(kh_service *svc, const char *principal, const uint8_t *msg, size_t len,
                    kh_buf *reply)
{
    kh_kmip_handle_as(svc, principal, NULL, "kmip", msg, len, reply);
}

static void handle_cb(void *arg, const kh_peer *peer, const uint8_t *msg, size_t len, kh_buf *reply)
{
    kh_service *svc = arg;
    kh_who who;
    memset(&who, 0, sizeof(who));
    snprintf(who.principal, sizeof(who.principal), "%s",
             peer->principal[0] ? peer->principal : "admin");
    kh_err auth = KH_OK;
    if (peer->principal[0] && svc->store) {
        /* The same identity -> user mapping as HTTPS (proto/authn.h), so a
         * user owns the same objects on both listeners. A revoked user's
         * certificate is refused (AuthenticationNotSuccessful). */
        char identity[KH_WHO_MAX];
        snprintf(identity, sizeof(identity), "tls:%s", peer->principal);
        kh_who mapped;
        auth = kh_who_resolve(svc->store, identity, &mapped);
        if (auth == KH_OK)
            who = mapped;
    }
    handle_message(svc, &who, auth, peer->addr, "kmip", msg, len, reply);
    /* the listener observes the latency, up to the reply (metrics_name) */
}

static void error_cb(void *arg, kh_err err, kh_buf *reply)
{
    (void)arg;
    kh_kmip_error_reply(err, reply);
}

static kh_err frame_cb(const uint8_t *hdr, size_t max, size_t *total)
{
    return kh_ttlv_frame_len(hdr, max, total);
}

kh_proto_handler kh_kmip_proto_handler(kh_service *svc)
{
    kh_proto_handler h = {KH_TTLV_HEADER_LEN, frame_cb, handle_cb, error_cb, svc, "kmip"};
    return h;
}
