/*
 * kmip_ops.c - KMIP request payloads to ops/ calls and back.
 *
 * Each adapter reads its RequestPayload, calls the operation and fills the
 * ResponsePayload in the form of the request's protocol version. Bad shapes
 * are reported as KH_ERR_INVALID_FIELD / KH_ERR_MISSING_DATA, never crash.
 */
#include "proto/kmip.h"

#include "common/mem.h"
#include "ops/attrs.h"
#include "proto/kmip_attrs.h"
#include "proto/kmip_consts.h"
#include "proto/kmip_dispatch.h"
#include "proto/kmip_keyops.h"
#include "proto/kmip_query.h"

#include <string.h>

static uint32_t attrs_tag(const kh_kmip_call *c)
{
    return kh_kmip_is_v2(c) ? KH_TAG_ATTRIBUTES : KH_TAG_TEMPLATE_ATTRIBUTE;
}

static kh_err op_create(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    uint32_t type;
    kh_ttlv *attrs = NULL;
    char *uid = NULL;
    kh_err err = kh_ttlv_get_enum(p, KH_TAG_OBJECT_TYPE, &type);
    if (err == KH_OK)
        err = kh_kmip_attrs_in(c, p, attrs_tag(c), 0, &attrs);
    if (err == KH_OK)
        err = kh_op_create(c->ctx, type, attrs, &uid);
    if (err == KH_OK) {
        kh_ttlv_add_take(resp, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, type));
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    }
    free(uid);
    kh_ttlv_free(&attrs);
    return err;
}

static const kh_ttlv *managed_object(const kh_ttlv *p)
{
    static const uint32_t tags[] = {KH_TAG_SYMMETRIC_KEY, KH_TAG_PUBLIC_KEY,  KH_TAG_PRIVATE_KEY,
                                    KH_TAG_SECRET_DATA,   KH_TAG_CERTIFICATE, KH_TAG_OPAQUE_OBJECT,
                                    KH_TAG_SPLIT_KEY};
    for (size_t i = 0; i < p->nkids; i++)
        for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
            if (p->kids[i]->tag == tags[t])
                return p->kids[i];
    return NULL;
}

static kh_err op_register(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    uint32_t type;
    kh_ttlv *attrs = NULL;
    char *uid = NULL;
    const kh_ttlv *obj = managed_object(p);
    kh_err err = kh_ttlv_get_enum(p, KH_TAG_OBJECT_TYPE, &type);
    if (err == KH_OK && !obj)
        err = KH_ERR_MISSING_DATA;
    if (err == KH_OK)
        err = kh_kmip_attrs_in(c, p, attrs_tag(c), 0, &attrs);
    if (err == KH_OK)
        err = kh_op_register(c->ctx, type, attrs, obj, &uid);
    if (err == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    free(uid);
    kh_ttlv_free(&attrs);
    return err;
}

/* The object Get and Export answer with, converted or wrapped as asked. */
static kh_err get_object(kh_kmip_call *c, const kh_ttlv *p, const char *uid, uint32_t *type,
                         kh_ttlv **obj)
{
    if (kh_ttlv_find(p, KH_TAG_KEY_COMPRESSION_TYPE)) {
        c->result_message = "key compression is not supported";
        return KH_ERR_UNSUPPORTED;
    }
    /* another format or wrapping: kmip_keyops.c */
    if (kh_kmip_get_wants_keyops(p))
        return kh_kmip_get_keyops(c, p, uid, type, obj);
    return kh_op_get(c->ctx, uid, type, obj);
}

static kh_err op_get(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    uint32_t type;
    kh_ttlv *obj = NULL;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = get_object(c, p, uid, &type, &obj);
    if (err != KH_OK)
        return err;
    kh_ttlv_add_take(resp, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, type));
    kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    kh_ttlv_add_take(resp, obj);
    return KH_OK;
}

/* Export (KMIP 1.4 and 2.x): Get, with the object's attributes beside it,
 * in a TemplateAttribute (1.4) or an Attributes structure (2.x). Both are
 * read under the Export permission. */
static kh_err op_export(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    uint32_t type;
    kh_ttlv *obj = NULL, *attrs = NULL;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = get_object(c, p, uid, &type, &obj);
    if (err == KH_OK)
        err = kh_op_get_attributes(c->ctx, uid, NULL, 0, &attrs);
    if (err == KH_OK) {
        kh_ttlv_add_take(resp, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, type));
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
        kh_kmip_attrs_out(
            c, attrs,
            kh_kmip_is_v2(c)
                ? resp
                : kh_ttlv_add_take(resp, kh_ttlv_new_struct(KH_TAG_TEMPLATE_ATTRIBUTE)));
        kh_ttlv_add_take(resp, obj);
        obj = NULL;
    }
    kh_ttlv_free(&attrs);
    kh_ttlv_free(&obj);
    return err;
}

