/*
 * audit.c - recording operations in the audit log and verifying its chain.
 *
 * Recording finishes before the reply goes out: the row is committed (in
 * SQLite's group commit together with other writers) before the client
 * sees the result, and on disk too unless it is a read's row with
 * sync_later (docs/audit.md: fsync'd within 100 ms). Inside a request run
 * by a worker the worker does not wait for that: the row is handed to the
 * store and the request's reply is held until it is committed
 * (common/defer.h), so the worker answers other requests meanwhile.
 * Verification recomputes every hash from the first row on and compares
 * the ids (which the store assigns without gaps) and the chain head.
 */
#include "ops/audit.h"

#include "common/defer.h"
#include "common/log.h"
#include "common/mem.h"
#include "crypto/secbuf.h"
#include "store/audit_chain.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define APPEND_ATTEMPTS 3
#define VERIFY_PAGE 1000

/* A printable-ASCII copy of s into out (KH_AUDIT_FIELD_MAX + 1 bytes), cut
 * at KH_AUDIT_FIELD_MAX bytes: the log is read by people and tools, and
 * PostgreSQL refuses invalid UTF-8. On the stack: one row per operation
 * should not cost five allocations. */
static char *clean(const char *s, char *out)
{
    size_t n = s ? strnlen(s, KH_AUDIT_FIELD_MAX) : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[n] = '\0';
    return out;
}

/* Operations that change nothing in the store: with
 * svc->audit_reads_sync_later their rows may be flushed just after the
 * reply. Anything not listed (and every unknown name) stays durable. */
