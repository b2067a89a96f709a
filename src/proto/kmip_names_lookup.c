/*
 * kmip_names_lookup.c - searches over the generated name tables of
 * kmip_names.c: binary search by tag, by tag name and by enumeration value;
 * linear, normalising scans for enumeration names (tables are short) and
 * for tag names not spelt as generated.
 */
#include "proto/kmip_names.h"

#include <ctype.h>
#include <string.h>

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

/* Whether name[0..len) equals ref once both drop '_' and '-' and fold case. */
static bool same_normalized(const char *ref, const char *name, size_t len)
{
    size_t i = 0;
    for (;;) {
        while (*ref == '_' || *ref == '-')
            ref++;
        while (i < len && (name[i] == '_' || name[i] == '-'))
            i++;
        if (*ref == '\0' || i == len)
            return *ref == '\0' && i == len;
        if (tolower((unsigned char)*ref) != tolower((unsigned char)name[i]))
            return false;
        ref++;
        i++;
    }
}

/* strcmp order between a NUL-terminated a and b[0..blen). */
static int cmp_n(const char *a, const char *b, size_t blen)
{
    int c = strncmp(a, b, blen);
    if (c != 0)
        return c;
    return a[blen] == '\0' ? 0 : 1;
}

bool kh_kmip_tag_by_name(const char *name, size_t len, uint32_t *tag)
{
    size_t lo = 0, hi = kh_kmip_tag_names_count;
    if (memchr(name, '\0', len))
        return false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const kh_kmip_tag_name *t = &kh_kmip_tag_names[kh_kmip_tag_names_by_name[mid]];
        int c = cmp_n(t->name, name, len);
        if (c == 0) {
            *tag = t->tag;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Not the generated spelling: the specification's ("UniqueBatchItemID")
     * or another case. A miss ends the decoding, so this scan runs at most
     * once a message. */
    for (size_t i = 0; len > 0 && i < kh_kmip_tag_names_count; i++) {
        if (same_normalized(kh_kmip_tag_names[i].name, name, len)) {
            *tag = kh_kmip_tag_names[i].tag;
            return true;
        }
    }
    return false;
}

static const kh_kmip_enum_table *enum_table(uint32_t tag)
{
    size_t lo = 0, hi = kh_kmip_enum_tables_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kh_kmip_enum_tables[mid].tag == tag)
            return &kh_kmip_enum_tables[mid];
        if (kh_kmip_enum_tables[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *kh_kmip_enum_name_of(uint32_t tag, uint32_t value)
{
    const kh_kmip_enum_table *t = enum_table(tag);
    size_t lo = 0, hi = t ? t->count : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->names[mid].value == value)
            return t->names[mid].name;
        if (t->names[mid].value < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool kh_kmip_enum_by_name(uint32_t tag, const char *name, size_t len, uint32_t *value)
{
    const kh_kmip_enum_table *t = enum_table(tag);
    for (size_t i = 0; t && len > 0 && i < t->count; i++) {
        if (same_normalized(t->names[i].name, name, len)) {
            *value = t->names[i].value;
            return true;
        }
    }
    return false;
}