static kh_err op_get_attributes(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err != KH_OK)
        return err;
    size_t n =
        kh_ttlv_count(p, KH_TAG_ATTRIBUTE_NAME) + kh_ttlv_count(p, KH_TAG_ATTRIBUTE_REFERENCE);
    kh_attr_ref *refs = kh_xcalloc(n ? n : 1, sizeof(*refs));
    size_t k = 0;
    for (size_t i = 0; i < p->nkids && err == KH_OK; i++) {
        uint32_t t = p->kids[i]->tag;
        if (t == KH_TAG_ATTRIBUTE_NAME || t == KH_TAG_ATTRIBUTE_REFERENCE)
            err = kh_kmip_attr_ref_in(p->kids[i], &refs[k++]);
    }
    kh_ttlv *attrs = NULL;
    if (err == KH_OK)
        err = kh_op_get_attributes(c->ctx, uid, refs, n, &attrs);
    if (err == KH_OK) {
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
        kh_kmip_attrs_out(c, attrs, resp);
    }
    kh_ttlv_free(&attrs);
    free(refs);
    return err;
}

static kh_err op_get_attribute_list(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    kh_ttlv *attrs = NULL;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = kh_op_get_attributes(c->ctx, uid, NULL, 0, &attrs);
    if (err != KH_OK)
        return err;
    kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    for (size_t i = 0; i < attrs->nkids; i++) {
        const kh_ttlv *a = attrs->kids[i];
        kh_attr_ref ref = kh_attr_ref_of(a);
        if (kh_attr_find(attrs, &ref, 0, NULL) != a)
            continue; /* each name once, however many instances */
        const char *custom = kh_attr_custom_name(a);
        const kh_attr_def *def = kh_attr_def_by_tag(a->tag);
        if (!kh_kmip_is_v2(c)) {
            kh_ttlv_add_take(resp,
                             kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, custom ? custom : def->name));
        } else if (custom) {
            kh_ttlv *r = kh_ttlv_new_struct(KH_TAG_ATTRIBUTE_REFERENCE);
            kh_ttlv_add_take(r, kh_ttlv_new_text(KH_TAG_VENDOR_IDENTIFICATION, "x"));
            kh_ttlv_add_take(r, kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, custom));
            kh_ttlv_add_take(resp, r);
        } else {
            kh_ttlv_add_take(resp, kh_ttlv_new_enum(KH_TAG_ATTRIBUTE_REFERENCE, a->tag));
        }
    }
    kh_ttlv_free(&attrs);
    return KH_OK;
}

/* The single attribute inside a 2.x NewAttribute / CurrentAttribute. */
static kh_err inner_attr(const kh_ttlv *p, uint32_t box_tag, const kh_ttlv **out)
{
    const kh_ttlv *box = kh_ttlv_find(p, box_tag);
    *out = NULL;
    if (!box)
        return KH_OK;
    if (box->type != KH_TTLV_STRUCTURE || box->nkids != 1)
        return KH_ERR_INVALID_FIELD;
    *out = box->kids[0];
    return KH_OK;
}

/* The attribute a 1.x or 2.x Add/Modify request carries, canonical. */
static kh_err new_attr_in(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv **attr, int32_t *index)
{
    *index = -1;
    if (kh_kmip_is_v2(c)) {
        const kh_ttlv *a = NULL;
        kh_err err = inner_attr(p, KH_TAG_NEW_ATTRIBUTE, &a);
        if (err != KH_OK)
            return err;
        if (!a)
            return KH_ERR_MISSING_DATA;
        *attr = kh_ttlv_dup(a);
        return KH_OK;
    }
    const kh_ttlv *a = kh_ttlv_find(p, KH_TAG_ATTRIBUTE);
    if (!a)
        return KH_ERR_MISSING_DATA;
    return kh_kmip_attr_from_v1(a, attr, index);
}

static kh_err op_add_attribute(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    kh_ttlv *attr = NULL;
    int32_t index;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = new_attr_in(c, p, &attr, &index);
    if (err == KH_OK)
        err = kh_op_add_attribute(c->ctx, uid, attr, &index);
    if (err == KH_OK) {
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
        if (!kh_kmip_is_v2(c))
            kh_ttlv_add_take(resp, kh_kmip_attr_to_v1(attr, index));
    }
    kh_ttlv_free(&attr);
    return err;
}

