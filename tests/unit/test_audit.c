/*
 * test_audit.c - src/ops/audit.c and the KMIP hook: what a row holds for
 * an allowed, a denied and a malformed request, field hygiene, and
 * kh_audit_verify against edits behind the store's back. The chain itself
 * is tested on both backends in test_store.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/log.h"
#include "crypto/digest.h"
#include "fixture.h"
#include "ops/audit.h"
#include "ops/keyops.h"
#include "proto/kmip.h"
#include "proto/kmip_consts.h"
#include "store/audit_chain.h"

#include <sqlite3.h>

static int setup(void **state)
{
    kh_fixture *f = kh_fixture_new();
    f->svc.audit = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    kh_fixture *f = *state;
    kh_fixture_free(&f);
    return 0;
}

static kh_audit_row *read_all(kh_fixture *f, size_t *n)
{
    kh_audit_row *rows = NULL;
    assert_int_equal(kh_store_audit_read(f->store, 0, 1000, &rows, n), KH_OK);
    return rows;
}

static int64_t broken_at(kh_fixture *f)
{
    kh_audit_report rep;
    assert_int_equal(kh_audit_verify(f->store, &rep), KH_OK);
    return rep.broken_id;
}

static void raw(kh_fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    char path[160];
    snprintf(path, sizeof(path), "%s/test.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* RequestMessage (1.2) of one batch item: operation op on uid. */
static void request(uint32_t op, const char *uid, kh_buf *out)
{
    kh_ttlv *msg = kh_ttlv_new_struct(KH_TAG_REQUEST_MESSAGE);
    kh_ttlv *hdr = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_REQUEST_HEADER));
    kh_ttlv_add_take(hdr, kh_kmip_version_item((kh_kmip_version){1, 2}));
    kh_ttlv_add_take(hdr, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, 1));
    kh_ttlv *bi = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, op));
    kh_ttlv *p = kh_ttlv_add_take(bi, kh_ttlv_new_struct(KH_TAG_REQUEST_PAYLOAD));
    kh_ttlv_add_take(p, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, uid));
    kh_ttlv_encode(msg, out);
    kh_ttlv_free(&msg);
}

static void test_kmip_items_are_recorded(void **state)
{
    kh_fixture *f = *state;
    kh_buf req = {0}, reply = {0};
    request(KH_OPERATION_GET, "no-such-uid", &req);
    kh_kmip_handle_as(&f->svc, "alice", "192.0.2.7:40000", "kmip", req.data, req.len, &reply);
    kh_buf_clear(&reply);
    kh_kmip_handle_as(&f->svc, "bob", NULL, "kmip", (const uint8_t *)"junk", 4, &reply);
    size_t n = 0;
    kh_audit_row *rows = read_all(f, &n);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, 1);
    assert_string_equal(rows[0].principal, "alice");
    assert_string_equal(rows[0].client_addr, "192.0.2.7:40000");
    assert_string_equal(rows[0].operation, "Get");
    assert_string_equal(rows[0].object_uid, "no-such-uid");
    assert_string_equal(rows[0].result, "KH_ERR_NOT_FOUND");
    assert_true(rows[0].time_us > 1600000000000000);
    assert_string_equal(rows[1].principal, "bob");
    assert_string_equal(rows[1].client_addr, "");
    assert_string_equal(rows[1].operation, "RequestMessage");
    assert_string_equal(rows[1].result, "KH_ERR_DECODE");
    kh_audit_rows_free(rows, n);
    assert_int_equal(broken_at(f), 0);
    kh_buf_free(&req);
    kh_buf_free(&reply);
}

static void test_disabled_records_nothing(void **state)
{
    kh_fixture *f = *state;
    f->svc.audit = false;
    kh_ctx c = {.principal = "alice", .now = 1, .svc = &f->svc};
    assert_int_equal(kh_audit_record(&c, "Get", "u", KH_OK), KH_OK);
    size_t n = 9;
    kh_audit_row *rows = read_all(f, &n);
    assert_int_equal(n, 0);
    kh_audit_rows_free(rows, n);
}

/* With reads allowed to reach the disk after the reply, every operation is
 * still recorded, in order, in a chain that verifies. */
