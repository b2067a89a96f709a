/*
 * attrs.c - the attribute catalogue: names, tags, types and who may set
 * what. Only attributes listed here (and custom x-/y- ones) are accepted.
 */
#include "ops/attrs.h"

#include "proto/kmip_consts.h"

#include <string.h>

#define S KH_TTLV_STRUCTURE
#define I KH_TTLV_INTEGER
#define EN KH_TTLV_ENUMERATION
#define B KH_TTLV_BOOLEAN
#define T KH_TTLV_TEXT_STRING
#define D KH_TTLV_DATE_TIME
#define IV KH_TTLV_INTERVAL

const kh_attr_def kh_attr_defs[] = {
    {"Unique Identifier", KH_TAG_UNIQUE_IDENTIFIER, T, KH_ATTR_SYNTH | KH_ATTR_SERVER},
    {"Name", KH_TAG_NAME, S, KH_ATTR_MULTI | KH_ATTR_DELETABLE},
    {"Object Type", KH_TAG_OBJECT_TYPE, EN, KH_ATTR_SYNTH | KH_ATTR_SERVER | KH_ATTR_AT_CREATE},
    {"Cryptographic Algorithm", KH_TAG_CRYPTOGRAPHIC_ALGORITHM, EN,
     KH_ATTR_SYNTH | KH_ATTR_SERVER | KH_ATTR_AT_CREATE},
    {"Cryptographic Length", KH_TAG_CRYPTOGRAPHIC_LENGTH, I,
     KH_ATTR_SYNTH | KH_ATTR_SERVER | KH_ATTR_AT_CREATE},
    {"Cryptographic Parameters", KH_TAG_CRYPTOGRAPHIC_PARAMETERS, S,
     KH_ATTR_MULTI | KH_ATTR_DELETABLE},
    {"Cryptographic Domain Parameters", KH_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S,
     KH_ATTR_SERVER | KH_ATTR_AT_CREATE},
    {"Certificate Type", KH_TAG_CERTIFICATE_TYPE, EN, KH_ATTR_SERVER},
    {"Certificate Length", KH_TAG_CERTIFICATE_LENGTH, I, KH_ATTR_SERVER},
    {"Digest", KH_TAG_DIGEST, S, KH_ATTR_SERVER | KH_ATTR_MULTI},
    {"Operation Policy Name", KH_TAG_OPERATION_POLICY_NAME, T, KH_ATTR_DELETABLE},
    {"Cryptographic Usage Mask", KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, I, KH_ATTR_AT_CREATE},
    {"Lease Time", KH_TAG_LEASE_TIME, IV, KH_ATTR_SERVER},
    {"State", KH_TAG_STATE, EN, KH_ATTR_SYNTH | KH_ATTR_SERVER},
    {"Initial Date", KH_TAG_INITIAL_DATE, D, KH_ATTR_SERVER},
    {"Activation Date", KH_TAG_ACTIVATION_DATE, D, KH_ATTR_AT_CREATE},
    {"Process Start Date", KH_TAG_PROCESS_START_DATE, D, KH_ATTR_AT_CREATE},
    {"Protect Stop Date", KH_TAG_PROTECT_STOP_DATE, D, KH_ATTR_AT_CREATE},
    {"Deactivation Date", KH_TAG_DEACTIVATION_DATE, D, KH_ATTR_AT_CREATE},
    {"Destroy Date", KH_TAG_DESTROY_DATE, D, KH_ATTR_SERVER},
    {"Compromise Occurrence Date", KH_TAG_COMPROMISE_OCCURRENCE_DATE, D, KH_ATTR_SERVER},
    {"Compromise Date", KH_TAG_COMPROMISE_DATE, D, KH_ATTR_SERVER},
    {"Revocation Reason", KH_TAG_REVOCATION_REASON, S, KH_ATTR_SERVER},
    {"Archive Date", KH_TAG_ARCHIVE_DATE, D, KH_ATTR_SERVER},
    {"Object Group", KH_TAG_OBJECT_GROUP, T, KH_ATTR_MULTI | KH_ATTR_DELETABLE},
    {"Fresh", KH_TAG_FRESH, B, KH_ATTR_SERVER},
    {"Link", KH_TAG_LINK, S, KH_ATTR_MULTI | KH_ATTR_DELETABLE},
    {"Application Specific Information", KH_TAG_APPLICATION_SPECIFIC_INFORMATION, S,
     KH_ATTR_MULTI | KH_ATTR_DELETABLE},
    {"Contact Information", KH_TAG_CONTACT_INFORMATION, T, KH_ATTR_DELETABLE},
    {"Last Change Date", KH_TAG_LAST_CHANGE_DATE, D, KH_ATTR_SERVER},
    {"Description", KH_TAG_DESCRIPTION, T, KH_ATTR_DELETABLE},
    {"Comment", KH_TAG_COMMENT, T, KH_ATTR_DELETABLE},
    {"Sensitive", KH_TAG_SENSITIVE, B, 0},
    {"Extractable", KH_TAG_EXTRACTABLE, B, 0},
};
const size_t kh_attr_defs_count = sizeof(kh_attr_defs) / sizeof(kh_attr_defs[0]);

