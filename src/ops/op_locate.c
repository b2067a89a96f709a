/*
 * op_locate.c - Locate, and what the server says it supports.
 */
#include "ops/ops.h"

#include "common/mem.h"
#include "ops/authz.h"
#include "proto/kmip_consts.h"

#include <string.h>

const uint32_t kh_object_types_supported[] = {
    KH_OBJECT_TYPE_SYMMETRIC_KEY, KH_OBJECT_TYPE_PUBLIC_KEY,  KH_OBJECT_TYPE_PRIVATE_KEY,
    KH_OBJECT_TYPE_SECRET_DATA,   KH_OBJECT_TYPE_CERTIFICATE, KH_OBJECT_TYPE_OPAQUE_DATA,
    KH_OBJECT_TYPE_SPLIT_KEY,
};
const size_t kh_object_types_supported_count =
    sizeof(kh_object_types_supported) / sizeof(kh_object_types_supported[0]);

void kh_locate_result_clear(kh_locate_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->uids[i]);
    free(r->uids);
    memset(r, 0, sizeof(*r));
}

static kh_err int_filter(const kh_ttlv *a, uint8_t type, int32_t *field)
{
    if (a->type != type)
        return KH_ERR_INVALID_FIELD;
    if (*field != -1 && *field != (int32_t)a->num)
        return KH_ERR_NOT_FOUND; /* two different values: nothing can match */
    *field = (int32_t)a->num;
    return KH_OK;
}

/* Turn the request's attributes into a store query. */
static kh_err build_query(const kh_ttlv *attrs, kh_locate_query *q)
{
    for (size_t i = 0; attrs && i < attrs->nkids; i++) {
        const kh_ttlv *a = attrs->kids[i];
        kh_err err = KH_OK;
        switch (a->tag) {
        case KH_TAG_NAME: {
            const kh_ttlv *v = kh_ttlv_find(a, KH_TAG_NAME_VALUE);
            if (!v || v->type != KH_TTLV_TEXT_STRING)
                return KH_ERR_INVALID_FIELD;
            if (q->name && strcmp(q->name, (const char *)v->data) != 0)
                return KH_ERR_NOT_FOUND;
            q->name = (const char *)v->data;
            break;
        }
        case KH_TAG_OBJECT_TYPE:
            err = int_filter(a, KH_TTLV_ENUMERATION, &q->object_type);
            break;
        case KH_TAG_CRYPTOGRAPHIC_ALGORITHM:
            err = int_filter(a, KH_TTLV_ENUMERATION, &q->algorithm);
            break;
        case KH_TAG_CRYPTOGRAPHIC_LENGTH:
            err = int_filter(a, KH_TTLV_INTEGER, &q->length);
            break;
        case KH_TAG_STATE:
            err = int_filter(a, KH_TTLV_ENUMERATION, &q->state);
            break;
        default:
            return KH_ERR_UNSUPPORTED;
        }
        if (err != KH_OK)
            return err;
    }
    return KH_OK;
}

kh_err kh_op_locate(kh_ctx *ctx, const kh_ttlv *attrs, int64_t offset, int64_t max_items,
                    kh_locate_result *out)
{
    memset(out, 0, sizeof(*out));
    if (offset < 0 || max_items < -1)
        return KH_ERR_INVALID_FIELD;
    kh_locate_query q;
    kh_locate_query_init(&q);
    /* The caller's own objects and those granted to it for Locate, in SQL
     * so that paging counts only what the caller may see. */
    q.visible_to = ctx->principal;
    q.permission = KH_PERM_LOCATE;
    kh_err err = build_query(attrs, &q);
    if (err == KH_ERR_NOT_FOUND)
        return KH_OK; /* contradictory filters: an empty answer, not an error */
    if (err != KH_OK)
        return err;
    char **uids = NULL;
    size_t n = 0;
    if ((err = kh_store_object_locate(ctx->svc->store, &q, &uids, &n)) != KH_OK)
        return err;
    out->total = (int64_t)n;
    size_t first = (size_t)offset < n ? (size_t)offset : n;
    size_t take = n - first;
    if (max_items >= 0 && (size_t)max_items < take)
        take = (size_t)max_items;
    out->uids = kh_xcalloc(take ? take : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (i >= first && i < first + take)
            out->uids[out->n++] = uids[i];
        else
            free(uids[i]);
    }
    free(uids);
    return KH_OK;
}