static void test_reads_sync_later_still_recorded(void **state)
{
    kh_fixture *f = *state;
    f->svc.audit_reads_sync_later = true;
    kh_ctx c = {.principal = "alice", .now = 1, .svc = &f->svc, .client_addr = "1.2.3.4:5"};
    const char *ops[] = {"Get", "Create", "Encrypt", "kes_key_generate", "Destroy", "Locate"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        assert_int_equal(kh_audit_record(&c, ops[i], "u", KH_OK), KH_OK);
    size_t n = 0;
    kh_audit_row *rows = read_all(f, &n);
    assert_int_equal(n, sizeof(ops) / sizeof(ops[0]));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].id, (int64_t)i + 1);
        assert_string_equal(rows[i].operation, ops[i]);
    }
    kh_audit_rows_free(rows, n);
    assert_int_equal(broken_at(f), 0);
}

static void test_fields_are_cleaned(void **state)
{
    kh_fixture *f = *state;
    char long_uid[KH_AUDIT_FIELD_MAX + 100];
    memset(long_uid, 'u', sizeof(long_uid) - 1);
    long_uid[sizeof(long_uid) - 1] = '\0';
    kh_ctx c = {.principal = "al\nice\xff", .now = 1, .svc = &f->svc, .client_addr = NULL};
    assert_int_equal(kh_audit_record(&c, "Get", long_uid, KH_ERR_PERMISSION), KH_OK);
    size_t n = 0;
    kh_audit_row *rows = read_all(f, &n);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].principal, "al?ice?");
    assert_int_equal(strlen(rows[0].object_uid), KH_AUDIT_FIELD_MAX);
    assert_string_equal(rows[0].result, "KH_ERR_PERMISSION");
    kh_audit_rows_free(rows, n);
}

static void record_n(kh_fixture *f, int n)
{
    kh_ctx c = {.principal = "alice", .now = 1, .svc = &f->svc, .client_addr = "127.0.0.1:1"};
    for (int i = 0; i < n; i++)
        assert_int_equal(kh_audit_record(&c, "Encrypt", "k", KH_OK), KH_OK);
}

static void test_verify_pages_and_finds_edits(void **state)
{
    kh_fixture *f = *state;
    kh_audit_report rep;
    record_n(f, 1005); /* more than one page of the walk */
    assert_int_equal(kh_audit_verify(f->store, &rep), KH_OK);
    assert_int_equal(rep.broken_id, 0);
    assert_int_equal(rep.rows, 1005);
    raw(f, "UPDATE audit SET operation = 'Decrypt' WHERE id = 1002");
    assert_int_equal(kh_audit_verify(f->store, &rep), KH_OK);
    assert_int_equal(rep.broken_id, 1002);
    assert_int_equal(rep.rows, 1001);
    assert_non_null(strstr(rep.reason, "hash"));
}

static void test_verify_finds_deletions(void **state)
{
    kh_fixture *f = *state;
    record_n(f, 6);
    raw(f, "DELETE FROM audit WHERE id = 1");
    assert_int_equal(broken_at(f), 1);
}

static void test_verify_finds_rewritten_hash(void **state)
{
    kh_fixture *f = *state;
    record_n(f, 4);
    /* an editor who also rewrites that row's hash breaks the next row */
    raw(f, "UPDATE audit SET hash = zeroblob(32) WHERE id = 2");
    assert_int_equal(broken_at(f), 2);
}

static void test_verify_finds_forged_head(void **state)
{
    kh_fixture *f = *state;
    record_n(f, 3);
    raw(f, "UPDATE audit_head SET last_id = 2");
    assert_int_equal(broken_at(f), 3);
}

/* The two-step hash (encode off the lock, seal under it) is the documented
 * SHA-256(prev || canonical(row)), whatever id the seal writes in. */
static void test_chain_seal_matches_canonical(void **state)
{
    (void)state;
    kh_audit_row r = {0};
    r.time_us = 1700000000123456;
    r.principal = "alice";
    r.client_addr = "127.0.0.1:1";
    r.operation = "Get";
    r.object_uid = "";
    r.result = "KH_OK";
    uint8_t prev[KH_AUDIT_HASH_LEN], want[KH_AUDIT_HASH_LEN], got[KH_AUDIT_HASH_LEN];
    memset(prev, 0xa5, sizeof(prev));
    kh_buf prep = {0};
    kh_audit_chain_prepare(&r, &prep);
    const int64_t ids[] = {1, 0x0102030405060708, 7};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        kh_buf b = {0};
        r.id = ids[i];
        kh_buf_append(&b, prev, sizeof(prev));
        kh_audit_canonical(&r, &b);
        assert_int_equal(kh_sha256(b.data, b.len, want), KH_OK);
        kh_buf_free(&b);
        /* the same prepared buffer, sealed again with another id */
        assert_int_equal(kh_audit_chain_seal(&prep, prev, r.id, got), KH_OK);
        assert_memory_equal(got, want, KH_AUDIT_HASH_LEN);
        assert_int_equal(kh_audit_chain_hash(prev, &r, got), KH_OK);
        assert_memory_equal(got, want, KH_AUDIT_HASH_LEN);
        prev[0]++;
    }
    kh_buf_free(&prep);
}

