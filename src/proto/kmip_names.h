/*
 * kmip_names.h - KMIP tag names (generated table in kmip_names.c), for the
 * JSON TTLV form and for logs.
 */
#ifndef KH_PROTO_KMIP_NAMES_H
#define KH_PROTO_KMIP_NAMES_H

#include <stddef.h>
#include <stdint.h>

typedef struct kh_kmip_tag_name {
    uint32_t tag;
    const char *name;
} kh_kmip_tag_name;

extern const kh_kmip_tag_name kh_kmip_tag_names[]; /* sorted by tag */
extern const size_t kh_kmip_tag_names_count;

/* "CryptographicAlgorithm" for 0x420028, NULL when unknown. */
const char *kh_kmip_tag_name_of(uint32_t tag);

#endif
