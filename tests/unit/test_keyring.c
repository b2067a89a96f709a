/*
 * test_keyring.c - unit tests for src/ops/keyring.c on a real SQLite file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/mem.h"
#include "crypto/aead.h"
#include "crypto/rand.h"
#include "crypto/secbuf.h"
#include "ops/keyring.h"
#include "store/store.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYMMETRIC_KEY 2
#define SECRET_DATA 7

static const char secret[] = "PLAINTEXT-MARKER-7f3a9c-do-not-store-me-in-the-clear";

typedef struct fixture {
    char dir[64];
    char path[128];
    uint8_t master[KH_AEAD_KEY_LEN];
    kh_store *s;
    kh_keyring *k;
    int64_t realm;
} fixture;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static kh_err new_keyring(fixture *f, const uint8_t *master, kh_keyring **out)
{
    return kh_keyring_new_take(f->s, kh_secbuf_dup(master, KH_AEAD_KEY_LEN), out);
}

static int setup(void **state)
{
    fixture *f = kh_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kh_keyring_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/keyhold.db", f->dir);
    if (kh_random_bytes(f->master, sizeof(f->master)) != KH_OK ||
        kh_store_open(f->path, &f->s) != KH_OK || kh_store_migrate(f->s, NULL) != KH_OK ||
        kh_store_realm_ensure(f->s, "default", &f->realm) != KH_OK ||
        new_keyring(f, f->master, &f->k) != KH_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kh_keyring_free(&f->k);
    kh_store_close(&f->s);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    kh_wipe(f->master, sizeof(f->master));
    free(f);
    return 0;
}

static void seal_secret(kh_keyring *k, int64_t realm, const char *uid, uint8_t **ct, size_t *ct_len)
{
    int32_t version = 0;
    assert_int_equal(kh_keyring_seal(k, realm, uid, SYMMETRIC_KEY, (const uint8_t *)secret,
                                     sizeof(secret), ct, ct_len, &version),
                     KH_OK);
    assert_int_equal(version, 1);
}

static void expect_open(kh_keyring *k, int64_t realm, const char *uid, int32_t type,
                        const uint8_t *ct, size_t ct_len, kh_err want)
{
    kh_secbuf *pt = NULL;
    assert_int_equal(kh_keyring_open(k, realm, 1, uid, type, ct, ct_len, &pt), want);
    if (want == KH_OK) {
        assert_int_equal(pt->len, sizeof(secret));
        assert_memory_equal(pt->data, secret, sizeof(secret));
    } else {
        assert_null(pt);
    }
    kh_secbuf_free(&pt);
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    uint8_t *ct = NULL, *ct2 = NULL;
    size_t ct_len = 0, ct2_len = 0;
    assert_int_equal(kh_keyring_verify(f->k, f->realm), KH_OK); /* no key yet: fine */
    seal_secret(f->k, f->realm, "obj-1", &ct, &ct_len);
    seal_secret(f->k, f->realm, "obj-2", &ct2, &ct2_len); /* reuses version 1 */
    expect_open(f->k, f->realm, "obj-1", SYMMETRIC_KEY, ct, ct_len, KH_OK);
    expect_open(f->k, f->realm, "obj-2", SYMMETRIC_KEY, ct2, ct2_len, KH_OK);
    assert_int_equal(kh_keyring_verify(f->k, f->realm), KH_OK);
    free(ct);
    free(ct2);
}

static void test_second_keyring_same_master(void **state)
{
    fixture *f = *state;
    kh_keyring *k2 = NULL;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    seal_secret(f->k, f->realm, "obj-1", &ct, &ct_len);
    assert_int_equal(new_keyring(f, f->master, &k2), KH_OK);
    assert_int_equal(kh_keyring_verify(k2, f->realm), KH_OK);
    expect_open(k2, f->realm, "obj-1", SYMMETRIC_KEY, ct, ct_len, KH_OK);
    kh_keyring_free(&k2);
    assert_null(k2);
    free(ct);
}

