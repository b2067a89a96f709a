/*
 * bench_msgs.h - the KMIP messages the benchmark sends and the replies it
 * reads, built with keyhold's own TTLV builders.
 *
 * Every request is a KMIP 1.2 RequestMessage with one batch item: 1.2 is
 * what PyKMIP speaks by default, so the same bytes go to keyhold, to
 * pykmip-server and to the ceiling server. This is benchmark code, not part
 * of the product: it trusts the servers it talks to only as far as not
 * reading past a buffer.
 */
#ifndef KH_BENCH_MSGS_H
#define KH_BENCH_MSGS_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Create an AES-256 SymmetricKey usable for Encrypt and Decrypt; name may
 * be NULL (no Name attribute). */
void kh_bench_req_create(kh_buf *out, const char *name);
void kh_bench_req_get(kh_buf *out, const char *uid);
void kh_bench_req_activate(kh_buf *out, const char *uid);
/* Encrypt n bytes of fixed data with AES-GCM (16-byte tag); the server
 * picks the IV. */
void kh_bench_req_encrypt(kh_buf *out, const char *uid, size_t n);
/* Locate by Name (uninterpreted text string). */
void kh_bench_req_locate(kh_buf *out, const char *name);

/* A fixed, valid Get ResponseMessage (an AES-256 key in Raw format): what
 * the ceiling server answers to everything. */
void kh_bench_fixed_reply(kh_buf *out);

/* ResultStatus and ResultReason (0 when absent) of the first batch item of
 * an encoded ResponseMessage. Returns 0 on success, -1 when the message
 * does not have that shape. Walks the bytes without allocating. */
int kh_bench_result(const uint8_t *msg, size_t len, uint32_t *status, uint32_t *reason);

/* The first UniqueIdentifier in the first batch item's ResponsePayload as a
 * new string (caller frees), or NULL. */
char *kh_bench_result_uid(const uint8_t *msg, size_t len);

#endif
