/*
 * kmip_query.h - Query and DiscoverVersions: what the server says of itself.
 */
#ifndef KH_PROTO_KMIP_QUERY_H
#define KH_PROTO_KMIP_QUERY_H

#include "proto/kmip.h"

kh_err kh_kmip_op_query(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp) KH_MUST_CHECK;
kh_err kh_kmip_op_discover_versions(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp) KH_MUST_CHECK;

#endif
