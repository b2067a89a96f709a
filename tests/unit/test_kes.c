/*
 * test_kes.c - the KES API's pieces: names and patterns, base64, the
 * ciphertext format (round trip, tampering, wrong context, wrong version),
 * the key operations against a real SQLite file, and the I/O-thread
 * routing (methods, names, fixed answers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/mem.h"
#include "fixture.h"
#include "ops/kes_ops.h"
#include "proto/kes.h"
#include "proto/kmip_consts.h"

#include <time.h>

/* ---- names and patterns ----------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool ok;
    } table[] = {
        {"k", true},   {"my-key", true}, {"my_key", true},    {"_k", true},
        {"k_", true},  {"__", true},     {"A-9_z", true},     {"minio-default-key", true},
        {"", false},   {"_", false},     {"-", false},        {"-k", false},
        {"k-", false}, {"a b", false},   {"a.b", false},      {"a/b", false},
        {"a*", false}, {"%41", false},   {"\xc3\xa9", false},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (kh_kes_name_valid(table[i].name) != table[i].ok)
            fail_msg("name '%s': expected %d", table[i].name, table[i].ok);
    }
    char n[KH_KES_NAME_MAX + 2];
    memset(n, 'k', sizeof(n));
    n[KH_KES_NAME_MAX] = '\0';
    assert_true(kh_kes_name_valid(n));
    n[KH_KES_NAME_MAX] = 'k';
    n[KH_KES_NAME_MAX + 1] = '\0';
    assert_false(kh_kes_name_valid(n));
}

static void test_patterns(void **state)
{
    (void)state;
    assert_true(kh_kes_pattern_valid(""));
    assert_true(kh_kes_pattern_valid("*"));
    assert_true(kh_kes_pattern_valid("my-*"));
    assert_true(kh_kes_pattern_valid("-*")); /* a prefix may end in '-' */
    assert_true(kh_kes_pattern_valid("exact"));
    assert_false(kh_kes_pattern_valid("a*b"));
    assert_false(kh_kes_pattern_valid("**"));
    assert_false(kh_kes_pattern_valid("k-"));
    assert_false(kh_kes_pattern_valid("a.b*"));

    assert_true(kh_kes_pattern_match("", "anything"));
    assert_true(kh_kes_pattern_match("*", "anything"));
    assert_true(kh_kes_pattern_match("my-*", "my-key"));
    assert_true(kh_kes_pattern_match("my-*", "my-"));
    assert_false(kh_kes_pattern_match("my-*", "my"));
    assert_false(kh_kes_pattern_match("my-*", "your-key"));
    assert_true(kh_kes_pattern_match("my-key", "my-key"));
    assert_false(kh_kes_pattern_match("my-key", "my-key2"));
    assert_false(kh_kes_pattern_match("my-key", "my-ke"));
}

/* ---- base64 ----------------------------------------------------------- */

