/*
 * kmip.h - KMIP request and response messages (versions 1.0 to 2.1).
 *
 * kh_kmip_handle takes one encoded RequestMessage and always produces a
 * ResponseMessage: a message that does not decode gets one batch item with
 * ResultStatus OperationFailed and ResultReason InvalidMessage, an unknown
 * operation gets OperationNotSupported, and so on. Nothing here writes to a
 * socket; net/ calls this through a kh_proto_handler.
 */
#ifndef KH_PROTO_KMIP_H
#define KH_PROTO_KMIP_H

#include "common/buf.h"
#include "common/err.h"
#include "net/server.h"
#include "ops/ops.h"
#include "ops/users.h"
#include "proto/ttlv.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct kh_kmip_version {
    int32_t major;
    int32_t minor;
} kh_kmip_version;

/* A ProtocolVersion structure for v. */
kh_ttlv *kh_kmip_version_item(kh_kmip_version v);

/* Read a ProtocolVersion structure; KH_ERR_DECODE when malformed. */
kh_err kh_kmip_version_parse(const kh_ttlv *pv, kh_kmip_version *v) KH_MUST_CHECK;
bool kh_kmip_version_supported(kh_kmip_version v);

/* Versions we speak, newest first. */
extern const kh_kmip_version kh_kmip_versions[];
extern const size_t kh_kmip_versions_count;

/* State shared by the operations of one request message. */
typedef struct kh_kmip_call {
    kh_ctx *ctx;
    kh_kmip_version version;
    char *id_placeholder;       /* uid produced by the previous batch item */
    const char *result_message; /* extra detail for a failure, or NULL */
    char detail[96];            /* storage for a formatted result_message */
} kh_kmip_call;

/* Fail with KH_ERR_DECODE (InvalidMessage) when structure s has a child
 * whose tag is not in allowed[0..n): KMIP messages are closed shapes, and a
 * field we do not know is a field we would silently ignore. */
kh_err kh_kmip_check_tags(kh_kmip_call *c, const kh_ttlv *s, const uint32_t *allowed,
                          size_t n) KH_MUST_CHECK;

static inline int kh_kmip_is_v2(const kh_kmip_call *c)
{
    return c->version.major >= 2;
}

/* Handle one encoded request for principal; reply gets the encoded
 * response. Counted in the metrics as protocol "kmip". Every batch item
 * (and a message refused whole) is appended to the audit log when
 * svc->audit. */
void kh_kmip_handle(kh_service *svc, const char *principal, const uint8_t *msg, size_t len,
                    kh_buf *reply);
/* The same from client_addr ("ip:port" of the peer, for the audit log; NULL
 * = unknown), counted as protocol (a static label such as "kmip_json"). */
void kh_kmip_handle_as(kh_service *svc, const char *principal, const char *client_addr,
                       const char *protocol, const uint8_t *msg, size_t len, kh_buf *reply);

/* The same for who (ops/users.h): its principal, and its identity in the
 * audit log when it is a registered user. */
void kh_kmip_handle_who(kh_service *svc, const kh_who *who, const char *client_addr,
                        const char *protocol, const uint8_t *msg, size_t len, kh_buf *reply);

/* A response for a message that could not be read at all (framing error,
 * too large, server busy). */
void kh_kmip_error_reply(kh_err err, kh_buf *reply);

/* A kh_proto_handler for net/ bound to svc. */
kh_proto_handler kh_kmip_proto_handler(kh_service *svc);

/* Execute one operation's request payload (proto/kmip_ops.c). resp is the
 * ResponsePayload structure to fill. */
kh_err kh_kmip_dispatch(kh_kmip_call *c, uint32_t operation, const kh_ttlv *payload,
                        kh_ttlv *resp) KH_MUST_CHECK;

#endif
