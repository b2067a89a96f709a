/*
 * test_realms.c - realms, members and roles: the store's history rows
 * (store_realms.c) and what a role gives (ops/realm.c, ops/authz.c), on
 * SQLite and, when KH_TEST_PG_URL is set, on PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "fixture.h"
#include "ops/attrs.h"
#include "ops/authz.h"
#include "ops/keyops.h"
#include "ops/realm.h"
#include "ops/users.h"
#include "proto/kmip_consts.h"

#include "test_db.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

typedef struct rfix {
    kh_fixture f;
    kh_test_db db;
} rfix;

/* A service on url (fixture.h's steps, with room for a long URL). */
static int open_on(rfix *r)
{
    char mk[160];
    kh_secbuf *master = NULL;
    bool created;
    int64_t realm;
    snprintf(r->f.dir, sizeof(r->f.dir), "/tmp/keyhold-test-XXXXXX");
    if (!mkdtemp(r->f.dir) || kh_crypto_init(0) != KH_OK)
        return -1;
    snprintf(mk, sizeof(mk), "%s/master.key", r->f.dir);
    if (kh_store_open(r->db.url, &r->f.store) != KH_OK ||
        kh_store_migrate(r->f.store, NULL) != KH_OK ||
        kh_store_realm_ensure(r->f.store, "default", &realm) != KH_OK ||
        kh_master_key_load(mk, &master, &created) != KH_OK ||
        kh_keyring_new_take(r->f.store, master, &r->f.keyring) != KH_OK)
        return -1;
    r->f.svc.store = r->f.store;
    r->f.svc.keyring = r->f.keyring;
    r->f.svc.realm_id = realm;
    r->f.svc.server_name = "test";
    return 0;
}

static int setup(void **state, const char *pg)
{
    rfix *r = calloc(1, sizeof(*r));
    *state = r;
    return r && kh_test_db_open(&r->db, pg, "realms") == 0 ? open_on(r) : -1;
}

KH_TEST_DB_SETUPS(setup)

static int teardown(void **state)
{
    rfix *r = *state;
    kh_fixture_close(&r->f);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->f.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", r->f.dir);
    kh_test_db_close(&r->db);
    free(r);
    return 0;
}

static kh_ctx ctx_for(rfix *r, const char *who, uint32_t perm)
{
    kh_ctx c = {.principal = who, .now = 1700000000, .svc = &r->f.svc, .perm = perm};
    return c;
}

/* An AES key made by who, in realm (NULL: no realm attribute). */
static kh_err make_key(rfix *r, const char *who, const char *realm, char **uid)
{
    kh_ctx c = ctx_for(r, who, 0);
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(
        a, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, KH_CRYPTOGRAPHIC_ALGORITHM_AES));
    kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, 256));
    if (realm)
        kh_ttlv_add_take(a, kh_attr_custom_take(KH_REALM_ATTRIBUTE, kh_ttlv_new_text(0, realm)));
    kh_err err = kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, uid);
    kh_ttlv_free(&a);
    return err;
}

static kh_err get_as(rfix *r, const char *who, const char *uid)
{
    kh_ctx c = ctx_for(r, who, KH_PERM_GET);
    uint32_t type = 0;
    kh_ttlv *obj = NULL;
    kh_err err = kh_op_get(&c, uid, &type, &obj);
    kh_ttlv_free(&obj);
    return err;
}

/* What who may do with uid needing perm (the check every operation runs). */
static kh_err check_as(rfix *r, const char *who, const char *uid, uint32_t perm)
{
    kh_ctx c = ctx_for(r, who, perm);
    kh_obj_row *row = NULL;
    assert_int_equal(kh_store_object_get(r->f.store, uid, &row), KH_OK);
    kh_err err = kh_authz_check(&c, row, perm);
    kh_obj_row_free(&row);
    return err;
}

