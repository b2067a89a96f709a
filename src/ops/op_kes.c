/*
 * op_kes.c - KES keys as keyhold objects: names, the ciphertext format,
 * and the operations proto/kes.c calls (see kes_ops.h).
 *
 * Nothing here parses HTTP or JSON, and nothing here touches OpenSSL:
 * the data operations go through kh_op_encrypt / kh_op_decrypt with
 * pinned parameters (so that a Cryptographic Parameters attribute set
 * over KMIP cannot change the format), and HMAC through crypto/mac.h.
 */
#include "ops/kes_ops.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/mac.h"
#include "crypto/rand.h"
#include "ops/attrs.h"
#include "ops/audit.h"
#include "ops/authz.h"
#include "ops/crypto_key.h"
#include "ops/crypto_ops.h"
#include "ops/kes_keycache.h"
#include "ops/object.h"
#include "proto/kmip_consts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- names ------------------------------------------------------------ */

static bool name_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == '-';
}

static bool chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

bool kh_kes_name_valid(const char *name)
{
    size_t n = strnlen(name, KH_KES_NAME_MAX + 1);
    if (n == 0 || n > KH_KES_NAME_MAX || !chars_ok(name, n))
        return false;
    if (name[0] == '-' || name[n - 1] == '-')
        return false;
    return strcmp(name, "_") != 0;
}

bool kh_kes_pattern_valid(const char *pattern)
{
    size_t n = strnlen(pattern, KH_KES_NAME_MAX + 2);
    if (n == 0 || strcmp(pattern, "*") == 0)
        return true;
    if (pattern[n - 1] != '*')
        return kh_kes_name_valid(pattern);
    return n - 1 <= KH_KES_NAME_MAX && chars_ok(pattern, n - 1);
}

bool kh_kes_pattern_match(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, name, n - 1) == 0;
    return n == 0 || strcmp(pattern, name) == 0;
}

/* ---- ciphertext format ------------------------------------------------ */

void kh_kes_ct_header(uint8_t hdr[KH_KES_HDR_LEN], uint32_t key_version)
{
    hdr[0] = KH_KES_CT_VERSION;
    hdr[1] = (uint8_t)(key_version >> 24);
    hdr[2] = (uint8_t)(key_version >> 16);
    hdr[3] = (uint8_t)(key_version >> 8);
    hdr[4] = (uint8_t)key_version;
}

kh_err kh_kes_ct_parse(const uint8_t *ct, size_t len, kh_kes_ct *out)
{
    if (!ct || len < KH_KES_CT_OVERHEAD || ct[0] != KH_KES_CT_VERSION)
        return KH_ERR_CRYPTO;
    out->header = ct;
    out->key_version =
        ((uint32_t)ct[1] << 24) | ((uint32_t)ct[2] << 16) | ((uint32_t)ct[3] << 8) | ct[4];
    out->nonce = ct + KH_KES_HDR_LEN;
    out->data = out->nonce + KH_KES_NONCE_LEN;
    out->data_len = len - KH_KES_CT_OVERHEAD;
    out->tag = out->data + out->data_len;
    return KH_OK;
}

/* ---- finding keys ----------------------------------------------------- */

void kh_kes_key_clear(kh_kes_key *k)
{
    if (!k)
        return;
    free(k->uid);
    free(k->owner);
    free(k->created_by);
    kh_object_free(&k->loaded);
    memset(k, 0, sizeof(*k));
}

static kh_ttlv *name_attr(const char *name)
{
    kh_ttlv *n = kh_ttlv_new_struct(KH_TAG_NAME);
    kh_ttlv_add_take(n, kh_ttlv_new_text(KH_TAG_NAME_VALUE, name));
    kh_ttlv_add_take(n, kh_ttlv_new_enum(KH_TAG_NAME_TYPE, KH_NAME_TYPE_UNINTERPRETED_TEXT_STRING));
    return n;
}

/* Visible symmetric keys, newest first; named name when name != NULL. */
static kh_err locate_keys(kh_ctx *ctx, const char *name, kh_locate_result *res)
{
    kh_ttlv *attrs = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    if (name)
        kh_ttlv_add_take(attrs, name_attr(name));
    kh_ttlv_add_take(attrs, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, KH_OBJECT_TYPE_SYMMETRIC_KEY));
    kh_err err = kh_op_locate(ctx, attrs, 0, -1, res);
    kh_ttlv_free(&attrs);
    return err;
}

