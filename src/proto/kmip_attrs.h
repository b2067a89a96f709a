/*
 * kmip_attrs.h - KMIP 1.x Attribute{Name, Index, Value} and 2.x Attributes
 * forms to and from the canonical form of ops/attrs.h.
 */
#ifndef KH_PROTO_KMIP_ATTRS_H
#define KH_PROTO_KMIP_ATTRS_H

#include "ops/ops.h"
#include "proto/kmip.h"
#include "proto/ttlv.h"

/* 1.x Attribute structure -> canonical item (caller frees); *index gets the
 * AttributeIndex or -1 when absent. */
kh_err kh_kmip_attr_from_v1(const kh_ttlv *attribute, kh_ttlv **out, int32_t *index) KH_MUST_CHECK;
/* canonical item -> 1.x Attribute structure; index < 1 is omitted. */
kh_ttlv *kh_kmip_attr_to_v1(const kh_ttlv *canon, int32_t index);

/* Collect the attributes of a request payload into one canonical Attributes
 * structure: 1.x TemplateAttribute{Attribute*} / bare Attribute* children,
 * 2.x Attributes{...}. container_tag is TemplateAttribute (or
 * Private/PublicKeyTemplateAttribute) for 1.x and Attributes for 2.x; bare
 * children with tag Attribute are read too when bare_ok. */
kh_err kh_kmip_attrs_in(const kh_kmip_call *c, const kh_ttlv *payload, uint32_t container_tag,
                        int bare_ok, kh_ttlv **out) KH_MUST_CHECK;

/* One of the three attribute sets of CreateKeyPair / ReKeyKeyPair,
 * canonical: 1.x carries a TemplateAttribute under v1_tag, 2.x a structure
 * of attributes under v2_tag; the other version's container is refused. */
kh_err kh_kmip_pair_attrs_in(kh_kmip_call *c, const kh_ttlv *p, uint32_t v1_tag, uint32_t v2_tag,
                             kh_ttlv **out) KH_MUST_CHECK;

/* 2.x AttributeReference (Enumeration of a tag, or a structure naming a
 * vendor attribute) or 1.x AttributeName -> reference. The name pointer
 * borrows from item. */
kh_err kh_kmip_attr_ref_in(const kh_ttlv *item, kh_attr_ref *ref) KH_MUST_CHECK;

/* Append the attributes of canonical set attrs to payload in the
 * version's form (1.x: Attribute* with indexes, 2.x: one Attributes). */
void kh_kmip_attrs_out(const kh_kmip_call *c, const kh_ttlv *attrs, kh_ttlv *payload);

#endif