static size_t locate_as(rfix *r, const char *who)
{
    kh_ctx c = ctx_for(r, who, KH_PERM_LOCATE);
    kh_locate_result res;
    assert_int_equal(kh_op_locate(&c, NULL, 0, -1, &res), KH_OK);
    size_t n = res.n;
    kh_locate_result_clear(&res);
    return n;
}

static kh_err set_role(rfix *r, const char *who, bool admin, const char *member, const char *role)
{
    kh_ctx c = ctx_for(r, who, 0);
    return kh_op_realm_member_set(&c, admin, "team", member, role, 0);
}

static kh_err set_grant(rfix *r, const char *who, bool admin, const char *member, uint32_t perms)
{
    kh_ctx c = ctx_for(r, who, 0);
    return kh_op_realm_member_set(&c, admin, "team", member, "GRANT", perms);
}

static void test_role_table(void **state)
{
    (void)state;
    uint32_t reader = kh_realm_role_perms("READER"), contrib = kh_realm_role_perms("CONTRIBUTOR"),
             manager = kh_realm_role_perms("MANAGER");
    assert_int_equal(kh_realm_role_perms("OWNER"), KH_PERM_ALL);
    assert_int_equal(reader & (KH_PERM_GET | KH_PERM_LOCATE), KH_PERM_GET | KH_PERM_LOCATE);
    assert_int_equal(reader & (KH_PERM_ENCRYPT | KH_PERM_DESTROY | KH_PERM_EXPORT), 0);
    assert_int_equal(contrib & reader, reader);
    assert_int_equal(contrib & (KH_PERM_ENCRYPT | KH_PERM_CREATE),
                     KH_PERM_ENCRYPT | KH_PERM_CREATE);
    assert_int_equal(contrib & (KH_PERM_DESTROY | KH_PERM_EXPORT | KH_PERM_REVOKE), 0);
    assert_int_equal(manager & contrib, contrib);
    assert_int_equal(manager & KH_PERM_DESTROY, KH_PERM_DESTROY);
    assert_int_equal(kh_realm_role_perms("reader"), 0);
    assert_int_equal(kh_realm_role_perms(NULL), 0);
    assert_true(kh_realm_name_ok("team-1.a_b"));
    assert_false(kh_realm_name_ok(""));
    assert_false(kh_realm_name_ok("a b"));
    assert_false(kh_realm_name_ok("a/b"));
}