/* uid loaded for Locate if it still has material; NOT_FOUND otherwise. */
static kh_err load_live(kh_ctx *ctx, const char *uid, kh_object **o)
{
    kh_err err = kh_object_load_perm(ctx, uid, KH_PERM_LOCATE, o);
    if (err == KH_OK && kh_state_is_destroyed((*o)->row->state)) {
        kh_object_free(o);
        err = KH_ERR_NOT_FOUND;
    }
    return err;
}

/* The KH_KES_CREATED_BY text of o, or NULL. */
static const char *created_by_attr(const kh_object *o)
{
    for (size_t i = 0; o->attrs && i < o->attrs->nkids; i++) {
        const kh_ttlv *a = o->attrs->kids[i];
        const char *n = kh_attr_custom_name(a);
        const kh_ttlv *v =
            n && strcmp(n, KH_KES_CREATED_BY) == 0 ? kh_ttlv_find(a, KH_TAG_ATTRIBUTE_VALUE) : NULL;
        if (v && v->type == KH_TTLV_TEXT_STRING)
            return (const char *)v->data;
    }
    return NULL;
}

static void fill_key(const kh_object *o, kh_kes_key *out)
{
    const kh_obj_row *r = o->row;
    const char *by = created_by_attr(o);
    out->created_by = kh_xstrdup(by ? by : r->owner);
    out->uid = kh_xstrdup(r->uid);
    out->owner = kh_xstrdup(r->owner);
    out->alg = (uint32_t)r->algorithm;
    out->bits = r->length;
    out->state = r->state;
    out->created_at = r->created_at;
}

/* Whether o may answer to a KES name for ctx. The KES namespace uses its
 * own keys only: a key someone else owns and grants to it (or to "*")
 * must never stand in for a missing namespace key, or its owner, who can
 * read its material, would read every key it wraps. */
static bool usable(const kh_ctx *ctx, const kh_object *o)
{
    return strcmp(ctx->principal, KH_KES_OWNER) != 0 || strcmp(o->row->owner, KH_KES_OWNER) == 0;
}

static bool has_name(const kh_object *o, const char *name)
{
    for (size_t i = 0; i < o->row->n_names; i++)
        if (strcmp(o->row->names[i], name) == 0)
            return true;
    return false;
}

/* The cached answer for name, if its row (read now) still bears it out:
 * live, the caller's own, still so named (kes_keycache.h). */
static bool find_cached(kh_ctx *ctx, const char *name, kh_kes_key *out)
{
    char uid[KH_KES_KEYCACHE_UID_MAX + 1];
    kh_object *o = NULL;
    if (!kh_kes_keycache_get(ctx->svc->store, ctx->principal, name, uid, sizeof(uid)))
        return false;
    if (load_live(ctx, uid, &o) == KH_OK && strcmp(o->row->owner, ctx->principal) == 0 &&
        has_name(o, name)) {
        fill_key(o, out);
        out->loaded = o;
        return true;
    }
    kh_object_free(&o);
    kh_kes_keycache_drop(ctx->svc->store, ctx->principal, name);
    return false;
}

/* The caller's own live keys of a name: one (kh_kes_key_create_by); should
 * there be more (made over KMIP, or before the store had KES names), the
 * oldest. Granted keys: the newest. */
kh_err kh_kes_key_find(kh_ctx *ctx, const char *name, kh_kes_key *out)
{
    kh_locate_result res;
    kh_object *own = NULL, *granted = NULL;
    memset(out, 0, sizeof(*out));
    if (find_cached(ctx, name, out))
        return KH_OK;
    kh_gencache_mark m = kh_kes_keycache_mark(); /* before the lookup (kes_keycache.h) */
    kh_err err = locate_keys(ctx, name, &res);
    if (err != KH_OK)
        return err;
    for (size_t i = 0; i < res.n; i++) { /* newest first */
        kh_object *o = NULL;
        if (load_live(ctx, res.uids[i], &o) != KH_OK)
            continue;
        if (!usable(ctx, o)) {
            kh_object_free(&o);
        } else if (strcmp(o->row->owner, ctx->principal) == 0) {
            kh_object_free(&own);
            own = o; /* an older own key wins */
        } else if (!granted) {
            granted = o;
        } else {
            kh_object_free(&o);
        }
    }
    kh_locate_result_clear(&res);
    if (own) { /* grants never decide a cached answer */
        kh_kes_keycache_put(ctx->svc->store, ctx->principal, name, own->row->uid, m);
        kh_object_free(&granted);
    }
    kh_object *best = own ? own : granted;
    if (!best)
        return KH_ERR_NOT_FOUND;
    fill_key(best, out);
    out->loaded = best;
    return KH_OK;
}

