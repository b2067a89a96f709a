/*
 * kmip_dispatch.h - tables of KMIP operations, one per family of
 * operations (core object management in kmip_ops.c, ...). Adding an
 * operation means adding a row to its family's table; adding a family means
 * adding its table to kmip_dispatch.c.
 */
#ifndef KH_PROTO_KMIP_DISPATCH_H
#define KH_PROTO_KMIP_DISPATCH_H

#include "proto/kmip.h"

typedef kh_err (*kh_kmip_op_fn)(kh_kmip_call *c, const kh_ttlv *payload, kh_ttlv *resp);

typedef struct kh_kmip_op {
    uint32_t op; /* KMIP Operation enumeration */
    kh_kmip_op_fn fn;
    const uint32_t *tags; /* the tags a request payload may hold */
    size_t ntags;
} kh_kmip_op;

/* A compound literal tag list and its length, for table rows. */
#define KH_TAGS(...)                                                                               \
    (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)

extern const kh_kmip_op kh_kmip_core_ops[];
extern const size_t kh_kmip_core_ops_count;

/* The object a payload names with tag, or the ID placeholder left by the
 * previous batch item when it names none (KH_ERR_MISSING_DATA if neither). */
kh_err kh_kmip_uid_in(kh_kmip_call *c, const kh_ttlv *p, uint32_t tag,
                      const char **uid) KH_MUST_CHECK;
/* Append uid to resp under tag; when placeholder, it also becomes the ID
 * placeholder for the next batch item. */
void kh_kmip_uid_out(kh_kmip_call *c, kh_ttlv *resp, uint32_t tag, const char *uid,
                     bool placeholder);

/* Every operation of every family that protocol version v defines, in
 * table order (for Query). */
size_t kh_kmip_operations(kh_kmip_version v, uint32_t *out, size_t max);

#endif
