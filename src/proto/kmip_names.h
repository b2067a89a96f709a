/*
 * kmip_names.h - KMIP tag and enumeration value names (generated tables in
 * kmip_names.c, lookups in kmip_names_lookup.c), for the JSON TTLV form,
 * metrics and logs.
 */
#ifndef KH_PROTO_KMIP_NAMES_H
#define KH_PROTO_KMIP_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kh_kmip_tag_name {
    uint32_t tag;
    const char *name;
} kh_kmip_tag_name;

typedef struct kh_kmip_enum_name {
    uint32_t value;
    const char *name;
} kh_kmip_enum_name;

typedef struct kh_kmip_enum_table {
    uint32_t tag;                   /* the Enumeration tag these values belong to */
    const kh_kmip_enum_name *names; /* sorted by value */
    size_t count;
} kh_kmip_enum_table;

extern const kh_kmip_tag_name kh_kmip_tag_names[]; /* sorted by tag */
extern const size_t kh_kmip_tag_names_count;
extern const unsigned short kh_kmip_tag_names_by_name[]; /* indexes, sorted by name */
extern const kh_kmip_enum_table kh_kmip_enum_tables[];   /* sorted by tag */
extern const size_t kh_kmip_enum_tables_count;

/* "CryptographicAlgorithm" for 0x420028, NULL when unknown. */
const char *kh_kmip_tag_name_of(uint32_t tag);
/* The tag named name (len bytes): the generated CamelCase name, or failing
 * that any name equal to one ignoring case, '_' and '-'; false when
 * unknown. */
bool kh_kmip_tag_by_name(const char *name, size_t len, uint32_t *tag);
/* "AES" for (CryptographicAlgorithm, 3); NULL when the tag has no name
 * table or the value no name. */
const char *kh_kmip_enum_name_of(uint32_t tag, uint32_t value);
/* The value of tag's enumeration named name, compared ignoring case, '_'
 * and '-' ("AES", "Aes", "HMAC_SHA256"); false when unknown. */
bool kh_kmip_enum_by_name(uint32_t tag, const char *name, size_t len, uint32_t *value);

#endif