/* ---- create, import, delete, list ------------------------------------- */

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

static kh_ttlv *key_attrs(kh_ctx *ctx, const char *name, const char *by, uint32_t alg,
                          bool with_alg)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    if (with_alg) {
        kh_ttlv_add_take(a, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, alg));
        kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, 256));
    }
    uint32_t mask = KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT | KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT |
                    KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE;
    kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, (int32_t)mask));
    kh_ttlv_add_take(a, name_attr(name));
    /* Activation Date = now makes the object Active at once (op_create.c). */
    kh_ttlv_add_take(a, kh_ttlv_new_datetime(KH_TAG_ACTIVATION_DATE, ctx->now));
    if (strcmp(by, ctx->principal) != 0)
        kh_ttlv_add_take(a, kh_attr_custom_take(KH_KES_CREATED_BY,
                                                kh_ttlv_new_text(KH_TAG_ATTRIBUTE_VALUE, by)));
    return a;
}

static kh_ttlv *raw_key(uint32_t alg, const kh_secbuf *key)
{
    kh_ttlv *sk = kh_ttlv_new_struct(KH_TAG_SYMMETRIC_KEY);
    kh_ttlv *kb = kh_ttlv_add_take(sk, kh_ttlv_new_struct(KH_TAG_KEY_BLOCK));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_KEY_FORMAT_TYPE, KH_KEY_FORMAT_TYPE_RAW));
    kh_ttlv *kv = kh_ttlv_add_take(kb, kh_ttlv_new_struct(KH_TAG_KEY_VALUE));
    kh_ttlv_add_take(kv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, key->data, key->len));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, alg));
    kh_ttlv_add_take(kb, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, (int32_t)key->len * 8));
    return sk;
}

/* The lock above serializes creations in this process only; across nodes
 * sharing a database the store's KES name table decides (store.h,
 * kh_store_kes_name_claim). A creator first claims the name with a
 * pending token, makes the key, then hands the claim to the key's uid.
 * A claim stands while its holder is a live key of the name, or a pending
 * token younger than CLAIM_STALE_S (a creator that died mid-way frees the
 * name after that); a name whose key was deleted is taken over. */
#define CLAIM_STALE_S 60

static bool holder_stands(kh_ctx *ctx, const char *holder)
{
    static const char pending[] = "pending:";
    if (strncmp(holder, pending, sizeof(pending) - 1) == 0) {
        long long t = strtoll(holder + sizeof(pending) - 1, NULL, 10);
        return ctx->now - t < CLAIM_STALE_S;
    }
    kh_object *o = NULL;
    if (load_live(ctx, holder, &o) != KH_OK)
        return false; /* deleted, or "free" */
    bool own = strcmp(o->row->owner, ctx->principal) == 0;
    kh_object_free(&o);
    return own;
}

/* Hold name for token: when free, or from a holder that no longer stands.
 * KH_ERR_EXISTS when someone else holds it. */
static kh_err claim_name(kh_ctx *ctx, const char *name, const char *token)
{
    kh_store *s = ctx->svc->store;
    kh_err err = kh_store_kes_name_claim(s, ctx->principal, name, token, NULL);
    if (err != KH_ERR_EXISTS)
        return err;
    char *holder = NULL;
    err = kh_store_kes_name_get(s, ctx->principal, name, &holder);
    if (err == KH_OK)
        err = holder_stands(ctx, holder)
                  ? KH_ERR_EXISTS
                  : kh_store_kes_name_claim(s, ctx->principal, name, token, holder);
    free(holder);
    return err == KH_ERR_NOT_FOUND ? KH_ERR_EXISTS : err;
}

/* Under the claim: make the key, then give the claim to it. A claim lost
 * meanwhile (this creator stalled past CLAIM_STALE_S and was overtaken)
 * withdraws the key. */
