/*
 * test_kes_policy.c - KES policies (ops/kes_policy.c): rule matching, the
 * allow/deny decision with its admin, the run-time API, the policy file
 * (good and malformed), the KMIP permissions a policy implies
 * (ops/kes_grants.c), and KES API keys (crypto/kes_apikey.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/kes_apikey.h"
#include "ops/authz.h"
#include "ops/kes_grants.h"
#include "ops/kes_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_ADMIN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_rule_match(void **state)
{
    (void)state;
    static const struct {
        const char *rule, *path;
        bool match;
    } table[] = {
        {"/v1/status", "/v1/status", true},
        {"/v1/status", "/v1/status/", false},
        {"/v1/status", "/v1/statu", false},
        {"/v1/key/generate/my-app*", "/v1/key/generate/my-app", true},
        {"/v1/key/generate/my-app*", "/v1/key/generate/my-app-2", true},
        {"/v1/key/generate/my-app*", "/v1/key/generate/my-ap", false},
        {"/v1/key/generate/my-app*", "/v1/key/decrypt/my-app", false},
        {"/v1/key/*", "/v1/key/generate/anything/at/all", true},
        {"/v1/key/*/my-app", "/v1/key/generate/my-app", true},
        {"/v1/key/*/my-app", "/v1/key/generate/x/my-app", false},
        {"/v1/key/*/my-app", "/v1/key/generate/my-app2", false},
        {"*", "/anything", true},
        {"/", "/", true},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (kh_kes_rule_match(table[i].rule, table[i].path) != table[i].match)
            fail_msg("%s vs %s: expected %d", table[i].rule, table[i].path, table[i].match);
}

/* The rule language as first written (ops/kes_policy.c before it became
 * linear): backtracking, exponential in the stars, and the definition. */
static bool reference_match(const char *rule, const char *path)
{
    while (*rule) {
        if (*rule == '*') {
            if (rule[1] == '\0')
                return true;
            for (const char *p = path;; p++) {
                if (reference_match(rule + 1, p))
                    return true;
                if (*p == '\0' || *p == '/')
                    return false;
            }
        }
        if (*rule != *path)
            return false;
        rule++;
        path++;
    }
    return *path == '\0';
}

/* Random short rules and paths over a small alphabet (so that they often
 * almost match): the matcher agrees with the definition on each. */
static void test_rule_match_reference(void **state)
{
    (void)state;
    static const char rule_chars[] = "ab/*";
    static const char path_chars[] = "ab/";
    char rule[12], path[12];
    srand(12345);
    for (int n = 0; n < 200000; n++) {
        size_t rl = (size_t)rand() % sizeof(rule), pl = (size_t)rand() % sizeof(path);
        for (size_t i = 0; i < rl; i++)
            rule[i] = rule_chars[rand() % 4];
        rule[rl] = '\0';
        for (size_t i = 0; i < pl; i++)
            path[i] = path_chars[rand() % 3];
        path[pl] = '\0';
        if (kh_kes_rule_match(rule, path) != reference_match(rule, path))
            fail_msg("rule '%s', path '%s': %d, the definition says %d", rule, path,
                     kh_kes_rule_match(rule, path), reference_match(rule, path));
    }
}

/* A rule of many stars against a long segment that almost matches: the
 * backtracking matcher took about 60^20 steps here; this one answers. */
static void test_rule_match_many_stars(void **state)
{
    (void)state;
    char rule[128] = "/v1/key/generate/", path[128] = "/v1/key/generate/";
    for (int i = 0; i < 20; i++)
        strcat(rule, "*a");
    strcat(rule, "*b");
    for (int i = 0; i < 60; i++)
        strcat(path, "a");
    assert_false(kh_kes_rule_match(rule, path));
    strcat(path, "b");
    assert_true(kh_kes_rule_match(rule, path));
}

static void put(kh_kes_policies *p, const char *name, char **allow, size_t na, char **deny,
                size_t nd)
{
    kh_kes_policy pol = {.name = (char *)name,
                         .allow = allow,
                         .n_allow = na,
                         .deny = deny,
                         .n_deny = nd,
                         .created_by = ID_ADMIN};
    assert_int_equal(kh_kes_policy_put(p, &pol), KH_OK);
}