static void test_base64(void **state)
{
    (void)state;
    static const char *vectors[][2] = {{"", ""},
                                       {"f", "Zg=="},
                                       {"fo", "Zm8="},
                                       {"foo", "Zm9v"},
                                       {"foob", "Zm9vYg=="},
                                       {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        kh_buf b = {0};
        size_t n = strlen(vectors[i][0]);
        kh_kes_b64_append(&b, (const uint8_t *)vectors[i][0], n);
        assert_int_equal(b.len, strlen(vectors[i][1]));
        assert_memory_equal(b.data ? b.data : (uint8_t *)"", vectors[i][1], b.len);
        uint8_t out[16];
        size_t m = 99;
        assert_true(kh_kes_b64_decode(vectors[i][1], strlen(vectors[i][1]), out, &m));
        assert_int_equal(m, n);
        assert_memory_equal(out, vectors[i][0], n);
        kh_buf_free(&b);
    }
    uint8_t all[256], out[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    kh_buf b = {0};
    kh_kes_b64_append(&b, all, sizeof(all));
    size_t m = 0;
    assert_true(kh_kes_b64_decode((const char *)b.data, b.len, out, &m));
    assert_int_equal(m, 256);
    assert_memory_equal(out, all, 256);
    kh_buf_free(&b);

    static const char *bad[] = {"Z",     "Zg",   "Zg=",  "Zg=a", "Z===", "Zh==",    "Zm9=",
                                "Zm9v=", "Zm 9", "Zm-v", "Zm_v", "=Zm9", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (kh_kes_b64_decode(bad[i], strlen(bad[i]), out, &m))
            fail_msg("accepted '%s'", bad[i]);
    }
}

/* ---- ciphertext format ------------------------------------------------ */

static void test_ct_parse(void **state)
{
    (void)state;
    uint8_t ct[KH_KES_CT_OVERHEAD + 3];
    kh_kes_ct c;
    memset(ct, 0xaa, sizeof(ct));
    kh_kes_ct_header(ct, 0x01020304);
    assert_int_equal(ct[0], 1);
    assert_int_equal(kh_kes_ct_parse(ct, sizeof(ct), &c), KH_OK);
    assert_int_equal(c.key_version, 0x01020304);
    assert_ptr_equal(c.nonce, ct + 5);
    assert_ptr_equal(c.data, ct + 17);
    assert_int_equal(c.data_len, 3);
    assert_ptr_equal(c.tag, ct + 20);
    assert_int_equal(kh_kes_ct_parse(ct, KH_KES_CT_OVERHEAD, &c), KH_OK);
    assert_int_equal(c.data_len, 0);
    assert_int_equal(kh_kes_ct_parse(ct, KH_KES_CT_OVERHEAD - 1, &c), KH_ERR_CRYPTO);
    assert_int_equal(kh_kes_ct_parse(NULL, 0, &c), KH_ERR_CRYPTO);
    ct[0] = 2;
    assert_int_equal(kh_kes_ct_parse(ct, sizeof(ct), &c), KH_ERR_CRYPTO);
}

/* ---- operations ------------------------------------------------------- */

static kh_ctx ctx_for(kh_fixture *f, const char *principal)
{
    kh_ctx c = {.principal = principal, .now = (int64_t)time(NULL), .svc = &f->svc};
    return c;
}

static void test_ops_round_trip(void **state)
{
    (void)state;
    kh_fixture *f = kh_fixture_new();
    kh_ctx ctx = ctx_for(f, "alice");
    kh_kes_key k, k2;
    assert_int_equal(kh_kes_key_find(&ctx, "app", &k), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_key_create(&ctx, "app", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k),
                     KH_OK);
    assert_int_equal(kh_kes_key_create(&ctx, "app", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k2),
                     KH_ERR_EXISTS);
    assert_int_equal(kh_kes_key_create(&ctx, "-bad", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k2),
                     KH_ERR_INVALID_ARG);
    assert_int_equal(kh_kes_key_find(&ctx, "app", &k2), KH_OK);
    assert_string_equal(k2.uid, k.uid);
    assert_string_equal(k2.owner, "alice");
    assert_int_equal(k2.state, KH_STATE_ACTIVE);
    assert_int_equal(k2.bits, 256);
    kh_kes_key_clear(&k2);

    const uint8_t cx[] = "{\"bucket\":\"b/o\"}";
    kh_secbuf *dek = NULL;
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_len = 0, pt_len = 0;
    assert_int_equal(kh_kes_generate(&ctx, &k, cx, sizeof(cx) - 1, &dek, &ct, &ct_len), KH_OK);
    assert_int_equal(dek->len, KH_KES_DEK_LEN);
    assert_int_equal(ct_len, KH_KES_CT_OVERHEAD + KH_KES_DEK_LEN);
    assert_int_equal(ct[0], KH_KES_CT_VERSION);
    assert_int_equal(ct[4], KH_KES_KEY_VERSION);
    assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len, cx, sizeof(cx) - 1, &pt, &pt_len), KH_OK);
    assert_int_equal(pt_len, dek->len);
    assert_memory_equal(pt, dek->data, pt_len);
    kh_wipe_free(pt, pt_len);

    /* wrong context, no context */
    assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len, (const uint8_t *)"x", 1, &pt, &pt_len),
                     KH_ERR_CRYPTO);
    assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len, NULL, 0, &pt, &pt_len), KH_ERR_CRYPTO);
    /* every bit of every byte is authenticated */
    for (size_t i = 0; i < ct_len; i++) {
        ct[i] ^= 0x80;
        assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len, cx, sizeof(cx) - 1, &pt, &pt_len),
                         KH_ERR_CRYPTO);
        ct[i] ^= 0x80;
    }
    /* a key version that does not exist, even with a matching tag */
    ct[4] = 2;
    assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len, cx, sizeof(cx) - 1, &pt, &pt_len),
                     KH_ERR_CRYPTO);
    ct[4] = 1;
    assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len - 1, cx, sizeof(cx) - 1, &pt, &pt_len),
                     KH_ERR_CRYPTO);
    free(ct);
    kh_secbuf_free(&dek);

    /* empty plaintext */
    assert_int_equal(kh_kes_encrypt(&ctx, &k, NULL, 0, NULL, 0, &ct, &ct_len), KH_OK);
    assert_int_equal(ct_len, KH_KES_CT_OVERHEAD);
    assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len, NULL, 0, &pt, &pt_len), KH_OK);
    assert_int_equal(pt_len, 0);
    kh_wipe_free(pt, pt_len);
    free(ct);

    /* HMAC: stable, message-dependent */
    uint8_t m1[KH_KES_HMAC_LEN], m2[KH_KES_HMAC_LEN], m3[KH_KES_HMAC_LEN];
    assert_int_equal(kh_kes_hmac(&ctx, &k, (const uint8_t *)"root", 4, m1), KH_OK);
    assert_int_equal(kh_kes_hmac(&ctx, &k, (const uint8_t *)"root", 4, m2), KH_OK);
    assert_int_equal(kh_kes_hmac(&ctx, &k, (const uint8_t *)"roots", 5, m3), KH_OK);
    assert_memory_equal(m1, m2, sizeof(m1));
    assert_memory_not_equal(m1, m3, sizeof(m1));

    /* another principal sees nothing and may create its own "app" */
    kh_ctx bob = ctx_for(f, "bob");
    assert_int_equal(kh_kes_key_find(&bob, "app", &k2), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_encrypt(&bob, &k, NULL, 0, NULL, 0, &ct, &ct_len), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_key_create(&bob, "app", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k2),
                     KH_OK);
    assert_string_not_equal(k2.uid, k.uid);
    kh_kes_key_clear(&k2);

    /* delete frees the name */
    assert_int_equal(kh_kes_key_delete(&ctx, &k), KH_OK);
    assert_int_equal(kh_kes_key_find(&ctx, "app", &k2), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_encrypt(&ctx, &k, NULL, 0, NULL, 0, &ct, &ct_len), KH_ERR_NO_KEY_VALUE);
    kh_kes_key_clear(&k);
    assert_int_equal(kh_kes_key_create(&ctx, "app", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k),
                     KH_OK);
    kh_kes_key_clear(&k);
    kh_fixture_free(&f);
}