static bool read_only(const char *op)
{
    static const char *const reads[] = {"Get",
                                        "GetAttributes",
                                        "GetAttributeList",
                                        "Locate",
                                        "Check",
                                        "Query",
                                        "DiscoverVersions",
                                        "Encrypt",
                                        "Decrypt",
                                        "Sign",
                                        "SignatureVerify",
                                        "MAC",
                                        "MACVerify",
                                        "RNGRetrieve",
                                        "Hash",
                                        "kes_key_generate",
                                        "kes_key_encrypt",
                                        "kes_key_decrypt",
                                        "kes_key_hmac",
                                        "kes_key_describe",
                                        "kes_key_list"};
    for (size_t i = 0; op && i < sizeof(reads) / sizeof(reads[0]); i++)
        if (strcmp(op, reads[i]) == 0)
            return true;
    return false;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "<user id> (<identity>)" for a registered user, so the log shows both
 * who acted and with which credential; the bare principal otherwise. */
static const char *audit_principal(const kh_ctx *ctx, char *buf, size_t n)
{
    if (!ctx->identity || !*ctx->identity)
        return ctx->principal;
    snprintf(buf, n, "%s (%s)", ctx->principal, ctx->identity);
    return buf;
}

/* A row and the text it points to, so that it can outlive the caller. */
typedef struct audit_entry {
    kh_audit_row row;
    char field[5][KH_AUDIT_FIELD_MAX + 1];
    kh_store *store;
    kh_defer *defer; /* the request whose reply waits for this row */
    int attempts;
} audit_entry;

static bool retryable(kh_err err)
{
    return err == KH_ERR_BUSY || err == KH_ERR_STORE;
}

static void report_failure(const kh_audit_row *row, kh_err err)
{
    kh_error("audit: could not record %s by %s (result %s): %s", row->operation, row->principal,
             row->result, kh_strerror(err));
}

static void entry_done(void *arg, kh_err err)
{
    audit_entry *e = arg;
    if (err != KH_OK && retryable(err) && ++e->attempts < APPEND_ATTEMPTS) {
        kh_store_audit_append_async(e->store, &e->row, entry_done, e);
        return;
    }
    if (err != KH_OK)
        report_failure(&e->row, err);
    kh_defer *d = e->defer;
    free(e);
    kh_defer_release(d);
}

static void fill_entry(const kh_ctx *ctx, audit_entry *e, const char *operation,
                       const char *object_uid, kh_err result)
{
    char who[KH_AUDIT_FIELD_MAX + 1];
    memset(&e->row, 0, sizeof(e->row));
    e->row.time_us = now_us();
    e->row.principal = clean(audit_principal(ctx, who, sizeof(who)), e->field[0]);
    e->row.client_addr = clean(ctx->client_addr, e->field[1]);
    e->row.operation = clean(operation, e->field[2]);
    e->row.object_uid = clean(object_uid, e->field[3]);
    e->row.result = clean(kh_err_name(result), e->field[4]);
    e->row.sync_later = ctx->svc->audit_reads_sync_later && read_only(operation);
}

kh_err kh_audit_record(const kh_ctx *ctx, const char *operation, const char *object_uid,
                       kh_err result)
{
    if (!ctx->svc || !ctx->svc->audit || !ctx->svc->store)
        return KH_OK;
    /* Inside a request run by a worker, the reply waits for the row's
     * commit, not the worker (common/defer.h): on the heap. */
    kh_defer *d = kh_defer_current();
    if (d) {
        audit_entry *e = kh_xcalloc(1, sizeof(*e));
        fill_entry(ctx, e, operation, object_uid, result);
        e->store = ctx->svc->store;
        e->defer = d;
        kh_defer_hold(d);
        kh_store_audit_append_async(e->store, &e->row, entry_done, e);
        return KH_OK; /* failures are logged when they happen */
    }
    audit_entry local;
    fill_entry(ctx, &local, operation, object_uid, result);
    kh_err err = KH_ERR_STORE;
    for (int i = 0; i < APPEND_ATTEMPTS && err != KH_OK; i++) {
        err = kh_store_audit_append(ctx->svc->store, &local.row);
        if (err != KH_OK && !retryable(err))
            break;
    }
    if (err != KH_OK)
        report_failure(&local.row, err);
    return err;
}

void kh_audit_prepare(const kh_ctx *ctx, kh_audit_pending *p, const char *operation,
                      const char *object_uid)
{
    char who[KH_AUDIT_FIELD_MAX + 1];
    p->active = ctx->svc && ctx->svc->audit && ctx->svc->store;
    p->uid_fixed = object_uid != NULL;
    p->written = false;
    p->held = 0;
    p->inserted = 0;
    memset(&p->row, 0, sizeof(p->row));
    if (!p->active)
        return;
    p->row.principal = clean(audit_principal(ctx, who, sizeof(who)), p->field[0]);
    p->row.client_addr = clean(ctx->client_addr, p->field[1]);
    p->row.operation = clean(operation, p->field[2]);
    p->row.object_uid = clean(object_uid, p->field[3]);
    p->row.result = clean(kh_err_name(KH_OK), p->field[4]);
}

kh_audit_row *kh_audit_carry(kh_ctx *ctx, const kh_obj_row *const *inserted, size_t n,
                             const kh_obj_row *updated)
{
    kh_audit_pending *p = ctx->audit;
    if (!p || !p->active || p->written)
        return NULL;
    if (!p->uid_fixed && p->inserted == 0 && n == 1)
        clean(inserted[0]->uid, p->field[3]); /* the one object it creates, so far */
    p->inserted += n;
    if (p->held > 0)
        return NULL;
    if (!p->uid_fixed && p->inserted > 1)
        p->field[3][0] = '\0';
    else if (!p->uid_fixed && p->inserted == 0 && updated)
        clean(updated->uid, p->field[3]);
    p->row.time_us = now_us();
    p->row.sync_later = false;
    return &p->row;
}

void kh_audit_carried(kh_ctx *ctx, const kh_audit_row *row, kh_err result)
{
    if (row && result == KH_OK)
        ctx->audit->written = true;
}

void kh_audit_hold(kh_ctx *ctx)
{
    if (ctx->audit)
        ctx->audit->held++;
}

void kh_audit_release(kh_ctx *ctx)
{
    if (ctx->audit)
        ctx->audit->held--;
}

kh_err kh_audit_finish(const kh_ctx *ctx, kh_audit_pending *p, const char *operation,
                       const char *object_uid, kh_err result)
{
    if (!p->written)
        return kh_audit_record(ctx, operation, object_uid, result);
    if (result == KH_OK)
        return KH_OK;
    /* Not meant to happen (a write carries the row only when nothing can
     * fail after it); the log must still hold the result the client saw. */
    kh_error("audit: %s failed after its write recorded it as done", p->row.operation);
    return kh_audit_record(ctx, operation, object_uid, result);
}

static void broken(kh_audit_report *out, int64_t id, const char *why)
{
    out->broken_id = id;
    snprintf(out->reason, sizeof(out->reason), "%s", why);
}

/* Check one page against the running state; 1 when the chain broke. */
static int check_page(const kh_audit_row *rows, size_t n, uint8_t prev[KH_AUDIT_HASH_LEN],
                      kh_audit_report *out, kh_err *err)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t h[KH_AUDIT_HASH_LEN];
        int64_t want = out->rows + 1;
        if (rows[i].id != want) {
            broken(out, want, "row missing (ids must follow each other)");
            return 1;
        }
        if ((*err = kh_audit_chain_hash(prev, &rows[i], h)) != KH_OK)
            return 1;
        if (!kh_ct_equal(h, KH_AUDIT_HASH_LEN, rows[i].hash, KH_AUDIT_HASH_LEN)) {
            broken(out, want, "row does not match its hash (edited, or a row before it was)");
            return 1;
        }
        memcpy(prev, h, KH_AUDIT_HASH_LEN);
        out->rows++;
    }
    return 0;
}

kh_err kh_audit_verify(kh_store *s, kh_audit_report *out)
{
    uint8_t prev[KH_AUDIT_HASH_LEN] = {0}, head_hash[KH_AUDIT_HASH_LEN];
    int64_t head_id = 0;
    kh_err err = KH_OK;
    memset(out, 0, sizeof(*out));
    for (;;) {
        kh_audit_row *rows = NULL;
        size_t n = 0;
        if ((err = kh_store_audit_read(s, out->rows, VERIFY_PAGE, &rows, &n)) != KH_OK)
            return err;
        int stop = check_page(rows, n, prev, out, &err);
        kh_audit_rows_free(rows, n);
        if (err != KH_OK)
            return err;
        if (stop)
            return KH_OK;
        if (n < VERIFY_PAGE)
            break;
    }
    /* The head says how far the chain went: rows cut off its end show. */
    if ((err = kh_store_audit_head(s, &head_id, head_hash)) != KH_OK)
        return err;
    if (head_id > out->rows)
        broken(out, out->rows + 1, "row missing (the chain head is further on)");
    else if (head_id < out->rows)
        broken(out, head_id + 1, "row after the chain head");
    else if (!kh_ct_equal(head_hash, KH_AUDIT_HASH_LEN, prev, KH_AUDIT_HASH_LEN))
        broken(out, head_id, "the chain head does not match the last row");
    return KH_OK;
}
