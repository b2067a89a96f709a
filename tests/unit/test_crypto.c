/*
 * test_crypto.c - unit tests for src/crypto/: AEAD, master key file, RNG.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "crypto/aead.h"
#include "crypto/digest.h"
#include "crypto/masterkey.h"
#include "crypto/rand.h"
#include "crypto/secbuf.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const uint8_t aad[] = "object-1\0\0\0\0\x02";
static const uint8_t msg[] = "attack at dawn, bring the keys";

static kh_secbuf *random_key(void)
{
    kh_secbuf *k = kh_secbuf_new(KH_AEAD_KEY_LEN);
    assert_int_equal(kh_random_bytes(k->data, k->len), KH_OK);
    return k;
}

static void seal_msg(const kh_secbuf *key, uint8_t **ct, size_t *ct_len)
{
    assert_int_equal(kh_aead_seal(key, aad, sizeof(aad), msg, sizeof(msg), ct, ct_len), KH_OK);
    assert_int_equal(*ct_len, sizeof(msg) + KH_AEAD_OVERHEAD);
}

static void test_aead_round_trip(void **state)
{
    (void)state;
    kh_secbuf *key = random_key(), *pt = NULL;
    uint8_t *ct = NULL, *ct2 = NULL;
    size_t ct_len = 0, ct2_len = 0;
    seal_msg(key, &ct, &ct_len);
    assert_int_equal(ct[0], 0x01);
    assert_int_equal(kh_aead_open(key, aad, sizeof(aad), ct, ct_len, &pt), KH_OK);
    assert_int_equal(pt->len, sizeof(msg));
    assert_memory_equal(pt->data, msg, sizeof(msg));
    /* Same input twice: fresh nonce, different blob. */
    seal_msg(key, &ct2, &ct2_len);
    assert_memory_not_equal(ct, ct2, ct_len);
    kh_secbuf_free(&pt);
    assert_null(pt);
    free(ct);
    free(ct2);
    kh_secbuf_free(&key);
}

static void test_aead_empty(void **state)
{
    (void)state;
    kh_secbuf *key = random_key(), *pt = NULL;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    assert_int_equal(kh_aead_seal(key, NULL, 0, NULL, 0, &ct, &ct_len), KH_OK);
    assert_int_equal(ct_len, KH_AEAD_OVERHEAD);
    assert_int_equal(kh_aead_open(key, NULL, 0, ct, ct_len, &pt), KH_OK);
    assert_int_equal(pt->len, 0);
    kh_secbuf_free(&pt);
    free(ct);
    kh_secbuf_free(&key);
}