static void test_ops_import_and_list(void **state)
{
    (void)state;
    kh_fixture *f = kh_fixture_new();
    kh_ctx ctx = ctx_for(f, "alice");
    uint8_t raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)i;
    kh_secbuf *key = kh_secbuf_dup(raw, sizeof(raw));
    kh_secbuf *short_key = kh_secbuf_dup(raw, 16);
    kh_kes_key k;
    assert_int_equal(
        kh_kes_key_create(&ctx, "cc", KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20_POLY1305, key, &k),
        KH_OK);
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_len = 0, pt_len = 0;
    assert_int_equal(kh_kes_encrypt(&ctx, &k, (const uint8_t *)"hi", 2, NULL, 0, &ct, &ct_len),
                     KH_OK);
    assert_int_equal(kh_kes_decrypt(&ctx, &k, ct, ct_len, NULL, 0, &pt, &pt_len), KH_OK);
    assert_memory_equal(pt, "hi", 2);
    kh_wipe_free(pt, pt_len);
    free(ct);
    kh_kes_key_clear(&k);
    assert_int_equal(
        kh_kes_key_create(&ctx, "short", KH_CRYPTOGRAPHIC_ALGORITHM_AES, short_key, &k),
        KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_kes_key_create(&ctx, "a-1", KH_CRYPTOGRAPHIC_ALGORITHM_AES, key, &k),
                     KH_OK);
    kh_kes_key_clear(&k);
    assert_int_equal(kh_kes_key_create(&ctx, "a-2", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k),
                     KH_OK);
    kh_kes_key_clear(&k);

    char **names = NULL;
    size_t n = 0;
    assert_int_equal(kh_kes_key_list(&ctx, "a-*", &names, &n), KH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a-1");
    assert_string_equal(names[1], "a-2");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    assert_int_equal(kh_kes_key_list(&ctx, "", &names, &n), KH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(names[2], "cc");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    kh_ctx bob = ctx_for(f, "bob");
    assert_int_equal(kh_kes_key_list(&bob, "", &names, &n), KH_OK);
    assert_int_equal(n, 0);
    free(names);

    int64_t us = -1;
    assert_int_equal(kh_kes_store_ping(&f->svc, &us), KH_OK);
    assert_true(us >= 0);
    kh_secbuf_free(&key);
    kh_secbuf_free(&short_key);
    kh_fixture_free(&f);
}

/* ---- the name cache (ops/kes_keycache.h) ------------------------------ */

/* Another node sharing the database: a second store on the same file,
 * whose writes this process's caches cannot hear of. */
static void other_node_update(kh_fixture *f, const char *uid, int32_t state, const char *name)
{
    kh_store *other = NULL;
    kh_obj_row *row = NULL;
    assert_int_equal(kh_store_open(f->db, &other), KH_OK);
    assert_int_equal(kh_store_object_get(other, uid, &row), KH_OK);
    row->state = state;
    if (name) {
        for (size_t i = 0; i < row->n_names; i++)
            free(row->names[i]);
        row->names[0] = kh_xstrdup(name);
        row->n_names = 1;
    }
    assert_int_equal(kh_store_object_update(other, row), KH_OK);
    kh_obj_row_free(&row);
    kh_store_close(&other);
}

static void found_is(kh_ctx *ctx, const char *name, const char *uid)
{
    kh_kes_key k;
    assert_int_equal(kh_kes_key_find(ctx, name, &k), KH_OK);
    assert_string_equal(k.uid, uid);
    assert_non_null(k.loaded);
    kh_kes_key_clear(&k);
}

static void test_ops_name_cache(void **state)
{
    (void)state;
    kh_fixture *f = kh_fixture_new();
    kh_ctx ctx = ctx_for(f, "alice");
    kh_kes_key k, k2;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    kh_secbuf *dek = NULL;

    /* found twice (the second time from the cache), usable both times */
    assert_int_equal(kh_kes_key_create(&ctx, "app", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k),
                     KH_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kh_kes_key_find(&ctx, "app", &k2), KH_OK);
        assert_string_equal(k2.uid, k.uid);
        assert_string_equal(k2.owner, "alice");
        assert_int_equal(k2.bits, 256);
        assert_int_equal(kh_kes_generate(&ctx, &k2, NULL, 0, &dek, &ct, &ct_len), KH_OK);
        kh_secbuf_free(&dek);
        free(ct);
        kh_kes_key_clear(&k2);
    }
    /* deleted here: gone at once; made again under the same name: the new one */
    assert_int_equal(kh_kes_key_delete(&ctx, &k), KH_OK);
    assert_int_equal(kh_kes_key_find(&ctx, "app", &k2), KH_ERR_NOT_FOUND);
    kh_kes_key_clear(&k);
    assert_int_equal(kh_kes_key_create(&ctx, "app", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k),
                     KH_OK);
    found_is(&ctx, "app", k.uid);
    found_is(&ctx, "app", k.uid);

    /* destroyed by another node: gone at once here too */
    other_node_update(f, k.uid, (int32_t)KH_STATE_DESTROYED, NULL);
    assert_int_equal(kh_kes_key_find(&ctx, "app", &k2), KH_ERR_NOT_FOUND);
    kh_kes_key_clear(&k);

    /* renamed by another node: the old name is gone at once */
    assert_int_equal(kh_kes_key_create(&ctx, "old", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k),
                     KH_OK);
    found_is(&ctx, "old", k.uid);
    other_node_update(f, k.uid, (int32_t)KH_STATE_ACTIVE, "new");
    assert_int_equal(kh_kes_key_find(&ctx, "old", &k2), KH_ERR_NOT_FOUND);
    found_is(&ctx, "new", k.uid);

    /* an older own key given the cached name here (over KMIP): the oldest
     * own key answers, as without the cache */
    assert_int_equal(kh_kes_key_create(&ctx, "later", KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, &k2),
                     KH_OK);
    found_is(&ctx, "later", k2.uid);
    kh_ttlv *n = kh_ttlv_new_struct(KH_TAG_NAME);
    kh_ttlv_add_take(n, kh_ttlv_new_text(KH_TAG_NAME_VALUE, "later"));
    kh_ttlv_add_take(n, kh_ttlv_new_enum(KH_TAG_NAME_TYPE, KH_NAME_TYPE_UNINTERPRETED_TEXT_STRING));
    int32_t idx = -1;
    assert_int_equal(kh_op_add_attribute(&ctx, k.uid, n, &idx), KH_OK);
    kh_ttlv_free(&n);
    found_is(&ctx, "later", k.uid);

    /* another principal never gets alice's cached answer */
    kh_ctx bob = ctx_for(f, "bob");
    kh_kes_key k3;
    assert_int_equal(kh_kes_key_find(&bob, "later", &k3), KH_ERR_NOT_FOUND);
    kh_kes_key_clear(&k);
    kh_kes_key_clear(&k2);
    kh_fixture_free(&f);
}