static void test_store_history(void **state)
{
    rfix *r = *state;
    kh_store *s = r->f.store;
    int64_t id = 0, again = 0;
    assert_int_equal(kh_store_realm_create(s, "team", 10, NULL, &id), KH_OK);
    assert_true(id > 0 && id != r->f.svc.realm_id);
    assert_int_equal(kh_store_realm_create(s, "team", 11, NULL, &again), KH_ERR_EXISTS);
    kh_realm_row row = {0};
    assert_int_equal(kh_store_realm_find(s, "team", 0, &row), KH_OK);
    assert_int_equal(row.id, id);
    assert_int_equal(row.created_at, 10);
    free(row.name);
    assert_int_equal(kh_store_realm_find(s, NULL, id, &row), KH_OK);
    assert_string_equal(row.name, "team");
    free(row.name);
    assert_int_equal(kh_store_realm_find(s, "nope", 0, &row), KH_ERR_NOT_FOUND);
    kh_realm_row *list = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_realm_list(s, &list, &n), KH_OK);
    assert_int_equal(n, 2); /* default and team */
    kh_realm_rows_free(list, n);

    /* a realm and its first member come together, or not at all */
    kh_member_row first = {0, "zoe", "OWNER", 5, 12, "admin", 0, NULL};
    int64_t zid = 0;
    assert_int_equal(kh_store_realm_create(s, "zoe", 12, &first, &zid), KH_OK);
    kh_member_row z = {0};
    assert_int_equal(kh_store_member_get(s, zid, "zoe", &z), KH_OK);
    assert_int_equal(z.permissions, 5);
    kh_member_row_clear(&z);
    first.role = "KING"; /* refused by the schema: no realm either */
    assert_int_not_equal(kh_store_realm_create(s, "zoe2", 12, &first, &zid), KH_OK);
    assert_int_equal(kh_store_realm_find(s, "zoe2", 0, &row), KH_ERR_NOT_FOUND);

    kh_member_row m = {id, "bob", "READER", 3, 100, "admin", 0, NULL};
    assert_int_equal(kh_store_member_set(s, &m), KH_OK);
    m.role = "CONTRIBUTOR";
    m.permissions = 7;
    m.granted_at = 200;
    m.granted_by = "alice";
    assert_int_equal(kh_store_member_set(s, &m), KH_OK);
    kh_member_row star = {id, "*", "READER", 8, 250, "alice", 0, NULL};
    assert_int_equal(kh_store_member_set(s, &star), KH_OK);
    uint32_t perms = 0;
    assert_int_equal(kh_store_realm_perms(s, id, "bob", &perms), KH_OK);
    assert_int_equal(perms, 7 | 8);
    assert_int_equal(kh_store_realm_perms(s, id, "carol", &perms), KH_OK);
    assert_int_equal(perms, 8);
    assert_int_equal(kh_store_realm_perms(s, r->f.svc.realm_id, "bob", &perms), KH_OK);
    assert_int_equal(perms, 0);
    kh_member_row cur = {0};
    assert_int_equal(kh_store_member_get(s, id, "bob", &cur), KH_OK);
    assert_string_equal(cur.role, "CONTRIBUTOR");
    assert_int_equal(cur.removed_at, 0);
    kh_member_row_clear(&cur);

    assert_int_equal(kh_store_member_remove(s, id, "bob", 300, "carol"), KH_OK);
    assert_int_equal(kh_store_member_remove(s, id, "bob", 301, "carol"), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_member_get(s, id, "bob", &cur), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_realm_perms(s, id, "bob", &perms), KH_OK);
    assert_int_equal(perms, 8);

    kh_member_row *h = NULL;
    assert_int_equal(kh_store_member_history(s, id, &h, &n), KH_OK);
    assert_int_equal(n, 3); /* nothing overwritten */
    assert_string_equal(h[0].role, "READER");
    assert_int_equal(h[0].granted_at, 100);
    assert_string_equal(h[0].granted_by, "admin");
    assert_int_equal(h[0].removed_at, 200); /* closed by the role change */
    assert_string_equal(h[0].removed_by, "alice");
    assert_string_equal(h[1].role, "CONTRIBUTOR");
    assert_int_equal(h[1].removed_at, 300);
    assert_string_equal(h[1].removed_by, "carol");
    assert_string_equal(h[2].member, "*");
    assert_int_equal(h[2].removed_at, 0);
    kh_member_rows_free(h, n);

    m.realm_id = id + 1000; /* no such realm */
    assert_int_equal(kh_store_member_set(s, &m), KH_ERR_NOT_FOUND);
    m.realm_id = id;
    m.role = "KING"; /* the schema's CHECK refuses it */
    assert_int_not_equal(kh_store_member_set(s, &m), KH_OK);
}