static void test_decisions(void **state)
{
    (void)state;
    kh_kes_policies *p = kh_kes_policies_new();
    char *allow[] = {"/v1/key/generate/app-*", "/v1/key/decrypt/app-*", "/v1/status"};
    char *deny[] = {"/v1/key/decrypt/app-secret"};
    put(p, "app", allow, 3, deny, 1);
    assert_int_equal(kh_kes_identity_assign(p, ID_A, "app"), KH_OK);
    assert_int_equal(kh_kes_admin_set(p, ID_ADMIN), KH_OK);

    assert_int_equal(kh_kes_policy_check(p, ID_A, "/v1/key/generate/app-1"), KH_OK);
    assert_int_equal(kh_kes_policy_check(p, ID_A, "/v1/key/decrypt/app-1"), KH_OK);
    assert_int_equal(kh_kes_policy_check(p, ID_A, "/v1/status"), KH_OK);
    /* deny first, then allow, then nothing */
    assert_int_equal(kh_kes_policy_check(p, ID_A, "/v1/key/decrypt/app-secret"), KH_ERR_PERMISSION);
    assert_int_equal(kh_kes_policy_check(p, ID_A, "/v1/key/create/app-1"), KH_ERR_PERMISSION);
    /* no policy, no access; the admin passes everything */
    assert_int_equal(kh_kes_policy_check(p, ID_B, "/v1/status"), KH_ERR_PERMISSION);
    assert_int_equal(kh_kes_policy_check(p, ID_ADMIN, "/v1/key/delete/x"), KH_OK);
    assert_true(kh_kes_is_admin(p, ID_ADMIN));
    assert_false(kh_kes_is_admin(p, ID_A));
    assert_int_equal(kh_kes_policy_check(p, "", "/v1/status"), KH_ERR_PERMISSION);

    /* what that means over KMIP */
    uint32_t perms = kh_kes_policy_perms(p, ID_A, "app-1");
    assert_int_equal(perms, KH_PERM_LOCATE | KH_PERM_ENCRYPT | KH_PERM_DECRYPT);
    perms = kh_kes_policy_perms(p, ID_A, "app-secret");
    assert_int_equal(perms, KH_PERM_LOCATE | KH_PERM_ENCRYPT);
    assert_int_equal(kh_kes_policy_perms(p, ID_A, "other"), 0);
    assert_int_equal(kh_kes_policy_perms(p, ID_B, "app-1"), 0);
    perms = kh_kes_policy_perms(p, ID_ADMIN, "any");
    assert_true(perms & KH_PERM_DESTROY);
    assert_false(perms & (KH_PERM_GET | KH_PERM_EXPORT)); /* never the material */
    kh_kes_policies_free(&p);
    assert_null(p);
}

static void test_api(void **state)
{
    (void)state;
    kh_kes_policies *p = kh_kes_policies_new();
    char *allow[] = {"/v1/status"};
    char *bad[] = {"v1/no-slash"};
    put(p, "b-pol", allow, 1, NULL, 0);
    put(p, "a-pol", allow, 1, NULL, 0);
    kh_kes_policy pol = {.name = "bad", .allow = bad, .n_allow = 1};
    assert_int_equal(kh_kes_policy_put(p, &pol), KH_ERR_INVALID_ARG);
    pol = (kh_kes_policy){.name = "-bad-name"};
    assert_int_equal(kh_kes_policy_put(p, &pol), KH_ERR_INVALID_ARG);

    char **names = NULL;
    size_t n = 0;
    assert_int_equal(kh_kes_policy_list(p, "*", &names, &n), KH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a-pol");
    assert_string_equal(names[1], "b-pol");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);

    kh_kes_policy got = {0};
    assert_int_equal(kh_kes_policy_get(p, "a-pol", &got), KH_OK);
    assert_int_equal(got.n_allow, 1);
    assert_string_equal(got.allow[0], "/v1/status");
    assert_string_equal(got.created_by, ID_ADMIN);
    assert_true(got.created_at > 0);
    kh_kes_policy_clear(&got);
    assert_int_equal(kh_kes_policy_get(p, "nope", &got), KH_ERR_NOT_FOUND);

    assert_int_equal(kh_kes_identity_assign(p, ID_A, "nope"), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_identity_assign(p, "not-hex", "a-pol"), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_kes_identity_assign(p, ID_A, "a-pol"), KH_OK);
    assert_int_equal(kh_kes_identity_assign(p, ID_A, "b-pol"), KH_OK); /* one policy each */
    char cur[KH_KES_POLICY_NAME_MAX + 1];
    assert_int_equal(kh_kes_identity_policy(p, ID_A, cur), KH_OK);
    assert_string_equal(cur, "b-pol");
    /* the admin may not also hold a policy, in either order */
    assert_int_equal(kh_kes_admin_set(p, ID_A), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_kes_admin_set(p, ID_ADMIN), KH_OK);
    assert_int_equal(kh_kes_identity_assign(p, ID_ADMIN, "a-pol"), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_kes_admin_set(p, "disabled"), KH_OK);
    assert_false(kh_kes_is_admin(p, ID_ADMIN));
    assert_int_equal(kh_kes_admin_set(p, ID_ADMIN), KH_OK);

    assert_int_equal(kh_kes_identity_list(p, "", &names, &n), KH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], ID_ADMIN);
    assert_string_equal(names[1], ID_A);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);

    /* deleting a policy unassigns its identities */
    assert_int_equal(kh_kes_policy_delete(p, "b-pol"), KH_OK);
    assert_int_equal(kh_kes_policy_delete(p, "b-pol"), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_identity_policy(p, ID_A, cur), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_identity_remove(p, ID_A), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_identity_assign(p, ID_A, "a-pol"), KH_OK);
    assert_int_equal(kh_kes_identity_remove(p, ID_A), KH_OK);
    kh_kes_policies_free(&p);
}