static kh_err create_claimed(kh_ctx *ctx, const char *name, const kh_ttlv *attrs,
                             const kh_ttlv *obj, char **uid)
{
    uint8_t nonce[16];
    char token[80];
    kh_err err = kh_random_bytes(nonce, sizeof(nonce));
    if (err != KH_OK)
        return err;
    int n = snprintf(token, sizeof(token), "pending:%lld:", (long long)ctx->now);
    for (size_t i = 0; i < sizeof(nonce) && n > 0 && (size_t)n + 2 < sizeof(token); i++, n += 2)
        snprintf(token + n, sizeof(token) - (size_t)n, "%02x", nonce[i]);
    if ((err = claim_name(ctx, name, token)) != KH_OK)
        return err;
    /* The audit row goes with the last write, the claim below (ops/audit.h). */
    kh_audit_hold(ctx);
    err = obj ? kh_op_register(ctx, KH_OBJECT_TYPE_SYMMETRIC_KEY, attrs, obj, uid)
              : kh_op_create(ctx, KH_OBJECT_TYPE_SYMMETRIC_KEY, attrs, uid);
    kh_audit_release(ctx);
    if (err != KH_OK) {
        if (kh_store_kes_name_claim(ctx->svc->store, ctx->principal, name, "free", token) != KH_OK)
            kh_warn("kes: name %s stays claimed for %ds after a failed create", name,
                    CLAIM_STALE_S);
        return err;
    }
    kh_audit_row *row = kh_audit_carry(ctx, NULL, 0, NULL);
    err = kh_store_kes_name_claim_audited(ctx->svc->store, ctx->principal, name, *uid, token, row);
    kh_audit_carried(ctx, row, err);
    if (err != KH_OK) {
        kh_kes_key mine = {.uid = *uid, .state = (int32_t)KH_STATE_ACTIVE};
        kh_audit_hold(ctx);
        kh_err gone = kh_kes_key_delete(ctx, &mine);
        kh_audit_release(ctx);
        if (gone != KH_OK)
            kh_error("kes: cannot withdraw key %s, made while its name was lost", *uid);
        free(*uid);
        *uid = NULL;
    }
    return err;
}

kh_err kh_kes_key_create(kh_ctx *ctx, const char *name, uint32_t alg, const kh_secbuf *material,
                         kh_kes_key *out)
{
    return kh_kes_key_create_by(ctx, ctx->principal, name, alg, material, out);
}

kh_err kh_kes_key_create_by(kh_ctx *ctx, const char *created_by, const char *name, uint32_t alg,
                            const kh_secbuf *material, kh_kes_key *out)
{
    if (!created_by)
        created_by = ctx->principal;
    if (!kh_kes_name_valid(name))
        return KH_ERR_INVALID_ARG;
    if ((alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES &&
         alg != KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20_POLY1305) ||
        (material && material->len != 32) || (!material && alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES))
        return KH_ERR_INVALID_FIELD;
    char *uid = NULL;
    kh_ttlv *attrs = key_attrs(ctx, name, created_by, alg, material == NULL);
    kh_ttlv *obj = material ? raw_key(alg, material) : NULL;
    pthread_mutex_lock(&create_lock);
    kh_err err = kh_kes_key_find(ctx, name, out);
    if (err == KH_OK) {
        kh_kes_key_clear(out);
        err = KH_ERR_EXISTS;
    } else if (err == KH_ERR_NOT_FOUND) {
        err = create_claimed(ctx, name, attrs, obj, &uid);
    }
    pthread_mutex_unlock(&create_lock);
    if (err == KH_OK) {
        out->uid = uid;
        uid = NULL;
        out->owner = kh_xstrdup(ctx->principal);
        out->created_by = kh_xstrdup(created_by);
        out->alg = alg;
        out->bits = 256;
        out->state = (int32_t)KH_STATE_ACTIVE;
        out->created_at = ctx->now;
    }
    free(uid);
    kh_ttlv_free(&obj); /* wipes the copy of the material */
    kh_ttlv_free(&attrs);
    return err;
}