/* ---- routing on the I/O thread ---------------------------------------- */

static bool kes_listener; /* route with kh_kes_listener_route instead */

static int route(kh_http_method m, const char *path, kh_http_reply *r, bool *answered)
{
    kh_http_request req;
    memset(&req, 0, sizeof(req));
    memset(r, 0, sizeof(*r));
    req.method = m;
    snprintf(req.path, sizeof(req.path), "%s", path);
    *answered = kes_listener ? kh_kes_listener_route(&req, r) : kh_kes_route(&req, r);
    kh_buf_append_u8(&r->body, '\0');
    return r->status;
}

static void test_routing(void **state)
{
    (void)state;
    kh_http_reply r;
    bool done;
    assert_true(kh_kes_owns_path("/version"));
    assert_true(kh_kes_owns_path("/v1/key/create/k"));
    assert_false(kh_kes_owns_path("/v1/admin/users"));
    assert_false(kh_kes_owns_path("/health"));

    assert_int_equal(route(KH_HTTP_GET, "/version", &r, &done), 200);
    assert_true(done);
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_PUT, "/v1/key/create/k", &r, &done), 0);
    assert_false(done); /* to a worker */
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_POST, "/v1/key/generate/k", &r, &done), 0);
    assert_false(done);
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_GET, "/v1/key/generate/k", &r, &done), 405);
    assert_string_equal((char *)r.body.data,
                        "{\"message\":\"received method 'GET' expected 'PUT'\"}");
    assert_string_equal(r.allow, "PUT, POST");
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_PUT, "/v1/key/create/a.b", &r, &done), 400);
    assert_string_equal((char *)r.body.data,
                        "{\"message\":\"key name 'a.b' is empty, too long or contains invalid "
                        "characters\"}");
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_GET, "/v1/key/list/a*b", &r, &done), 400);
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_GET, "/v1/key/list", &r, &done), 0);
    kh_buf_free(&r.body);
    /* anything but /version authenticates first, on a worker: a bad
     * credential is a 401 there, never an answer for "admin" */
    assert_int_equal(route(KH_HTTP_GET, "/v1/policy/describe/p", &r, &done), 0);
    assert_false(done);
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_GET, "/v1/identity/self/describe", &r, &done), 0);
    assert_false(done);
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_GET, "/v1/nope", &r, &done), 501);
    kh_buf_free(&r.body);
}

