/*
 * kmip_names_lookup.c - binary search over the generated tag name table.
 */
#include "proto/kmip_names.h"

const char *kh_kmip_tag_name_of(uint32_t tag)
{
    size_t lo = 0, hi = kh_kmip_tag_names_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kh_kmip_tag_names[mid].tag == tag)
            return kh_kmip_tag_names[mid].name;
        if (kh_kmip_tag_names[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