kh_err kh_kes_key_delete(kh_ctx *ctx, const kh_kes_key *k)
{
    kh_err err = KH_OK;
    if (k->state == (int32_t)KH_STATE_ACTIVE) {
        ctx->perm = KH_PERM_REVOKE;
        kh_audit_hold(ctx); /* the audit row goes with the Destroy (ops/audit.h) */
        err = kh_op_revoke(ctx, k->uid, KH_REVOCATION_REASON_CODE_CESSATION_OF_OPERATION, NULL, 0);
        kh_audit_release(ctx);
    }
    if (err == KH_OK) {
        ctx->perm = KH_PERM_DESTROY;
        err = kh_op_destroy(ctx, k->uid);
    }
    return err;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

kh_err kh_kes_key_list(kh_ctx *ctx, const char *pattern, char ***names, size_t *n)
{
    kh_locate_result res;
    kh_err err = locate_keys(ctx, NULL, &res);
    if (err != KH_OK)
        return err;
    char **v = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < res.n; i++) {
        kh_object *o = NULL;
        if (load_live(ctx, res.uids[i], &o) != KH_OK)
            continue;
        for (size_t j = 0; usable(ctx, o) && j < o->row->n_names; j++) {
            const char *nm = o->row->names[j];
            if (!kh_kes_name_valid(nm) || !kh_kes_pattern_match(pattern, nm))
                continue;
            if (len == cap) {
                cap = cap ? cap * 2 : 16;
                v = kh_xrealloc(v, cap * sizeof(*v));
            }
            v[len++] = kh_xstrdup(nm);
        }
        kh_object_free(&o);
    }
    kh_locate_result_clear(&res);
    if (len)
        qsort(v, len, sizeof(*v), cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        if (w && strcmp(v[w - 1], v[i]) == 0)
            free(v[i]);
        else
            v[w++] = v[i];
    }
    *names = v;
    *n = w;
    return KH_OK;
}

/* ---- data operations -------------------------------------------------- */

/* Parameters pinned to the format, whatever the key's stored ones say. */
static kh_ttlv *make_params(bool aes)
{
    kh_ttlv *p = kh_ttlv_new_struct(KH_TAG_CRYPTOGRAPHIC_PARAMETERS);
    if (aes) {
        kh_ttlv_add_take(p, kh_ttlv_new_enum(KH_TAG_BLOCK_CIPHER_MODE, KH_BLOCK_CIPHER_MODE_GCM));
    } else {
        kh_ttlv_add_take(p, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM,
                                             KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20_POLY1305));
        kh_ttlv_add_take(p, kh_ttlv_new_enum(KH_TAG_BLOCK_CIPHER_MODE, KH_BLOCK_CIPHER_MODE_AEAD));
    }
    kh_ttlv_add_take(p, kh_ttlv_new_int(KH_TAG_IV_LENGTH, KH_KES_NONCE_LEN * 8));
    kh_ttlv_add_take(p, kh_ttlv_new_int(KH_TAG_TAG_LENGTH, KH_KES_TAG_LEN));
    kh_ttlv_add_take(p, kh_ttlv_new_bool(KH_TAG_RANDOM_IV, true));
    return p;
}

/* Built once and only ever read (by every worker), never freed. */
static kh_ttlv *params_aes, *params_chacha;
static pthread_once_t params_once = PTHREAD_ONCE_INIT;

static void make_pinned(void)
{
    params_aes = make_params(true);
    params_chacha = make_params(false);
}

static const kh_ttlv *pinned_params(const kh_kes_key *k)
{
    pthread_once(&params_once, make_pinned);
    return k->alg == KH_CRYPTOGRAPHIC_ALGORITHM_AES ? params_aes : params_chacha;
}

/* header || context; malloc'd (not secret). */
static uint8_t *make_aad(const uint8_t hdr[KH_KES_HDR_LEN], const uint8_t *context, size_t len,
                         size_t *aad_len)
{
    uint8_t *aad = kh_xmalloc(KH_KES_HDR_LEN + len);
    memcpy(aad, hdr, KH_KES_HDR_LEN);
    if (len)
        memcpy(aad + KH_KES_HDR_LEN, context, len);
    *aad_len = KH_KES_HDR_LEN + len;
    return aad;
}

kh_err kh_kes_encrypt(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *pt, size_t pt_len,
                      const uint8_t *context, size_t context_len, uint8_t **ct, size_t *ct_len)
{
    uint8_t hdr[KH_KES_HDR_LEN];
    kh_crypto_result res;
    kh_kes_ct_header(hdr, KH_KES_KEY_VERSION);
    const kh_ttlv *params = pinned_params(k);
    kh_crypto_req req = {
        .uid = k->uid, .key = k->loaded, .params = params, .data = pt, .data_len = pt_len};
    uint8_t *aad = make_aad(hdr, context, context_len, &req.aad_len);
    req.aad = aad;
    ctx->perm = KH_PERM_ENCRYPT;
    kh_err err = kh_op_encrypt(ctx, &req, &res);
    if (err == KH_OK && (res.iv_len != KH_KES_NONCE_LEN || res.tag_len != KH_KES_TAG_LEN))
        err = KH_ERR_INTERNAL;
    if (err == KH_OK) {
        size_t n = KH_KES_CT_OVERHEAD + res.len;
        uint8_t *c = kh_xmalloc(n);
        memcpy(c, hdr, KH_KES_HDR_LEN);
        memcpy(c + KH_KES_HDR_LEN, res.iv, KH_KES_NONCE_LEN);
        if (res.len)
            memcpy(c + KH_KES_HDR_LEN + KH_KES_NONCE_LEN, res.data, res.len);
        memcpy(c + n - KH_KES_TAG_LEN, res.tag, KH_KES_TAG_LEN);
        *ct = c;
        *ct_len = n;
    }
    kh_crypto_result_clear(&res);
    free(aad);
    return err;
}