static kh_err op_modify_attribute(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    kh_ttlv *attr = NULL;
    const kh_ttlv *current = NULL;
    int32_t index;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = new_attr_in(c, p, &attr, &index);
    if (err == KH_OK && kh_kmip_is_v2(c))
        err = inner_attr(p, KH_TAG_CURRENT_ATTRIBUTE, &current);
    if (err == KH_OK && current && current->tag != attr->tag)
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK)
        err = kh_op_modify_attribute(c->ctx, uid, current, attr, index, &index);
    if (err == KH_OK) {
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
        if (!kh_kmip_is_v2(c))
            kh_ttlv_add_take(resp, kh_kmip_attr_to_v1(attr, index));
    }
    kh_ttlv_free(&attr);
    return err;
}

static kh_err delete_target(kh_kmip_call *c, const kh_ttlv *p, kh_attr_ref *ref,
                            const kh_ttlv **current, int32_t *index)
{
    *current = NULL;
    *index = -1;
    const kh_ttlv *name = kh_ttlv_find(p, KH_TAG_ATTRIBUTE_NAME);
    const kh_ttlv *aref = kh_ttlv_find(p, KH_TAG_ATTRIBUTE_REFERENCE);
    kh_err err;
    if (kh_kmip_is_v2(c) && !name && !aref) {
        if ((err = inner_attr(p, KH_TAG_CURRENT_ATTRIBUTE, current)) != KH_OK)
            return err;
        if (!*current)
            return KH_ERR_MISSING_DATA;
        *ref = kh_attr_ref_of(*current);
        return KH_OK;
    }
    if (!name && !aref)
        return KH_ERR_MISSING_DATA;
    if ((err = kh_kmip_attr_ref_in(name ? name : aref, ref)) != KH_OK)
        return err;
    const kh_ttlv *idx = kh_ttlv_find(p, KH_TAG_ATTRIBUTE_INDEX);
    if (idx && idx->type != KH_TTLV_INTEGER)
        return KH_ERR_INVALID_FIELD;
    if (idx)
        *index = (int32_t)idx->num;
    return ref->tag ? KH_OK : KH_ERR_ATTR_NOT_FOUND;
}

static kh_err op_delete_attribute(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    kh_attr_ref ref = {0, NULL};
    const kh_ttlv *current = NULL;
    int32_t index = -1;
    kh_ttlv *deleted = NULL;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = delete_target(c, p, &ref, &current, &index);
    if (err == KH_OK)
        err = kh_op_delete_attribute(c->ctx, uid, &ref, current, index, &deleted);
    if (err == KH_OK) {
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
        if (!kh_kmip_is_v2(c))
            kh_ttlv_add_take(resp, kh_kmip_attr_to_v1(deleted, index));
    }
    kh_ttlv_free(&deleted);
    return err;
}

static kh_err op_activate(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = kh_op_activate(c->ctx, uid);
    if (err == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    return err;
}

static kh_err op_destroy(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err == KH_OK)
        err = kh_op_destroy(c->ctx, uid);
    if (err == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    return err;
}

static kh_err op_revoke(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    const char *uid;
    uint32_t code;
    kh_err err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &uid);
    if (err != KH_OK)
        return err;
    const kh_ttlv *rr = kh_ttlv_find(p, KH_TAG_REVOCATION_REASON);
    if (!rr || rr->type != KH_TTLV_STRUCTURE)
        return KH_ERR_MISSING_DATA;
    if ((err = kh_ttlv_get_enum(rr, KH_TAG_REVOCATION_REASON_CODE, &code)) != KH_OK)
        return err;
    const char *msg = NULL;
    if (kh_ttlv_find(rr, KH_TAG_REVOCATION_MESSAGE) &&
        (err = kh_ttlv_get_text(rr, KH_TAG_REVOCATION_MESSAGE, &msg)) != KH_OK)
        return err;
    const kh_ttlv *occ = kh_ttlv_find(p, KH_TAG_COMPROMISE_OCCURRENCE_DATE);
    if (occ && occ->type != KH_TTLV_DATE_TIME)
        return KH_ERR_INVALID_FIELD;
    if ((err = kh_op_revoke(c->ctx, uid, code, msg, occ ? occ->num : 0)) == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, uid, true);
    return err;
}

static kh_err opt_int(const kh_ttlv *p, uint32_t tag, int64_t *out)
{
    const kh_ttlv *t = kh_ttlv_find(p, tag);
    if (!t)
        return KH_OK;
    if (t->type != KH_TTLV_INTEGER || t->num < 0)
        return KH_ERR_INVALID_FIELD;
    *out = t->num;
    return KH_OK;
}