static void test_roles_give_access(void **state)
{
    rfix *r = *state;
    kh_ctx admin = ctx_for(r, "administration-token", 0);
    assert_int_equal(kh_op_realm_create(&admin, "team", "alice", NULL), KH_OK);
    assert_int_equal(kh_op_realm_create(&admin, "team", NULL, NULL), KH_ERR_EXISTS);
    assert_int_equal(kh_op_realm_create(&admin, "bad name", NULL, NULL), KH_ERR_INVALID_FIELD);
    char *uid = NULL, *plain = NULL;
    assert_int_equal(make_key(r, "alice", "team", &uid), KH_OK);
    assert_int_equal(make_key(r, "alice", NULL, &plain), KH_OK);

    /* sealed under team's own key, not the default realm's */
    kh_obj_row *row = NULL;
    kh_realm_row team = {0};
    assert_int_equal(kh_store_realm_find(r->f.store, "team", 0, &team), KH_OK);
    assert_int_equal(kh_store_object_get(r->f.store, uid, &row), KH_OK);
    assert_int_equal(row->realm_id, team.id);
    kh_obj_row_free(&row);
    assert_int_equal(kh_store_object_get(r->f.store, plain, &row), KH_OK);
    assert_int_equal(row->realm_id, r->f.svc.realm_id);
    kh_obj_row_free(&row);
    int32_t v = 0;
    uint8_t *wrapped = NULL;
    size_t wl = 0;
    assert_int_equal(kh_store_realm_key_latest(r->f.store, team.id, &v, &wrapped, &wl), KH_OK);
    assert_int_equal(v, 1);
    free(wrapped);
    free(team.name);
    int64_t team_id = team.id;
    assert_int_equal(get_as(r, "alice", uid), KH_OK); /* and it opens again */

    /* a non-member sees nothing */
    assert_int_equal(get_as(r, "bob", uid), KH_ERR_NOT_FOUND);
    assert_int_equal(locate_as(r, "bob"), 0);
    assert_int_equal(set_role(r, "alice", false, "bob", "READER"), KH_OK);
    assert_int_equal(get_as(r, "bob", uid), KH_OK);
    assert_int_equal(get_as(r, "bob", plain), KH_ERR_NOT_FOUND); /* other realm */
    assert_int_equal(check_as(r, "bob", uid, KH_PERM_ENCRYPT), KH_ERR_PERMISSION);
    assert_int_equal(check_as(r, "bob", uid, KH_PERM_DESTROY), KH_ERR_PERMISSION);
    assert_int_equal(check_as(r, "bob", uid, 0), KH_ERR_NOT_FOUND); /* owner-only stays so */
    assert_int_equal(locate_as(r, "bob"), 1);
    kh_ctx bob = ctx_for(r, "bob", KH_PERM_DESTROY);
    assert_int_equal(kh_op_destroy(&bob, uid), KH_ERR_PERMISSION);

    assert_int_equal(set_role(r, "alice", false, "bob", "CONTRIBUTOR"), KH_OK);
    assert_int_equal(check_as(r, "bob", uid, KH_PERM_ENCRYPT), KH_OK);
    assert_int_equal(check_as(r, "bob", uid, KH_PERM_DESTROY), KH_ERR_PERMISSION);
    assert_int_equal(set_role(r, "alice", false, "bob", "MANAGER"), KH_OK);
    assert_int_equal(check_as(r, "bob", uid, KH_PERM_DESTROY), KH_OK);

    /* removed: back to nothing, the history stays */
    assert_int_equal(set_role(r, "alice", false, "bob", NULL), KH_OK);
    assert_int_equal(get_as(r, "bob", uid), KH_ERR_NOT_FOUND);
    assert_int_equal(locate_as(r, "bob"), 0);
    kh_member_row *h = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_member_history(r->f.store, team_id, &h, &n), KH_OK);
    assert_int_equal(n, 4); /* alice OWNER, bob READER, CONTRIBUTOR, MANAGER */
    kh_member_rows_free(h, n);

    /* "*" READER: everyone can read, nobody may write */
    assert_int_equal(set_role(r, "alice", false, "*", "READER"), KH_OK);
    assert_int_equal(get_as(r, "carol", uid), KH_OK);
    assert_int_equal(locate_as(r, "carol"), 1);
    assert_int_equal(check_as(r, "carol", uid, KH_PERM_ENCRYPT), KH_ERR_PERMISSION);
    free(uid);
    free(plain);
}