kh_err kh_kes_decrypt(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *ct, size_t ct_len,
                      const uint8_t *context, size_t context_len, uint8_t **pt, size_t *pt_len)
{
    kh_kes_ct c;
    kh_crypto_result res;
    kh_err err = kh_kes_ct_parse(ct, ct_len, &c);
    if (err != KH_OK)
        return err;
    if (c.key_version != KH_KES_KEY_VERSION)
        return KH_ERR_CRYPTO; /* no such version of this key */
    const kh_ttlv *params = pinned_params(k);
    kh_crypto_req req = {.uid = k->uid,
                         .key = k->loaded,
                         .params = params,
                         .data = c.data,
                         .data_len = c.data_len,
                         .iv = c.nonce,
                         .iv_len = KH_KES_NONCE_LEN,
                         .tag = c.tag,
                         .tag_len = KH_KES_TAG_LEN};
    uint8_t *aad = make_aad(c.header, context, context_len, &req.aad_len);
    req.aad = aad;
    ctx->perm = KH_PERM_DECRYPT;
    err = kh_op_decrypt(ctx, &req, &res);
    if (err == KH_OK) {
        *pt = res.data;
        *pt_len = res.len;
        res.data = NULL;
        res.len = 0;
    }
    kh_crypto_result_clear(&res);
    free(aad);
    return err;
}

kh_err kh_kes_generate(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *context, size_t context_len,
                       kh_secbuf **dek, uint8_t **ct, size_t *ct_len)
{
    kh_secbuf *d = kh_secbuf_new(KH_KES_DEK_LEN);
    kh_err err = kh_random_secret(d->data, d->len);
    if (err == KH_OK)
        err = kh_kes_encrypt(ctx, k, d->data, d->len, context, context_len, ct, ct_len);
    if (err == KH_OK)
        *dek = d;
    else
        kh_secbuf_free(&d);
    return err;
}

static const char hmac_info[] = "keyhold/kes/hmac/v1";

kh_err kh_kes_hmac(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *msg, size_t len,
                   uint8_t out[KH_KES_HMAC_LEN])
{
    kh_use_key key;
    uint8_t buf[KH_MAC_MAX_LEN];
    uint8_t info[sizeof(hmac_info)];
    size_t n = 0;
    kh_secbuf *sub = NULL;
    ctx->perm = KH_PERM_MAC;
    kh_err err = k->loaded ? kh_use_key_from(ctx, k->loaded, KH_USE_PROTECT,
                                             KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE, &key)
                           : kh_use_key_load(ctx, k->uid, KH_USE_PROTECT,
                                             KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE, &key);
    if (err != KH_OK)
        return err;
    if (!key.secret) {
        err = KH_ERR_INVALID_FIELD;
        goto out;
    }
    /* HKDF-Expand, one block: T(1) = HMAC(PRK, info || 0x01). */
    memcpy(info, hmac_info, sizeof(hmac_info) - 1);
    info[sizeof(info) - 1] = 0x01;
    if ((err = kh_mac(buf, &n, KH_MAC_HMAC, KH_HASH_SHA256, key.secret, info, sizeof(info))) !=
        KH_OK)
        goto out;
    sub = kh_secbuf_dup(buf, KH_KES_HMAC_LEN);
    kh_wipe(buf, sizeof(buf));
    if ((err = kh_mac(buf, &n, KH_MAC_HMAC, KH_HASH_SHA256, sub, msg, len)) != KH_OK)
        goto out;
    memcpy(out, buf, KH_KES_HMAC_LEN);
out:
    kh_wipe(buf, sizeof(buf));
    kh_secbuf_free(&sub);
    kh_use_key_clear(&key);
    return err;
}

kh_err kh_kes_store_ping(kh_service *svc, int64_t *micros)
{
    struct timespec a, b;
    int version = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kh_err err = kh_store_schema_version(svc->store, &version);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *micros = (int64_t)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
    return err;
}