static void test_wrong_master(void **state)
{
    fixture *f = *state;
    kh_keyring *k2 = NULL;
    uint8_t other[KH_AEAD_KEY_LEN];
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    seal_secret(f->k, f->realm, "obj-1", &ct, &ct_len);
    memcpy(other, f->master, sizeof(other));
    other[31] ^= 0x01;
    assert_int_equal(new_keyring(f, other, &k2), KH_OK);
    assert_int_equal(kh_keyring_verify(k2, f->realm), KH_ERR_CRYPTO);
    expect_open(k2, f->realm, "obj-1", SYMMETRIC_KEY, ct, ct_len, KH_ERR_CRYPTO);
    /* Nor may it seal: that would mix keys no one can open. */
    int32_t v = 0;
    uint8_t *ct2 = NULL;
    size_t ct2_len = 0;
    assert_int_equal(kh_keyring_seal(k2, f->realm, "obj-2", SYMMETRIC_KEY, (const uint8_t *)secret,
                                     sizeof(secret), &ct2, &ct2_len, &v),
                     KH_ERR_CRYPTO);
    assert_null(ct2);
    kh_keyring_free(&k2);
    free(ct);
}

static void test_aad_binding(void **state)
{
    fixture *f = *state;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    int64_t realm2 = 0;
    seal_secret(f->k, f->realm, "obj-1", &ct, &ct_len);
    expect_open(f->k, f->realm, "obj-2", SYMMETRIC_KEY, ct, ct_len, KH_ERR_CRYPTO);
    expect_open(f->k, f->realm, "obj-1x", SYMMETRIC_KEY, ct, ct_len, KH_ERR_CRYPTO);
    expect_open(f->k, f->realm, "obj-", SYMMETRIC_KEY, ct, ct_len, KH_ERR_CRYPTO);
    expect_open(f->k, f->realm, "obj-1", SECRET_DATA, ct, ct_len, KH_ERR_CRYPTO);
    /* Another realm has another key (created on its first seal). */
    assert_int_equal(kh_store_realm_ensure(f->s, "other", &realm2), KH_OK);
    uint8_t *ct2 = NULL;
    size_t ct2_len = 0;
    seal_secret(f->k, realm2, "obj-9", &ct2, &ct2_len);
    expect_open(f->k, realm2, "obj-1", SYMMETRIC_KEY, ct, ct_len, KH_ERR_CRYPTO);
    expect_open(f->k, realm2, "obj-9", SYMMETRIC_KEY, ct2, ct2_len, KH_OK);
    /* A key version that does not exist. */
    kh_secbuf *pt = NULL;
    assert_int_equal(kh_keyring_open(f->k, f->realm, 5, "obj-1", SYMMETRIC_KEY, ct, ct_len, &pt),
                     KH_ERR_CRYPTO);
    free(ct);
    free(ct2);
}

/* The database file, its WAL and its shared memory must never hold the
 * plaintext or the master key, whatever SQLite does with its pages. */
static int file_contains(const char *path, const void *needle, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *data = kh_xmalloc(size > 0 ? (size_t)size : 1);
    size_t got = fread(data, 1, (size_t)(size > 0 ? size : 0), fp);
    fclose(fp);
    int found = memmem(data, got, needle, n) != NULL;
    free(data);
    return found;
}

static void check_files(fixture *f)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        assert_false(file_contains(p, secret, strlen(secret)));
        assert_false(file_contains(p, "PLAINTEXT-MARKER", 16));
        assert_false(file_contains(p, f->master, sizeof(f->master)));
    }
}

static void test_no_plaintext_on_disk(void **state)
{
    fixture *f = *state;
    kh_obj_row r = {0};
    r.uid = "obj-disk";
    r.owner = "alice";
    r.realm_id = f->realm;
    r.object_type = SYMMETRIC_KEY;
    seal_secret(f->k, f->realm, r.uid, &r.material, &r.material_len);
    r.material_key_version = 1;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
    check_files(f); /* while open: the row is in the WAL */
    kh_keyring_free(&f->k);
    kh_store_close(&f->s); /* checkpoints into the main file */
    check_files(f);

    /* And it still opens after the restart. */
    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_open(f->path, &f->s), KH_OK);
    assert_int_equal(new_keyring(f, f->master, &f->k), KH_OK);
    assert_int_equal(kh_store_object_get(f->s, "obj-disk", &g), KH_OK);
    expect_open(f->k, f->realm, "obj-disk", SYMMETRIC_KEY, g->material, g->material_len, KH_OK);
    kh_obj_row_free(&g);
    free(r.material);
}

static void test_bad_master_length(void **state)
{
    fixture *f = *state;
    kh_keyring *k2 = NULL;
    assert_int_equal(kh_keyring_new_take(f->s, kh_secbuf_new(16), &k2), KH_ERR_INVALID_ARG);
    assert_null(k2);
}

