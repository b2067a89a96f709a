/*
 * ttlv.h - the KMIP TTLV item tree and its binary codec.
 *
 * An item is tag (3 bytes), type (1), length (4), value padded to a multiple
 * of 8. Decoding is strict: the length must match the type, padding bytes
 * must be zero, depth and size are bounded, and nothing is read past the
 * buffer. Encoding is the exact inverse. The tree is also the neutral value
 * model for KMIP attributes and the JSON TTLV form.
 *
 * Byte and text values are wiped when the tree is freed: they may be keys.
 */
#ifndef KH_PROTO_TTLV_H
#define KH_PROTO_TTLV_H

#include "common/buf.h"
#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kh_ttlv_type {
    KH_TTLV_STRUCTURE = 0x01,
    KH_TTLV_INTEGER = 0x02,
    KH_TTLV_LONG_INTEGER = 0x03,
    KH_TTLV_BIG_INTEGER = 0x04,
    KH_TTLV_ENUMERATION = 0x05,
    KH_TTLV_BOOLEAN = 0x06,
    KH_TTLV_TEXT_STRING = 0x07,
    KH_TTLV_BYTE_STRING = 0x08,
    KH_TTLV_DATE_TIME = 0x09,
    KH_TTLV_INTERVAL = 0x0A,
    KH_TTLV_DATE_TIME_EXTENDED = 0x0B,
};

typedef struct kh_ttlv kh_ttlv;
struct kh_ttlv {
    uint32_t tag; /* 24-bit tag, e.g. 0x420078 */
    uint8_t type; /* enum kh_ttlv_type */
    /* Integer, Enumeration, Interval: low 32 bits (Integer sign-extended);
     * LongInteger, DateTime, DateTimeExtended: all 64; Boolean: 0 or 1. */
    int64_t num;
    /* TextString, ByteString, BigInteger: the value bytes. Text is also
     * NUL-terminated (data[len] == 0) for convenience; len excludes it. */
    uint8_t *data;
    size_t len;
    /* Structure: children in order. */
    kh_ttlv **kids;
    size_t nkids;
    size_t capkids;
};

typedef struct kh_ttlv_limits {
    size_t max_message; /* total encoded bytes, default 1 MiB */
    unsigned max_depth; /* structure nesting, default 32 */
    size_t max_items;   /* total items in the tree, default 65536 */
} kh_ttlv_limits;

/* The defaults described above. */
extern const kh_ttlv_limits kh_ttlv_default_limits;

/* Builders: never return NULL (allocation failure aborts). */
kh_ttlv *kh_ttlv_new_struct(uint32_t tag);
kh_ttlv *kh_ttlv_new_int(uint32_t tag, int32_t v);
kh_ttlv *kh_ttlv_new_long(uint32_t tag, int64_t v);
kh_ttlv *kh_ttlv_new_enum(uint32_t tag, uint32_t v);
kh_ttlv *kh_ttlv_new_bool(uint32_t tag, bool v);
kh_ttlv *kh_ttlv_new_text(uint32_t tag, const char *s);
kh_ttlv *kh_ttlv_new_text_n(uint32_t tag, const char *s, size_t n);
kh_ttlv *kh_ttlv_new_bytes(uint32_t tag, const uint8_t *p, size_t n);
kh_ttlv *kh_ttlv_new_bigint(uint32_t tag, const uint8_t *p, size_t n); /* n % 8 == 0 */
kh_ttlv *kh_ttlv_new_datetime(uint32_t tag, int64_t unix_seconds);
kh_ttlv *kh_ttlv_new_datetime_ext(uint32_t tag, int64_t unix_micros);
kh_ttlv *kh_ttlv_new_interval(uint32_t tag, uint32_t seconds);
/* Deep copy. */
kh_ttlv *kh_ttlv_dup(const kh_ttlv *t);

/* Append child to parent (a Structure), taking ownership of child; returns
 * child for chaining. */
kh_ttlv *kh_ttlv_add_take(kh_ttlv *parent, kh_ttlv *child);
/* Remove and free the child at index i. */
void kh_ttlv_remove(kh_ttlv *parent, size_t i);

/* First / n-th (0-based) direct child with tag, or NULL. */
kh_ttlv *kh_ttlv_find(const kh_ttlv *parent, uint32_t tag);
kh_ttlv *kh_ttlv_find_nth(const kh_ttlv *parent, uint32_t tag, size_t n);
size_t kh_ttlv_count(const kh_ttlv *parent, uint32_t tag);

/* Typed lookups of a direct child: KH_ERR_MISSING_DATA if absent,
 * KH_ERR_INVALID_FIELD if present with another type. */
kh_err kh_ttlv_get_enum(const kh_ttlv *parent, uint32_t tag, uint32_t *out) KH_MUST_CHECK;
kh_err kh_ttlv_get_int(const kh_ttlv *parent, uint32_t tag, int32_t *out) KH_MUST_CHECK;
kh_err kh_ttlv_get_text(const kh_ttlv *parent, uint32_t tag, const char **out) KH_MUST_CHECK;

/* Free the tree, wiping every value; sets *t to NULL; accepts NULL. */
void kh_ttlv_free(kh_ttlv **t);

/* Deep equality (tag, type, value, children in order). */
bool kh_ttlv_equal(const kh_ttlv *a, const kh_ttlv *b);

/* Decode exactly one item occupying all of buf[0..len). On failure *out is
 * untouched; errors: KH_ERR_DECODE, KH_ERR_TOO_LARGE, KH_ERR_TOO_DEEP. */
kh_err kh_ttlv_decode(const uint8_t *buf, size_t len, const kh_ttlv_limits *lim,
                      kh_ttlv **out) KH_MUST_CHECK;

/* Framing: given the first 8 bytes of a message, the total length of the
 * message (8 + value length). The outer item must be a Structure and the
 * total must not exceed max. */
#define KH_TTLV_HEADER_LEN 8
kh_err kh_ttlv_frame_len(const uint8_t hdr[KH_TTLV_HEADER_LEN], size_t max,
                         size_t *total) KH_MUST_CHECK;

/* True when p[0..n) is well-formed UTF-8 (no overlong forms, no
 * surrogates). TextString values must be. */
bool kh_utf8_valid(const uint8_t *p, size_t n);

/* Append the encoding of t to out. */
void kh_ttlv_encode(const kh_ttlv *t, kh_buf *out);

#endif
