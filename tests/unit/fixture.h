/*
 * fixture.h - a real service for unit tests: SQLite file and master key in
 * a fresh temporary directory, no network.
 */
#ifndef KH_TESTS_FIXTURE_H
#define KH_TESTS_FIXTURE_H

#include "crypto/masterkey.h"
#include "crypto/secbuf.h"
#include "ops/keyring.h"
#include "ops/ops.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct kh_fixture {
    char dir[64];
    char db[128];
    kh_store *store;
    kh_keyring *keyring;
    kh_service svc;
} kh_fixture;

static inline int kh_fixture_open(kh_fixture *f)
{
    char mk[160];
    kh_secbuf *master = NULL;
    bool created;
    int64_t realm;
    snprintf(mk, sizeof(mk), "%s/master.key", f->dir);
    if (kh_store_open(f->db, &f->store) != KH_OK || kh_store_migrate(f->store, NULL) != KH_OK ||
        kh_store_realm_ensure(f->store, "default", &realm) != KH_OK ||
        kh_master_key_load(mk, &master, &created) != KH_OK ||
        kh_keyring_new_take(f->store, master, &f->keyring) != KH_OK)
        return -1;
    f->svc.store = f->store;
    f->svc.keyring = f->keyring;
    f->svc.realm_id = realm;
    f->svc.server_name = "test";
    return 0;
}

static inline void kh_fixture_close(kh_fixture *f)
{
    kh_keyring_free(&f->keyring);
    kh_store_close(&f->store);
}

static inline kh_fixture *kh_fixture_new(void)
{
    kh_fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/keyhold-test-XXXXXX");
    if (!mkdtemp(f->dir) || kh_crypto_init(0) != KH_OK)
        abort();
    snprintf(f->db, sizeof(f->db), "sqlite://%s/test.db", f->dir);
    if (kh_fixture_open(f) != 0)
        abort();
    return f;
}

static inline void kh_fixture_free(kh_fixture **pf)
{
    kh_fixture *f = *pf;
    kh_fixture_close(f);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    *pf = NULL;
}

#endif
