/*
 * attrs.h - the KMIP attribute catalogue and the canonical attribute form.
 *
 * Canonically an attribute is one TTLV item tagged with the attribute's own
 * tag (KMIP 2.x style), e.g. CryptographicLength(Integer 256) or
 * Name{NameValue, NameType}. A custom attribute ("x-..."/"y-...") keeps the
 * 1.x shape Attribute{AttributeName, AttributeValue}. proto/ converts the
 * 1.x Attribute{AttributeName, AttributeIndex, AttributeValue} form to and
 * from this one using the catalogue's names.
 */
#ifndef KH_OPS_ATTRS_H
#define KH_OPS_ATTRS_H

#include "common/err.h"
#include "ops/ops.h"
#include "proto/ttlv.h"

#include <stdbool.h>
#include <stdint.h>

enum kh_attr_flags {
    KH_ATTR_MULTI = 1 << 0,     /* several instances allowed */
    KH_ATTR_SYNTH = 1 << 1,     /* derived from the object row, never stored */
    KH_ATTR_SERVER = 1 << 2,    /* set by the server only (read-only) */
    KH_ATTR_AT_CREATE = 1 << 3, /* a client may set it at Create/Register only */
    KH_ATTR_DELETABLE = 1 << 4, /* a client may delete it */
};

typedef struct kh_attr_def {
    const char *name; /* KMIP 1.x attribute name, e.g. "Cryptographic Length" */
    uint32_t tag;
    uint8_t type; /* enum kh_ttlv_type */
    unsigned flags;
} kh_attr_def;

const kh_attr_def *kh_attr_def_by_tag(uint32_t tag);
const kh_attr_def *kh_attr_def_by_name(const char *name);
/* Every catalogue entry, for GetAttributeList-style walks. */
extern const kh_attr_def kh_attr_defs[];
extern const size_t kh_attr_defs_count;

/* True for a client-defined attribute name ("x-..." or "y-..."). */
bool kh_attr_is_custom_name(const char *name);
/* Name of a canonical custom attribute item, or NULL. */
const char *kh_attr_custom_name(const kh_ttlv *a);
/* Build a canonical custom attribute: Attribute{AttributeName, value}
 * (value is retagged AttributeValue; takes ownership of value). */
kh_ttlv *kh_attr_custom_take(const char *name, kh_ttlv *value);

/* Check a canonical attribute item: known tag (or custom), right type.
 * *def gets the catalogue entry (NULL for custom). */
kh_err kh_attr_check(const kh_ttlv *a, const kh_attr_def **def) KH_MUST_CHECK;

/* True when item a is an instance of ref. */
bool kh_attr_matches(const kh_ttlv *a, const kh_attr_ref *ref);
/* The reference naming item a. */
kh_attr_ref kh_attr_ref_of(const kh_ttlv *a);
/* The index-th instance of ref in attrs (a structure), its position in
 * *pos (may be NULL); NULL when absent. */
kh_ttlv *kh_attr_find(const kh_ttlv *attrs, const kh_attr_ref *ref, int32_t index, size_t *pos);
size_t kh_attr_count(const kh_ttlv *attrs, const kh_attr_ref *ref);

#endif
