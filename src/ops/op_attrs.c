/*
 * op_attrs.c - GetAttributes, AddAttribute, ModifyAttribute, DeleteAttribute.
 */
#include "ops/attrs.h"
#include "ops/object.h"
#include "ops/ops.h"
#include "ops/realm.h"

#include "common/mem.h"
#include "proto/kmip_consts.h"

#include <string.h>

kh_err kh_op_get_attributes(kh_ctx *ctx, const char *uid, const kh_attr_ref *refs, size_t nrefs,
                            kh_ttlv **attrs)
{
    kh_object *o = NULL;
    kh_err err = kh_object_load(ctx, uid, &o);
    if (err != KH_OK)
        return err;
    kh_ttlv *all = kh_object_all_attrs(o);
    kh_object_free(&o);
    if (nrefs == 0) {
        *attrs = all;
        return KH_OK;
    }
    kh_ttlv *sel = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    for (size_t i = 0; i < all->nkids; i++) {
        for (size_t r = 0; r < nrefs; r++) {
            if (kh_attr_matches(all->kids[i], &refs[r])) {
                kh_ttlv_add_take(sel, kh_ttlv_dup(all->kids[i]));
                break;
            }
        }
    }
    kh_ttlv_free(&all);
    *attrs = sel;
    return KH_OK;
}

/* The realm attribute says where the object was placed (ops/realm.h) and
 * a successor (ReKey) is placed by it again: changed afterwards, it would
 * let whoever may modify attributes move the successor to a realm of its
 * own. Fixed at creation, like the realm itself. */
static bool is_realm_attr(const kh_attr_ref *ref)
{
    return ref->tag == KH_TAG_ATTRIBUTE && ref->name && strcmp(ref->name, KH_REALM_ATTRIBUTE) == 0;
}

/* May a client change (add, modify) this attribute after creation? */
static kh_err client_writable(const kh_ttlv *a)
{
    const kh_attr_def *def = NULL;
    kh_err err = kh_attr_check(a, &def);
    if (err != KH_OK)
        return err;
    kh_attr_ref ref = kh_attr_ref_of(a);
    if (is_realm_attr(&ref))
        return KH_ERR_ATTR_READ_ONLY;
    if (def && (def->flags & (KH_ATTR_SERVER | KH_ATTR_SYNTH | KH_ATTR_AT_CREATE)))
        return KH_ERR_ATTR_READ_ONLY;
    return KH_OK;
}

struct add_args {
    const kh_ttlv *attr;
    int32_t index;
};

static kh_err do_add(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)ctx;
    struct add_args *a = arg;
    kh_err err = client_writable(a->attr);
    if (err != KH_OK)
        return err;
    const kh_attr_def *def = kh_attr_def_by_tag(a->attr->tag);
    kh_attr_ref ref = kh_attr_ref_of(a->attr);
    size_t have = kh_attr_count(o->attrs, &ref);
    bool multi = def ? (def->flags & KH_ATTR_MULTI) != 0 : true; /* custom: multi */
    if (have && !multi)
        return KH_ERR_ATTR_SINGLE;
    kh_ttlv_add_take(o->attrs, kh_ttlv_dup(a->attr));
    a->index = (int32_t)have;
    return KH_OK;
}

kh_err kh_op_add_attribute(kh_ctx *ctx, const char *uid, const kh_ttlv *attr, int32_t *index_out)
{
    struct add_args a = {attr, 0};
    kh_err err = kh_object_update(ctx, uid, do_add, &a);
    if (err == KH_OK && index_out)
        *index_out = a.index;
    return err;
}

/* Position of the instance selected by an index or by an equal value. */
static kh_ttlv *select_instance(const kh_ttlv *attrs, const kh_attr_ref *ref,
                                const kh_ttlv *current, int32_t index, size_t *pos, int32_t *which)
{
    if (!current) {
        *which = index < 0 ? 0 : index;
        return kh_attr_find(attrs, ref, index, pos);
    }
    size_t n = kh_attr_count(attrs, ref);
    for (size_t i = 0; i < n; i++) {
        kh_ttlv *a = kh_attr_find(attrs, ref, (int32_t)i, pos);
        if (a && kh_ttlv_equal(a, current)) {
            *which = (int32_t)i;
            return a;
        }
    }
    return NULL;
}

struct modify_args {
    const kh_ttlv *current;
    const kh_ttlv *attr;
    int32_t index;
};

static kh_err do_modify(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)ctx;
    struct modify_args *m = arg;
    kh_err err = client_writable(m->attr);
    if (err != KH_OK)
        return err;
    if (m->current && m->current->tag != m->attr->tag)
        return KH_ERR_INVALID_FIELD;
    kh_attr_ref ref = kh_attr_ref_of(m->attr);
    size_t pos;
    int32_t which = 0;
    if (!select_instance(o->attrs, &ref, m->current, m->index, &pos, &which))
        return KH_ERR_ATTR_NOT_FOUND;
    kh_ttlv_free(&o->attrs->kids[pos]);
    o->attrs->kids[pos] = kh_ttlv_dup(m->attr);
    m->index = which;
    return KH_OK;
}

kh_err kh_op_modify_attribute(kh_ctx *ctx, const char *uid, const kh_ttlv *current,
                              const kh_ttlv *attr, int32_t index, int32_t *index_out)
{
    struct modify_args m = {current, attr, index};
    kh_err err = kh_object_update(ctx, uid, do_modify, &m);
    if (err == KH_OK && index_out)
        *index_out = m.index;
    return err;
}

struct delete_args {
    const kh_attr_ref *ref;
    const kh_ttlv *current;
    int32_t index;
    kh_ttlv *deleted;
};

static kh_err do_delete(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)ctx;
    struct delete_args *d = arg;
    const kh_attr_def *def = kh_attr_def_by_tag(d->ref->tag);
    if (d->ref->tag == KH_TAG_ATTRIBUTE) {
        if (!kh_attr_is_custom_name(d->ref->name))
            return KH_ERR_INVALID_FIELD;
        if (is_realm_attr(d->ref))
            return KH_ERR_ATTR_READ_ONLY;
    } else if (!def) {
        return KH_ERR_UNSUPPORTED;
    } else if (!(def->flags & KH_ATTR_DELETABLE)) {
        return KH_ERR_ATTR_READ_ONLY;
    }
    size_t pos;
    int32_t which = 0;
    kh_ttlv *a = select_instance(o->attrs, d->ref, d->current, d->index, &pos, &which);
    if (!a)
        return KH_ERR_ATTR_NOT_FOUND;
    kh_ttlv_free(&d->deleted); /* from a lost attempt */
    d->deleted = kh_ttlv_dup(a);
    kh_ttlv_remove(o->attrs, pos);
    return KH_OK;
}

kh_err kh_op_delete_attribute(kh_ctx *ctx, const char *uid, const kh_attr_ref *ref,
                              const kh_ttlv *current, int32_t index, kh_ttlv **deleted)
{
    struct delete_args d = {ref, current, index, NULL};
    kh_err err = kh_object_update(ctx, uid, do_delete, &d);
    if (err == KH_OK && deleted)
        *deleted = d.deleted;
    else
        kh_ttlv_free(&d.deleted);
    return err;
}