/* The KES listener checks policies on a worker, so only /version and
 * refusals of method or name are answered on the I/O thread. */
static void test_listener_routing(void **state)
{
    (void)state;
    kh_http_reply r;
    bool done;
    kes_listener = true;
    assert_int_equal(route(KH_HTTP_GET, "/version", &r, &done), 200);
    assert_true(done);
    kh_buf_free(&r.body);
    static const char *to_worker[] = {
        "/v1/api",         "/v1/metrics",   "/v1/identity/self/describe", "/v1/policy/describe/p",
        "/v1/policy/list", "/v1/log/audit", "/v1/key/describe/k"};
    for (size_t i = 0; i < sizeof(to_worker) / sizeof(to_worker[0]); i++) {
        assert_int_equal(route(KH_HTTP_GET, to_worker[i], &r, &done), 0);
        assert_false(done);
        kh_buf_free(&r.body);
    }
    assert_int_equal(route(KH_HTTP_GET, "/v1/key/create/k", &r, &done), 405);
    assert_true(done);
    assert_string_equal(r.accept, "PUT");
    assert_string_equal(r.allow, "PUT, POST");
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_DELETE, "/v1/key/describe/k", &r, &done), 405);
    assert_string_equal(r.accept, "GET");
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_GET, "/v1/key/describe/-k", &r, &done), 400);
    kh_buf_free(&r.body);
    assert_int_equal(route(KH_HTTP_GET, "/v1/nope", &r, &done), 501);
    kh_buf_free(&r.body);
    kes_listener = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),          cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_base64),         cmocka_unit_test(test_ct_parse),
        cmocka_unit_test(test_ops_round_trip), cmocka_unit_test(test_ops_import_and_list),
        cmocka_unit_test(test_routing),        cmocka_unit_test(test_listener_routing),
        cmocka_unit_test(test_ops_name_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