static void test_member_management(void **state)
{
    rfix *r = *state;
    kh_ctx admin = ctx_for(r, "administration-token", 0);
    assert_int_equal(kh_op_realm_create(&admin, "team", "alice", NULL), KH_OK);
    assert_int_equal(set_role(r, "alice", false, "bob", "MANAGER"), KH_OK);
    /* a MANAGER manages CONTRIBUTORs and READERs */
    assert_int_equal(set_role(r, "bob", false, "carol", "READER"), KH_OK);
    assert_int_equal(set_role(r, "bob", false, "carol", "CONTRIBUTOR"), KH_OK);
    assert_int_equal(set_role(r, "bob", false, "carol", "MANAGER"), KH_ERR_PERMISSION);
    assert_int_equal(set_role(r, "bob", false, "carol", "OWNER"), KH_ERR_PERMISSION);
    assert_int_equal(set_role(r, "bob", false, "alice", NULL), KH_ERR_PERMISSION);
    assert_int_equal(set_role(r, "bob", false, "alice", "READER"), KH_ERR_PERMISSION);
    /* others manage nobody; non-members cannot tell the realm exists */
    assert_int_equal(set_role(r, "carol", false, "dave", "READER"), KH_ERR_PERMISSION);
    assert_int_equal(set_role(r, "dave", false, "dave", "OWNER"), KH_ERR_NOT_FOUND);
    kh_ctx dave = ctx_for(r, "dave", 0);
    assert_int_equal(kh_op_realm_member_set(&dave, false, "nope", "dave", "OWNER", 0),
                     KH_ERR_NOT_FOUND);
    /* the administrator and an OWNER may do anything sensible */
    assert_int_equal(set_role(r, "alice", false, "bob", "OWNER"), KH_OK);
    assert_int_equal(set_role(r, "x", true, "erin", "MANAGER"), KH_OK);
    assert_int_equal(set_role(r, "x", true, "erin", "KING"), KH_ERR_INVALID_FIELD);
    assert_int_equal(set_role(r, "x", true, "*", "OWNER"), KH_ERR_INVALID_FIELD);
    assert_int_equal(set_role(r, "x", true, "a b", "READER"), KH_ERR_INVALID_FIELD);
    assert_int_equal(set_role(r, "x", true, "zed", NULL), KH_ERR_NOT_FOUND);
}

static void test_placement(void **state)
{
    rfix *r = *state;
    kh_ctx admin = ctx_for(r, "administration-token", 0);
    assert_int_equal(kh_op_realm_create(&admin, "team", "alice", NULL), KH_OK);
    char *uid = NULL;
    assert_int_equal(make_key(r, "bob", "team", &uid), KH_ERR_NOT_FOUND);
    assert_int_equal(make_key(r, "bob", "nope", &uid), KH_ERR_NOT_FOUND);
    assert_int_equal(set_role(r, "alice", false, "bob", "READER"), KH_OK);
    assert_int_equal(make_key(r, "bob", "team", &uid), KH_ERR_PERMISSION);
    assert_int_equal(set_role(r, "alice", false, "bob", "CONTRIBUTOR"), KH_OK);
    assert_int_equal(make_key(r, "bob", "team", &uid), KH_OK);
    /* bob owns it; alice sees it through her role */
    assert_int_equal(get_as(r, "alice", uid), KH_OK);
    assert_int_equal(check_as(r, "alice", uid, KH_PERM_DESTROY), KH_OK);
    assert_int_equal(locate_as(r, "alice"), 1);
    /* a re-key's successor stays in the realm, under its key */
    kh_ctx bob = ctx_for(r, "bob", KH_PERM_REKEY);
    char *next = NULL;
    assert_int_equal(kh_op_rekey(&bob, uid, -1, NULL, &next), KH_OK);
    kh_obj_row *a = NULL, *b = NULL;
    assert_int_equal(kh_store_object_get(r->f.store, uid, &a), KH_OK);
    assert_int_equal(kh_store_object_get(r->f.store, next, &b), KH_OK);
    assert_int_equal(b->realm_id, a->realm_id);
    assert_int_not_equal(b->realm_id, r->f.svc.realm_id);
    kh_obj_row_free(&a);
    kh_obj_row_free(&b);
    assert_int_equal(get_as(r, "alice", next), KH_OK);
    assert_int_equal(set_role(r, "alice", false, "bob", "READER"), KH_OK);
    free(next);
    next = NULL;
    assert_int_equal(kh_op_rekey(&bob, uid, -1, NULL, &next), KH_ERR_PERMISSION);
    free(uid);
}