static void test_aead_tamper_every_byte(void **state)
{
    (void)state;
    kh_secbuf *key = random_key();
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    seal_msg(key, &ct, &ct_len);
    for (size_t i = 0; i < ct_len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            kh_secbuf *pt = NULL;
            ct[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(kh_aead_open(key, aad, sizeof(aad), ct, ct_len, &pt), KH_ERR_CRYPTO);
            assert_null(pt);
            ct[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(ct);
    kh_secbuf_free(&key);
}

static void test_aead_wrong_aad_key_truncated(void **state)
{
    (void)state;
    kh_secbuf *key = random_key(), *other = random_key(), *pt = NULL;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    uint8_t bad_aad[sizeof(aad)];
    seal_msg(key, &ct, &ct_len);
    memcpy(bad_aad, aad, sizeof(aad));
    bad_aad[0] ^= 1;
    assert_int_equal(kh_aead_open(key, bad_aad, sizeof(aad), ct, ct_len, &pt), KH_ERR_CRYPTO);
    assert_int_equal(kh_aead_open(key, aad, sizeof(aad) - 1, ct, ct_len, &pt), KH_ERR_CRYPTO);
    assert_int_equal(kh_aead_open(key, NULL, 0, ct, ct_len, &pt), KH_ERR_CRYPTO);
    assert_int_equal(kh_aead_open(other, aad, sizeof(aad), ct, ct_len, &pt), KH_ERR_CRYPTO);
    for (size_t len = 0; len < ct_len; len++)
        assert_int_equal(kh_aead_open(key, aad, sizeof(aad), ct, len, &pt), KH_ERR_CRYPTO);
    assert_int_equal(kh_aead_open(key, aad, sizeof(aad), NULL, 0, &pt), KH_ERR_CRYPTO);
    assert_null(pt);
    free(ct);
    kh_secbuf_free(&key);
    kh_secbuf_free(&other);
}

static void test_aead_bad_key_length(void **state)
{
    (void)state;
    kh_secbuf *key = kh_secbuf_new(16), *pt = NULL;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    assert_int_equal(kh_aead_seal(key, NULL, 0, msg, sizeof(msg), &ct, &ct_len),
                     KH_ERR_INVALID_ARG);
    assert_null(ct);
    uint8_t blob[64] = {0x01};
    assert_int_equal(kh_aead_open(key, NULL, 0, blob, sizeof(blob), &pt), KH_ERR_INVALID_ARG);
    kh_secbuf_free(&key);
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(kh_ct_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abc", 3));
    assert_false(kh_ct_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abd", 3));
    assert_false(kh_ct_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abcd", 4));
    assert_true(kh_ct_equal(NULL, 0, NULL, 0));
}

static void test_secbuf(void **state)
{
    (void)state;
    kh_secbuf *b = kh_secbuf_new(40);
    for (size_t i = 0; i < b->len; i++)
        assert_int_equal(b->data[i], 0);
    kh_secbuf *d = kh_secbuf_dup(msg, sizeof(msg));
    assert_memory_equal(d->data, msg, sizeof(msg));
    kh_secbuf_free(&b);
    kh_secbuf_free(&d);
    kh_secbuf_free(&d); /* NULL is fine */
    kh_secbuf_free(NULL);
}

/* Lower-case 8-4-4-4-12 hex, version digit version, RFC variant. */
static void assert_uuid(const char *a, char version)
{
    assert_int_equal(strlen(a), KH_UUID_STRLEN);
    for (int i = 0; i < KH_UUID_STRLEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_true(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
    }
    assert_int_equal(a[14], version);
    assert_non_null(strchr("89ab", a[19]));
}

static void test_uuid_format(void **state)
{
    (void)state;
    char a[KH_UUID_STRLEN + 1], b[KH_UUID_STRLEN + 1];
    for (int n = 0; n < 100; n++) {
        assert_int_equal(kh_uuid4(a), KH_OK);
        assert_uuid(a, '4');
    }
    assert_int_equal(kh_uuid4(b), KH_OK);
    assert_string_not_equal(a, b);
}

/* Both generators fill what they are given, differently each time, and
 * leave the bytes around it alone. */
static void test_random_public_and_secret(void **state)
{
    (void)state;
    kh_err (*gen[2])(uint8_t *, size_t) = {kh_random_bytes, kh_random_secret};
    for (int g = 0; g < 2; g++) {
        uint8_t a[34] = {0}, b[34] = {0}, zero[32] = {0};
        assert_int_equal(gen[g](a + 1, 32), KH_OK);
        assert_int_equal(gen[g](b + 1, 32), KH_OK);
        assert_int_equal(gen[g](b, 0), KH_OK);
        assert_int_equal(a[0] | a[33] | b[0] | b[33], 0);
        assert_true(memcmp(a + 1, zero, 32) != 0);
        assert_true(memcmp(a + 1, b + 1, 32) != 0);
    }
}

/* Version 7: same format, the time in front, and later ones sort after. */
static void test_uuid7(void **state)
{
    (void)state;
    char prev[KH_UUID_STRLEN + 1] = "", a[KH_UUID_STRLEN + 1];
    struct timespec t0, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    for (int n = 0; n < 100; n++) {
        assert_int_equal(kh_uuid7(a), KH_OK);
        assert_uuid(a, '7');
        assert_string_not_equal(a, prev);
        /* the first 48 bits: a millisecond, never before the previous one */
        assert_true(strncmp(a, prev, 13) >= 0);
        memcpy(prev, a, sizeof(a));
        struct timespec pause = {0, 200 * 1000};
        nanosleep(&pause, NULL);
    }
    clock_gettime(CLOCK_REALTIME, &t1);
    char hex[13] = {0};
    memcpy(hex, a, 8);
    memcpy(hex + 8, a + 9, 4);
    uint64_t ms = strtoull(hex, NULL, 16);
    assert_true(ms >= (uint64_t)t0.tv_sec * 1000 + (uint64_t)t0.tv_nsec / 1000000);
    assert_true(ms <= (uint64_t)t1.tv_sec * 1000 + (uint64_t)t1.tv_nsec / 1000000);
}

static void test_sha256_hex(void **state)
{
    (void)state;
    uint8_t d[KH_SHA256_LEN];
    char hex[2 * KH_SHA256_LEN + 1];
    assert_int_equal(kh_sha256((const uint8_t *)"abc", 3, d), KH_OK);
    kh_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(kh_sha256(NULL, 0, d), KH_OK);
    kh_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- master key file ------------------------------------------------- */

static char tmpdir[64];
static char keypath[128];

static int mk_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/kh_crypto_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(keypath, sizeof(keypath), "%s/master.key", tmpdir);
    return 0;
}

static int mk_teardown(void **state)
{
    (void)state;
    unlink(keypath);
    rmdir(tmpdir);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_master_key_create_reload(void **state)
{
    (void)state;
    kh_secbuf *a = NULL, *b = NULL;
    bool created = false;
    struct stat st;
    unlink(keypath);
    assert_int_equal(kh_master_key_load(keypath, &a, &created), KH_OK);
    assert_true(created);
    assert_int_equal(a->len, 32);
    assert_int_equal(stat(keypath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(kh_master_key_load(keypath, &b, &created), KH_OK);
    assert_false(created);
    assert_true(kh_ct_equal(a->data, a->len, b->data, b->len));
    kh_secbuf_free(&a);
    kh_secbuf_free(&b);
}

static void test_master_key_bad_mode(void **state)
{
    (void)state;
    static const mode_t modes[] = {0640, 0604, 0660, 0602, 0620, 0644};
    kh_secbuf *a = NULL;
    unlink(keypath);
    assert_int_equal(kh_master_key_load(keypath, &a, NULL), KH_OK);
    kh_secbuf_free(&a);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(chmod(keypath, modes[i]), 0);
        assert_int_equal(kh_master_key_load(keypath, &a, NULL), KH_ERR_CONFIG);
        assert_null(a);
    }
    assert_int_equal(chmod(keypath, 0400), 0);
    assert_int_equal(kh_master_key_load(keypath, &a, NULL), KH_OK);
    kh_secbuf_free(&a);
}

static void test_master_key_content(void **state)
{
    (void)state;
    static const char good[] = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    static const char *const bad[] = {
        "",
        "0011",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",   /* 63 */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0", /* 65 */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",  /* not hex */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\n",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff ",
        " 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    };
    kh_secbuf *a = NULL;
    bool created = true;
    write_file(keypath, good, 0600);
    assert_int_equal(kh_master_key_load(keypath, &a, &created), KH_OK);
    assert_false(created);
    assert_int_equal(a->data[0], 0x00);
    assert_int_equal(a->data[9], 0x99);
    assert_int_equal(a->data[31], 0xff);
    kh_secbuf_free(&a);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(keypath, bad[i], 0600);
        assert_int_equal(kh_master_key_load(keypath, &a, NULL), KH_ERR_CONFIG);
        assert_null(a);
    }
}

static void test_master_key_not_regular(void **state)
{
    (void)state;
    kh_secbuf *a = NULL;
    assert_int_equal(kh_master_key_load(tmpdir, &a, NULL), KH_ERR_CONFIG);
    assert_int_equal(kh_master_key_load("/nonexistent-dir/x/master.key", &a, NULL), KH_ERR_IO);
    assert_null(a);
}

int main(void)
{
    /* Failures below are expected and logged; KH_TEST_LOG=1 shows them. */
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    if (kh_crypto_init(0) != KH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aead_round_trip),
        cmocka_unit_test(test_aead_empty),
        cmocka_unit_test(test_aead_tamper_every_byte),
        cmocka_unit_test(test_aead_wrong_aad_key_truncated),
        cmocka_unit_test(test_aead_bad_key_length),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_secbuf),
        cmocka_unit_test(test_uuid_format),
        cmocka_unit_test(test_random_public_and_secret),
        cmocka_unit_test(test_uuid7),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_master_key_create_reload),
        cmocka_unit_test(test_master_key_bad_mode),
        cmocka_unit_test(test_master_key_content),
        cmocka_unit_test(test_master_key_not_regular),
    };
    return cmocka_run_group_tests(tests, mk_setup, mk_teardown);
}
