/*
 * kmip_keyops.h - the KMIP operations that make keys out of keys (ReKey,
 * ReKeyKeyPair, DeriveKey): one family table for kmip_dispatch.c; and the
 * part of Get that asks for another key format or for wrapping, which
 * kmip_ops.c's Get hands over to this file.
 */
#ifndef KH_PROTO_KMIP_KEYOPS_H
#define KH_PROTO_KMIP_KEYOPS_H

#include "proto/kmip_dispatch.h"

extern const kh_kmip_op kh_kmip_keyops_ops[];
extern const size_t kh_kmip_keyops_ops_count;

/* True when a Get payload asks for more than the object as stored. */
bool kh_kmip_get_wants_keyops(const kh_ttlv *payload);

/* Get uid as payload's KeyFormatType / KeyWrappingSpecification ask;
 * caller frees *obj. */
kh_err kh_kmip_get_keyops(kh_kmip_call *c, const kh_ttlv *payload, const char *uid,
                          uint32_t *object_type, kh_ttlv **obj) KH_MUST_CHECK;

#endif
