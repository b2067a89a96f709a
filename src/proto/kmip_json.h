/*
 * kmip_json.h - the JSON form of KMIP TTLV (KMIP 2.1 JSON profile, in
 * Cosmian KMS's dialect), converted to and from the kh_ttlv tree.
 *
 * An item is {"tag": T, "type": Y, "value": V}: T a CamelCase tag name
 * ("CryptographicAlgorithm") or "0x42XXXX"; Y a type name ("Structure",
 * "Integer", ...; may be left out for a Structure); V by type:
 *   Structure        array of items
 *   Integer          number (or "0x" + up to 8 hex digits)
 *   LongInteger      "0x" + up to 16 hex digits, two's complement (or a number)
 *   BigInteger       "0x" + hex, big-endian two's complement (or a number)
 *   Enumeration      value name ("AES", any case, '_' and '-' ignored),
 *                    "0x" + up to 8 hex digits, or a number
 *   Boolean          true / false
 *   TextString       string
 *   ByteString       hex (written upper case)
 *   DateTime         ISO 8601 "2024-01-31T12:00:00Z" (offsets accepted) or
 *                    unix seconds
 *   Interval         number of seconds
 *   DateTimeExtended ISO 8601 with up to 6 fractional digits, or unix
 *                    microseconds
 * Decoding is strict (unknown keys, wrong JSON types, duplicate keys,
 * values out of range are errors) and bounded by kh_ttlv_default_limits
 * (depth, item count). Encoding writes names wherever the tables have them
 * and hex otherwise, so that encode(decode(x)) is stable.
 */
#ifndef KH_PROTO_KMIP_JSON_H
#define KH_PROTO_KMIP_JSON_H

#include "common/buf.h"
#include "common/err.h"
#include "proto/ttlv.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define KH_KMIP_JSON_DETAIL_MAX 128

/* Parse len bytes of JSON text into one item tree (caller frees *out).
 * KH_ERR_DECODE (not JSON, not TTLV-shaped), KH_ERR_TOO_DEEP or
 * KH_ERR_TOO_LARGE; detail (may be NULL) then says what and where, without
 * echoing values. */
kh_err kh_kmip_json_decode(const char *json, size_t len, kh_ttlv **out,
                           char detail[KH_KMIP_JSON_DETAIL_MAX]) KH_MUST_CHECK;

/* The same for an already parsed jansson value. tag_override,
 * when non-zero, replaces the tag of the top item (whose "tag" is then not
 * looked at): how a bare operation payload becomes a RequestPayload. */
kh_err kh_kmip_json_from_value(const json_t *value, uint32_t tag_override, kh_ttlv **out,
                               char detail[KH_KMIP_JSON_DETAIL_MAX]) KH_MUST_CHECK;

/* Parse len bytes of JSON text (an object or array) into a jansson value
 * (release with json_decref), rejecting duplicate keys; NULL if not JSON.
 * jansson then allocates through a function that wipes what it frees: the
 * text may carry key material. */
json_t *kh_kmip_json_parse(const char *json, size_t len);

/* Append the compact JSON form of t to out. top_name, when non-NULL,
 * replaces the top item's tag name ("CreateResponse"). */
void kh_kmip_json_encode(const kh_ttlv *t, const char *top_name, kh_buf *out);

/* Append s as a JSON string literal (quoted, escaped; invalid UTF-8 becomes
 * U+FFFD). */
void kh_json_append_string(kh_buf *out, const char *s, size_t len);

#endif