static kh_err load_text(const char *text)
{
    char path[] = "/tmp/kh-kes-policy-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    kh_kes_policies *p = kh_kes_policies_new();
    kh_err err = kh_kes_policies_load_file(p, path);
    if (err == KH_OK) { /* what the good file says */
        assert_true(kh_kes_is_admin(p, ID_ADMIN));
        assert_int_equal(kh_kes_policy_check(p, ID_A, "/v1/key/create/my-app-1"), KH_OK);
        assert_int_equal(kh_kes_policy_check(p, ID_B, "/v1/key/create/my-app-1"), KH_OK);
        assert_int_equal(kh_kes_policy_check(p, ID_A, "/v1/key/create/my-app-x"),
                         KH_ERR_PERMISSION);
    }
    kh_kes_policies_free(&p);
    unlink(path);
    return err;
}

static void test_file(void **state)
{
    (void)state;
    assert_int_equal(load_text("{\"admin\": {\"identity\": \"" ID_ADMIN "\"},"
                               " \"policy\": {\"my-app\": {\"allow\": [\"/v1/key/create/my-app*\"],"
                               " \"deny\": [\"/v1/key/create/my-app-x\"],"
                               " \"identities\": [\"" ID_A "\", \"" ID_B "\"]},"
                               " \"empty\": {}}}"),
                     KH_OK);
    static const char *bad[] = {
        "",
        "not json",
        "[]",
        "{\"admin\": \"x\"}",
        "{\"admin\": {\"identity\": \"short\"}}",
        "{\"policy\": []}",
        "{\"policy\": {\"p\": {\"allow\": \"/v1/status\"}}}",
        "{\"policy\": {\"p\": {\"allow\": [1]}}}",
        "{\"policy\": {\"p\": {\"allow\": [\"no-slash\"]}}}",
        "{\"policy\": {\"-p\": {}}}",
        "{\"policy\": {\"p\": {\"identities\": [\"" ID_A "\"]}, \"q\": {\"identities\": [\"" ID_A
        "\"]}}}",
        "{\"admin\": {\"identity\": \"" ID_A "\"}, \"policy\": {\"p\": {\"identities\": [\"" ID_A
        "\"]}}}",
        "{\"policy\": {\"p\": {}, \"p\": {}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (load_text(bad[i]) != KH_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i]);
    kh_kes_policies *p = kh_kes_policies_new();
    assert_int_equal(kh_kes_policies_load_file(p, "/nonexistent/policy.json"), KH_ERR_CONFIG);
    kh_kes_policies_free(&p);
}

static void test_apikey(void **state)
{
    (void)state;
    char key[KH_KES_APIKEY_LEN + 1], id[KH_KES_IDENTITY_LEN + 1], id2[KH_KES_IDENTITY_LEN + 1];
    assert_int_equal(kh_kes_apikey_generate(key, id), KH_OK);
    assert_int_equal(strlen(key), KH_KES_APIKEY_LEN);
    assert_memory_equal(key, "kes:v1:", 7);
    assert_int_equal(strlen(id), 64);
    assert_int_equal(kh_kes_apikey_identity(key, id2), KH_OK);
    assert_string_equal(id, id2);
    /* the all-zero seed: SHA-256 of its Ed25519 SPKI, computed independently
     * (python3-cryptography) */
    assert_int_equal(
        kh_kes_apikey_identity("kes:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", id2), KH_OK);
    assert_string_equal(id2, "339e2ff917630507b6a423b5ce084e285d1fa65d93b3e27a6195d3bbebc9ae23");
    static const char *bad[] = {
        "",
        "kes:v1:",
        "kes:v2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "kes:v1:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* version byte 1 */
        "kes:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* short */
        "kes:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*A", /* not base64 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (kh_kes_apikey_identity(bad[i], id2) != KH_ERR_INVALID_ARG)
            fail_msg("accepted: %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_match),
        cmocka_unit_test(test_rule_match_reference),
        cmocka_unit_test(test_rule_match_many_stars),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_apikey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