/* Version 2 of the realm key, as another node's rotation would store it. */
static void store_version_2(fixture *f)
{
    static const char label[] = "keyhold realm key";
    uint8_t aad[sizeof(label) + 12], key[KH_AEAD_KEY_LEN];
    memcpy(aad, label, sizeof(label));
    for (int i = 0; i < 8; i++)
        aad[sizeof(label) + i] = (uint8_t)((uint64_t)f->realm >> (56 - 8 * i));
    memcpy(aad + sizeof(label) + 8, "\0\0\0\2", 4);
    assert_int_equal(kh_random_bytes(key, sizeof(key)), KH_OK);
    kh_secbuf *master = kh_secbuf_dup(f->master, sizeof(f->master));
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    assert_int_equal(
        kh_aead_seal(master, aad, sizeof(aad), key, sizeof(key), &wrapped, &wrapped_len), KH_OK);
    assert_int_equal(kh_store_realm_key_insert(f->s, f->realm, 2, wrapped, wrapped_len), KH_OK);
    kh_wipe(key, sizeof(key));
    kh_secbuf_free(&master);
    free(wrapped);
}

/* The newest version is remembered for a moment, not for ever: a version
 * stored by someone else is used for sealing soon after, and what either
 * version sealed still opens. */
static void test_new_version_taken_up(void **state)
{
    fixture *f = *state;
    uint8_t *ct1 = NULL, *ct2 = NULL;
    size_t ct1_len = 0, ct2_len = 0;
    seal_secret(f->k, f->realm, "obj-1", &ct1, &ct1_len);
    store_version_2(f);
    int32_t v = 0;
    for (int tries = 0; tries < 100 && v != 2; tries++) { /* 1 s expected, 10 s at most */
        free(ct2);
        ct2 = NULL;
        assert_int_equal(kh_keyring_seal(f->k, f->realm, "obj-2", SYMMETRIC_KEY,
                                         (const uint8_t *)secret, sizeof(secret), &ct2, &ct2_len,
                                         &v),
                         KH_OK);
        assert_true(v == 1 || v == 2);
        if (v != 2)
            usleep(100 * 1000);
    }
    assert_int_equal(v, 2);
    expect_open(f->k, f->realm, "obj-1", SYMMETRIC_KEY, ct1, ct1_len, KH_OK);
    kh_secbuf *pt = NULL;
    assert_int_equal(kh_keyring_open(f->k, f->realm, 2, "obj-2", SYMMETRIC_KEY, ct2, ct2_len, &pt),
                     KH_OK);
    assert_memory_equal(pt->data, secret, sizeof(secret));
    kh_secbuf_free(&pt);
    assert_int_equal(kh_keyring_open(f->k, f->realm, 1, "obj-2", SYMMETRIC_KEY, ct2, ct2_len, &pt),
                     KH_ERR_CRYPTO);
    free(ct1);
    free(ct2);
}

/* Many threads seal in a fresh realm at once: exactly one key version 1
 * must win, and everything sealed must open. */
#define N_THREADS 8

typedef struct sealer {
    fixture *f;
    int64_t realm;
    uint8_t *ct;
    size_t ct_len;
    kh_err err;
} sealer;

static void *seal_worker(void *arg)
{
    sealer *w = arg;
    int32_t v = 0;
    w->err = kh_keyring_seal(w->f->k, w->realm, "same", SYMMETRIC_KEY, (const uint8_t *)secret,
                             sizeof(secret), &w->ct, &w->ct_len, &v);
    return NULL;
}

static void test_concurrent_first_seal(void **state)
{
    fixture *f = *state;
    int64_t realm = 0;
    pthread_t t[N_THREADS];
    sealer ws[N_THREADS];
    assert_int_equal(kh_store_realm_ensure(f->s, "race", &realm), KH_OK);
    for (int i = 0; i < N_THREADS; i++) {
        ws[i] = (sealer){f, realm, NULL, 0, KH_OK};
        assert_int_equal(pthread_create(&t[i], NULL, seal_worker, &ws[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    kh_keyring *k2 = NULL;
    assert_int_equal(new_keyring(f, f->master, &k2), KH_OK);
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(ws[i].err, KH_OK);
        expect_open(k2, realm, "same", SYMMETRIC_KEY, ws[i].ct, ws[i].ct_len, KH_OK);
        free(ws[i].ct);
    }
    kh_keyring_free(&k2);
}

int main(void)
{
    /* Failures below are expected and logged; KH_TEST_LOG=1 shows them. */
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    if (kh_crypto_init(0) != KH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_keyring_same_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aad_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_master_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_version_taken_up, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