static void test_realm_grants(void **state)
{
    rfix *r = *state;
    kh_ctx admin = ctx_for(r, "administration-token", 0);
    assert_int_equal(kh_op_realm_create(&admin, "team", "alice", NULL), KH_OK);
    char *uid = NULL;
    assert_int_equal(make_key(r, "alice", "team", &uid), KH_OK);
    /* named permissions on every object of the realm, nothing more */
    assert_int_equal(set_grant(r, "x", true, "bob", KH_PERM_ENCRYPT | KH_PERM_GET_ATTRIBUTES),
                     KH_OK);
    assert_int_equal(check_as(r, "bob", uid, KH_PERM_ENCRYPT), KH_OK);
    assert_int_equal(get_as(r, "bob", uid), KH_ERR_PERMISSION);
    assert_int_equal(locate_as(r, "bob"), 0); /* no locate */
    assert_int_equal(set_grant(r, "x", true, "*", KH_PERM_LOCATE), KH_OK);
    assert_int_equal(locate_as(r, "carol"), 1);
    assert_int_equal(locate_as(r, "bob"), 1);
    assert_int_equal(get_as(r, "carol", uid), KH_ERR_PERMISSION);
    /* a MANAGER hands out grants within CONTRIBUTOR's permissions only */
    assert_int_equal(set_role(r, "alice", false, "dave", "MANAGER"), KH_OK);
    assert_int_equal(set_grant(r, "dave", false, "erin", KH_PERM_DECRYPT), KH_OK);
    assert_int_equal(set_grant(r, "dave", false, "erin", KH_PERM_DESTROY), KH_ERR_PERMISSION);
    assert_int_equal(set_grant(r, "alice", false, "erin", KH_PERM_DESTROY), KH_OK);
    assert_int_equal(set_role(r, "dave", false, "erin", NULL), KH_ERR_PERMISSION);
    /* malformed */
    assert_int_equal(set_grant(r, "x", true, "bob", 0), KH_ERR_INVALID_FIELD);
    assert_int_equal(set_grant(r, "x", true, "bob", 1u << 20), KH_ERR_INVALID_FIELD);
    kh_ctx c = ctx_for(r, "x", 0);
    assert_int_equal(kh_op_realm_member_set(&c, true, "team", "bob", "READER", KH_PERM_GET),
                     KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_op_realm_member_set(&c, true, "team", "bob", NULL, KH_PERM_GET),
                     KH_ERR_INVALID_FIELD);
    kh_member_row m = {0};
    kh_realm_row team = {0};
    assert_int_equal(kh_store_realm_find(r->f.store, "team", 0, &team), KH_OK);
    assert_int_equal(kh_store_member_get(r->f.store, team.id, "erin", &m), KH_OK);
    assert_string_equal(m.role, "GRANT");
    assert_int_equal(m.permissions, KH_PERM_DESTROY);
    kh_member_row_clear(&m);
    free(team.name);
    free(uid);
}

typedef struct setter {
    kh_store *s;
    int64_t realm;
    int n_ok;
} setter;

static void *set_worker(void *arg)
{
    setter *w = arg;
    static const char *const roles[] = {"READER", "CONTRIBUTOR", "MANAGER"};
    for (int i = 0; i < 10; i++) {
        kh_member_row m = {w->realm, "bob", (char *)roles[i % 3], 1, 1000 + i, "t", 0, NULL};
        kh_err err = kh_store_member_set(w->s, &m);
        if (err == KH_OK)
            w->n_ok++;
        else
            fprintf(stderr, "member_set: %s\n", kh_err_name(err));
    }
    return NULL;
}

/* Racing role changes for one member: each lands as a row, one stays
 * active. */
