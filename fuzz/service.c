/*
 * service.c - the fuzz targets' service (fuzz/service.h).
 */
#include "service.h"

#include "crypto/masterkey.h"
#include "crypto/secbuf.h"
#include "ops/keyring.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void kh_fuzz_service(const char *tag, kh_service *svc)
{
    char dir[128], db[256], mk[256];
    snprintf(dir, sizeof(dir), "/tmp/keyhold-fuzz-%s-XXXXXX", tag);
    if (!mkdtemp(dir))
        abort();
    snprintf(db, sizeof(db), "sqlite://%s/fuzz.db", dir);
    snprintf(mk, sizeof(mk), "%s/master.key", dir);
    kh_store *store = NULL;
    kh_keyring *kr = NULL;
    kh_secbuf *master = NULL;
    bool created;
    int64_t realm;
    if (kh_store_open(db, &store) != KH_OK || kh_store_migrate(store, NULL) != KH_OK ||
        kh_store_realm_ensure(store, "default", &realm) != KH_OK ||
        kh_master_key_load(mk, &master, &created) != KH_OK ||
        kh_keyring_new_take(store, master, &kr) != KH_OK)
        abort();
    *svc = (kh_service){.store = store, .keyring = kr, .realm_id = realm, .server_name = "fuzz"};
}
