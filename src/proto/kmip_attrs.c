/*
 * kmip_attrs.c - conversion between the KMIP 1.x attribute form
 * (Attribute{AttributeName, [AttributeIndex], AttributeValue}), the 2.x
 * form (items tagged by attribute inside Attributes) and the canonical one.
 */
#include "proto/kmip_attrs.h"

#include "ops/attrs.h"
#include "proto/kmip_consts.h"

#include <string.h>

kh_err kh_kmip_attr_from_v1(const kh_ttlv *attribute, kh_ttlv **out, int32_t *index)
{
    const char *name = NULL;
    if (attribute->type != KH_TTLV_STRUCTURE ||
        kh_ttlv_get_text(attribute, KH_TAG_ATTRIBUTE_NAME, &name) != KH_OK)
        return KH_ERR_INVALID_FIELD;
    const kh_ttlv *idx = kh_ttlv_find(attribute, KH_TAG_ATTRIBUTE_INDEX);
    const kh_ttlv *val = kh_ttlv_find(attribute, KH_TAG_ATTRIBUTE_VALUE);
    if (idx && idx->type != KH_TTLV_INTEGER)
        return KH_ERR_INVALID_FIELD;
    *index = idx ? (int32_t)idx->num : -1;
    if (!val)
        return KH_ERR_MISSING_DATA;
    kh_ttlv *v = kh_ttlv_dup(val);
    if (kh_attr_is_custom_name(name)) {
        *out = kh_attr_custom_take(name, v);
        return KH_OK;
    }
    const kh_attr_def *def = kh_attr_def_by_name(name);
    if (!def) {
        kh_ttlv_free(&v);
        return KH_ERR_UNSUPPORTED;
    }
    v->tag = def->tag;
    *out = v;
    return KH_OK;
}

kh_ttlv *kh_kmip_attr_to_v1(const kh_ttlv *canon, int32_t index)
{
    const char *custom = kh_attr_custom_name(canon);
    const kh_attr_def *def = custom ? NULL : kh_attr_def_by_tag(canon->tag);
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTE);
    kh_ttlv_add_take(a, kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, custom ? custom : def->name));
    if (index > 0)
        kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_ATTRIBUTE_INDEX, index));
    kh_ttlv *v = kh_ttlv_dup(custom ? kh_ttlv_find(canon, KH_TAG_ATTRIBUTE_VALUE) : canon);
    v->tag = KH_TAG_ATTRIBUTE_VALUE;
    kh_ttlv_add_take(a, v);
    return a;
}

static kh_err add_v1(kh_ttlv *out, const kh_ttlv *attribute)
{
    kh_ttlv *c = NULL;
    int32_t index;
    kh_err err = kh_kmip_attr_from_v1(attribute, &c, &index);
    if (err == KH_OK)
        kh_ttlv_add_take(out, c);
    return err;
}

kh_err kh_kmip_attrs_in(const kh_kmip_call *c, const kh_ttlv *payload, uint32_t container_tag,
                        int bare_ok, kh_ttlv **out)
{
    kh_ttlv *attrs = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_err err = KH_OK;
    const kh_ttlv *box = kh_ttlv_find(payload, container_tag);
    if (box && box->type != KH_TTLV_STRUCTURE) {
        err = KH_ERR_INVALID_FIELD;
        goto out;
    }
    if (kh_kmip_is_v2(c) && box && container_tag == KH_TAG_ATTRIBUTES) {
        for (size_t i = 0; i < box->nkids; i++)
            kh_ttlv_add_take(attrs, kh_ttlv_dup(box->kids[i]));
    } else if (box) {
        for (size_t i = 0; i < box->nkids && err == KH_OK; i++) {
            if (box->kids[i]->tag == KH_TAG_ATTRIBUTE)
                err = add_v1(attrs, box->kids[i]);
            else if (box->kids[i]->tag == KH_TAG_NAME)
                err = KH_ERR_UNSUPPORTED; /* templates by name: deprecated, not kept */
        }
    }
    for (size_t i = 0; bare_ok && err == KH_OK && i < payload->nkids; i++)
        if (payload->kids[i]->tag == KH_TAG_ATTRIBUTE)
            err = add_v1(attrs, payload->kids[i]);
out:
    if (err != KH_OK) {
        kh_ttlv_free(&attrs);
        return err;
    }
    *out = attrs;
    return KH_OK;
}

kh_err kh_kmip_pair_attrs_in(kh_kmip_call *c, const kh_ttlv *p, uint32_t v1_tag, uint32_t v2_tag,
                             kh_ttlv **out)
{
    if (kh_ttlv_find(p, kh_kmip_is_v2(c) ? v1_tag : v2_tag)) {
        c->result_message = "attribute container of another protocol version";
        return KH_ERR_DECODE;
    }
    if (!kh_kmip_is_v2(c))
        return kh_kmip_attrs_in(c, p, v1_tag, 0, out);
    const kh_ttlv *box = kh_ttlv_find(p, v2_tag);
    if (box && box->type != KH_TTLV_STRUCTURE)
        return KH_ERR_INVALID_FIELD;
    *out = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    for (size_t i = 0; box && i < box->nkids; i++)
        kh_ttlv_add_take(*out, kh_ttlv_dup(box->kids[i]));
    return KH_OK;
}

kh_err kh_kmip_attr_ref_in(const kh_ttlv *item, kh_attr_ref *ref)
{
    ref->name = NULL;
    if (item->tag == KH_TAG_ATTRIBUTE_NAME && item->type == KH_TTLV_TEXT_STRING) {
        const char *name = (const char *)item->data;
        if (kh_attr_is_custom_name(name)) {
            ref->tag = KH_TAG_ATTRIBUTE;
            ref->name = name;
            return KH_OK;
        }
        const kh_attr_def *def = kh_attr_def_by_name(name);
        ref->tag = def ? def->tag : 0; /* unknown names select nothing */
        return KH_OK;
    }
    if (item->tag != KH_TAG_ATTRIBUTE_REFERENCE)
        return KH_ERR_INVALID_FIELD;
    if (item->type == KH_TTLV_ENUMERATION) {
        ref->tag = (uint32_t)item->num;
        return KH_OK;
    }
    const char *name = NULL;
    if (item->type != KH_TTLV_STRUCTURE ||
        kh_ttlv_get_text(item, KH_TAG_ATTRIBUTE_NAME, &name) != KH_OK)
        return KH_ERR_INVALID_FIELD;
    ref->tag = KH_TAG_ATTRIBUTE;
    ref->name = name;
    return KH_OK;
}

void kh_kmip_attrs_out(const kh_kmip_call *c, const kh_ttlv *attrs, kh_ttlv *payload)
{
    if (kh_kmip_is_v2(c)) {
        kh_ttlv_add_take(payload, kh_ttlv_dup(attrs));
        return;
    }
    for (size_t i = 0; i < attrs->nkids; i++) {
        const kh_ttlv *a = attrs->kids[i];
        const kh_attr_def *def = NULL;
        if (kh_attr_check(a, &def) != KH_OK)
            continue; /* nothing we stored fails this; be safe anyway */
        kh_attr_ref ref = kh_attr_ref_of(a);
        /* the index of an instance is its rank among its siblings */
        int32_t index = 0;
        for (size_t j = 0; j < i; j++)
            index += kh_attr_matches(attrs->kids[j], &ref);
        kh_ttlv_add_take(payload, kh_kmip_attr_to_v1(a, index));
    }
}