static void test_concurrent_changes(void **state)
{
    rfix *r = *state;
    enum { N = 4 };
    int64_t id = 0;
    assert_int_equal(kh_store_realm_create(r->f.store, "team", 1, NULL, &id), KH_OK);
    pthread_t t[N];
    setter w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (setter){r->f.store, id, 0};
        assert_int_equal(pthread_create(&t[i], NULL, set_worker, &w[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(w[i].n_ok, 10);
    kh_member_row *h = NULL;
    size_t n = 0, active = 0;
    assert_int_equal(kh_store_member_history(r->f.store, id, &h, &n), KH_OK);
    assert_int_equal(n, N * 10);
    for (size_t i = 0; i < n; i++)
        active += h[i].removed_at == 0;
    assert_int_equal(active, 1);
    kh_member_rows_free(h, n);
}

/* Run sql on the fixture's database behind the store's back. */
static void raw(rfix *r, const char *sql)
{
    if (r->db.admin) {
        char set[128];
        snprintf(set, sizeof(set), "SET search_path TO %s", r->db.schema);
        assert_int_equal(kh_test_db_exec(&r->db, set), 0);
        assert_int_equal(kh_test_db_exec(&r->db, sql), 0);
        return;
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(r->db.url + strlen("sqlite://"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Users made through ops get their realm; those that existed before
 * migration 7 get theirs from it. */
static void test_personal_realms(void **state)
{
    rfix *r = *state;
    kh_ctx admin = ctx_for(r, "administration-token", 0);
    kh_user_row u = {0};
    assert_int_equal(kh_op_user_create(&admin, NULL, "Ann", NULL, NULL, &u), KH_OK);
    char name[64];
    snprintf(name, sizeof(name), KH_PERSONAL_REALM_PREFIX "%s", u.id);
    kh_realm_row realm = {0};
    kh_member_row m = {0};
    assert_int_equal(kh_store_realm_find(r->f.store, name, 0, &realm), KH_OK);
    assert_int_equal(kh_store_member_get(r->f.store, realm.id, u.id, &m), KH_OK);
    assert_string_equal(m.role, "OWNER");
    kh_member_row_clear(&m);
    free(realm.name);
    kh_user_row_clear(&u);

    /* back to schema 6 with a user of that time, then migrate again */
    kh_fixture_close(&r->f);
    raw(r,
        "DROP TABLE realm_member; DROP INDEX object_realm;"
        " DELETE FROM realm WHERE name LIKE 'user-%';"
        " DELETE FROM schema_migrations WHERE version = 7;"
        " INSERT INTO app_user(id, organization, created_at) VALUES ('old-user', 'default', 7);");
    char dir[sizeof(r->f.dir)];
    memcpy(dir, r->f.dir, sizeof(dir));
    assert_int_equal(open_on(r), 0);
    char cmd[sizeof(dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(kh_store_realm_find(r->f.store, "user-old-user", 0, &realm), KH_OK);
    assert_int_equal(realm.created_at, 7);
    assert_int_equal(kh_store_member_get(r->f.store, realm.id, "old-user", &m), KH_OK);
    assert_string_equal(m.role, "OWNER");
    assert_int_equal(m.permissions, KH_PERM_ALL);
    kh_member_row_clear(&m);
    free(realm.name);
    snprintf(name, sizeof(name), KH_PERSONAL_REALM_PREFIX "%s", "nobody");
    assert_int_equal(kh_store_realm_find(r->f.store, name, 0, &realm), KH_ERR_NOT_FOUND);
}

#define REALM_TESTS(setup)                                                                         \
    cmocka_unit_test_setup_teardown(test_store_history, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_roles_give_access, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_member_management, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_placement, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_realm_grants, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_concurrent_changes, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(test_personal_realms, setup, teardown)

int main(void)
{
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_role_table),
        REALM_TESTS(setup_sqlite),
    };
    const struct CMUnitTest pg_tests[] = {REALM_TESTS(setup_pg)};
    return KH_TEST_DB_RUN("realms", sqlite_tests, pg_tests);
}