static kh_err op_locate(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    int64_t max = -1, offset = 0;
    kh_ttlv *attrs = NULL;
    kh_locate_result r = {0};
    kh_err err = opt_int(p, KH_TAG_MAXIMUM_ITEMS, &max);
    if (err == KH_OK)
        err = opt_int(p, KH_TAG_OFFSET_ITEMS, &offset);
    if (err == KH_OK)
        err = kh_kmip_attrs_in(c, p, KH_TAG_ATTRIBUTES, 1, &attrs);
    if (err == KH_OK)
        err = kh_op_locate(c->ctx, attrs, offset, max, &r);
    if (err == KH_OK) {
        bool v13 = c->version.major > 1 || c->version.minor >= 3;
        if (v13)
            kh_ttlv_add_take(resp, kh_ttlv_new_int(KH_TAG_LOCATED_ITEMS, (int32_t)r.total));
        for (size_t i = 0; i < r.n; i++)
            kh_ttlv_add_take(resp, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, r.uids[i]));
        if (r.n) {
            free(c->id_placeholder);
            c->id_placeholder = kh_xstrdup(r.uids[0]);
        }
    }
    kh_locate_result_clear(&r);
    kh_ttlv_free(&attrs);
    return err;
}

const kh_kmip_op kh_kmip_core_ops[] = {
    {KH_OPERATION_CREATE, op_create,
     KH_TAGS(KH_TAG_OBJECT_TYPE, KH_TAG_TEMPLATE_ATTRIBUTE, KH_TAG_ATTRIBUTES,
             KH_TAG_PROTECTION_STORAGE_MASKS)},
    {KH_OPERATION_REGISTER, op_register,
     KH_TAGS(KH_TAG_OBJECT_TYPE, KH_TAG_TEMPLATE_ATTRIBUTE, KH_TAG_ATTRIBUTES,
             KH_TAG_PROTECTION_STORAGE_MASKS, KH_TAG_SYMMETRIC_KEY, KH_TAG_PUBLIC_KEY,
             KH_TAG_PRIVATE_KEY, KH_TAG_SECRET_DATA, KH_TAG_CERTIFICATE, KH_TAG_OPAQUE_OBJECT,
             KH_TAG_SPLIT_KEY, KH_TAG_TEMPLATE, KH_TAG_PGP_KEY)},
    {KH_OPERATION_GET, op_get,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_KEY_FORMAT_TYPE, KH_TAG_KEY_WRAP_TYPE,
             KH_TAG_KEY_COMPRESSION_TYPE, KH_TAG_KEY_WRAPPING_SPECIFICATION)},
    {KH_OPERATION_EXPORT, op_export,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_KEY_FORMAT_TYPE, KH_TAG_KEY_WRAP_TYPE,
             KH_TAG_KEY_COMPRESSION_TYPE, KH_TAG_KEY_WRAPPING_SPECIFICATION)},
    {KH_OPERATION_GET_ATTRIBUTES, op_get_attributes,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_ATTRIBUTE_NAME, KH_TAG_ATTRIBUTE_REFERENCE)},
    {KH_OPERATION_GET_ATTRIBUTE_LIST, op_get_attribute_list, KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER)},
    {KH_OPERATION_ADD_ATTRIBUTE, op_add_attribute,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_ATTRIBUTE, KH_TAG_NEW_ATTRIBUTE)},
    {KH_OPERATION_MODIFY_ATTRIBUTE, op_modify_attribute,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_ATTRIBUTE, KH_TAG_CURRENT_ATTRIBUTE,
             KH_TAG_NEW_ATTRIBUTE)},
    {KH_OPERATION_DELETE_ATTRIBUTE, op_delete_attribute,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_ATTRIBUTE_NAME, KH_TAG_ATTRIBUTE_INDEX,
             KH_TAG_CURRENT_ATTRIBUTE, KH_TAG_ATTRIBUTE_REFERENCE)},
    {KH_OPERATION_ACTIVATE, op_activate, KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER)},
    {KH_OPERATION_REVOKE, op_revoke,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_REVOCATION_REASON,
             KH_TAG_COMPROMISE_OCCURRENCE_DATE)},
    {KH_OPERATION_DESTROY, op_destroy, KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER)},
    {KH_OPERATION_LOCATE, op_locate,
     KH_TAGS(KH_TAG_MAXIMUM_ITEMS, KH_TAG_OFFSET_ITEMS, KH_TAG_STORAGE_STATUS_MASK,
             KH_TAG_OBJECT_GROUP_MEMBER, KH_TAG_ATTRIBUTE, KH_TAG_ATTRIBUTES)},
    {KH_OPERATION_QUERY, kh_kmip_op_query, KH_TAGS(KH_TAG_QUERY_FUNCTION)},
    {KH_OPERATION_DISCOVER_VERSIONS, kh_kmip_op_discover_versions,
     KH_TAGS(KH_TAG_PROTOCOL_VERSION)},
};

const size_t kh_kmip_core_ops_count = sizeof(kh_kmip_core_ops) / sizeof(kh_kmip_core_ops[0]);