const kh_attr_def *kh_attr_def_by_tag(uint32_t tag)
{
    for (size_t i = 0; i < kh_attr_defs_count; i++)
        if (kh_attr_defs[i].tag == tag)
            return &kh_attr_defs[i];
    return NULL;
}

const kh_attr_def *kh_attr_def_by_name(const char *name)
{
    for (size_t i = 0; i < kh_attr_defs_count; i++)
        if (strcmp(kh_attr_defs[i].name, name) == 0)
            return &kh_attr_defs[i];
    return NULL;
}

bool kh_attr_is_custom_name(const char *name)
{
    return name && (name[0] == 'x' || name[0] == 'y') && name[1] == '-' && name[2] != '\0';
}

const char *kh_attr_custom_name(const kh_ttlv *a)
{
    if (!a || a->tag != KH_TAG_ATTRIBUTE || a->type != KH_TTLV_STRUCTURE)
        return NULL;
    const kh_ttlv *n = kh_ttlv_find(a, KH_TAG_ATTRIBUTE_NAME);
    if (!n || n->type != KH_TTLV_TEXT_STRING)
        return NULL;
    return (const char *)n->data;
}

kh_ttlv *kh_attr_custom_take(const char *name, kh_ttlv *value)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTE);
    kh_ttlv_add_take(a, kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, name));
    value->tag = KH_TAG_ATTRIBUTE_VALUE;
    kh_ttlv_add_take(a, value);
    return a;
}

kh_err kh_attr_check(const kh_ttlv *a, const kh_attr_def **def)
{
    *def = NULL;
    if (a->tag == KH_TAG_ATTRIBUTE) {
        const char *name = kh_attr_custom_name(a);
        if (!kh_attr_is_custom_name(name) || a->nkids != 2 ||
            !kh_ttlv_find(a, KH_TAG_ATTRIBUTE_VALUE))
            return KH_ERR_INVALID_FIELD;
        return KH_OK;
    }
    const kh_attr_def *d = kh_attr_def_by_tag(a->tag);
    if (!d)
        return KH_ERR_UNSUPPORTED;
    if (d->type != a->type)
        return KH_ERR_INVALID_FIELD;
    *def = d;
    return KH_OK;
}

kh_attr_ref kh_attr_ref_of(const kh_ttlv *a)
{
    kh_attr_ref r = {a->tag, NULL};
    if (a->tag == KH_TAG_ATTRIBUTE)
        r.name = kh_attr_custom_name(a);
    return r;
}

bool kh_attr_matches(const kh_ttlv *a, const kh_attr_ref *ref)
{
    if (a->tag != ref->tag)
        return false;
    if (ref->tag != KH_TAG_ATTRIBUTE)
        return true;
    const char *n = kh_attr_custom_name(a);
    return n && ref->name && strcmp(n, ref->name) == 0;
}

kh_ttlv *kh_attr_find(const kh_ttlv *attrs, const kh_attr_ref *ref, int32_t index, size_t *pos)
{
    if (index < 0)
        index = 0;
    int32_t seen = 0;
    for (size_t i = 0; attrs && i < attrs->nkids; i++) {
        if (!kh_attr_matches(attrs->kids[i], ref))
            continue;
        if (seen++ == index) {
            if (pos)
                *pos = i;
            return attrs->kids[i];
        }
    }
    return NULL;
}

size_t kh_attr_count(const kh_ttlv *attrs, const kh_attr_ref *ref)
{
    size_t n = 0;
    for (size_t i = 0; attrs && i < attrs->nkids; i++)
        n += kh_attr_matches(attrs->kids[i], ref);
    return n;
}