/* ---- a write carrying its operation's row (ops/audit.h) ---------------- */

static kh_ttlv *aes_attrs(void)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(
        a, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, KH_CRYPTOGRAPHIC_ALGORITHM_AES));
    kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, 256));
    return a;
}

/* Run one operation the way the protocol layer does: prepare, run with
 * ctx.audit set, finish. Returns the operation's result. */
typedef kh_err (*op_fn)(kh_ctx *ctx, void *arg);

static kh_err run_audited(kh_fixture *f, const char *name, const char *uid, op_fn fn, void *arg,
                          bool *written)
{
    kh_ctx c = {.principal = "alice", .now = 1700000000, .svc = &f->svc, .client_addr = "x:1"};
    kh_audit_pending p;
    kh_audit_prepare(&c, &p, name, uid);
    c.audit = &p;
    kh_err err = fn(&c, arg);
    c.audit = NULL;
    *written = p.written;
    assert_int_equal(kh_audit_finish(&c, &p, name, uid ? uid : "", err), KH_OK);
    return err;
}

static kh_err do_create(kh_ctx *c, void *arg)
{
    kh_ttlv *a = aes_attrs();
    kh_err err = kh_op_create(c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, (char **)arg);
    kh_ttlv_free(&a);
    return err;
}

static kh_err do_activate(kh_ctx *c, void *arg)
{
    return kh_op_activate(c, arg);
}

static kh_err do_rekey(kh_ctx *c, void *arg)
{
    char **uids = arg; /* [0] old, [1] new */
    return kh_op_rekey(c, uids[0], 0, NULL, &uids[1]);
}

static kh_err do_held_create(kh_ctx *c, void *arg)
{
    kh_audit_hold(c); /* as a caller with a later write would */
    kh_err err = do_create(c, arg);
    kh_audit_release(c);
    return err;
}

/* One row per operation; a successful write carries it (no second
 * append), with the object chosen as before: the created one, the updated
 * one, the new one of a ReKey; failures and held writes append after. */
static void test_write_carries_its_row(void **state)
{
    kh_fixture *f = *state;
    char *uid = NULL, *held = NULL;
    char *rk[2] = {NULL, NULL};
    bool written = false;
    assert_int_equal(run_audited(f, "Create", NULL, do_create, &uid, &written), KH_OK);
    assert_true(written);
    assert_int_equal(run_audited(f, "Activate", NULL, do_activate, uid, &written), KH_OK);
    assert_true(written);
    rk[0] = uid;
    assert_int_equal(run_audited(f, "ReKey", NULL, do_rekey, rk, &written), KH_OK);
    assert_true(written);
    assert_int_equal(run_audited(f, "Activate", "nope", do_activate, "nope", &written),
                     KH_ERR_NOT_FOUND);
    assert_false(written);
    assert_int_equal(run_audited(f, "Create", NULL, do_held_create, &held, &written), KH_OK);
    assert_false(written); /* held: appended by finish, without an object */
    size_t n = 0;
    kh_audit_row *rows = read_all(f, &n);
    assert_int_equal(n, 5);
    assert_string_equal(rows[0].operation, "Create");
    assert_string_equal(rows[0].object_uid, uid);
    assert_string_equal(rows[0].principal, "alice");
    assert_string_equal(rows[0].client_addr, "x:1");
    assert_string_equal(rows[1].object_uid, uid);
    assert_string_equal(rows[2].operation, "ReKey");
    assert_string_equal(rows[2].object_uid, rk[1]);
    assert_string_equal(rows[2].result, "KH_OK");
    assert_string_equal(rows[3].object_uid, "nope");
    assert_string_equal(rows[3].result, "KH_ERR_NOT_FOUND");
    assert_string_equal(rows[4].object_uid, "");
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].id, (int64_t)i + 1);
    kh_audit_rows_free(rows, n);
    assert_int_equal(broken_at(f), 0);
    free(uid);
    free(rk[1]);
    free(held);
}

int main(void)
{
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kmip_items_are_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_carries_its_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_records_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields_are_cleaned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_pages_and_finds_edits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_finds_deletions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_finds_rewritten_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_finds_forged_head, setup, teardown),
        cmocka_unit_test(test_chain_seal_matches_canonical),
        cmocka_unit_test_setup_teardown(test_reads_sync_later_still_recorded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
