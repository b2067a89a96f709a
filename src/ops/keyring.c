/*
 * keyring.c - realm keys: generated here, stored wrapped, cached unwrapped.
 *
 * The store holds each realm key sealed under the master key; this file
 * unwraps a key once and keeps it in a kh_secbuf for the life of the
 * keyring, so a Get costs one AES-GCM open, not two. Which version is the
 * newest is remembered for LATEST_TTL_US: asking the store at every seal
 * was a read transaction per Create. Sealing under a version that another
 * node has just superseded is harmless (every version stays in the store
 * and opens what it sealed); a rotation done through this keyring must
 * forget the remembered version at once (none exists yet). This file does
 * not rotate keys and does not decide who may use them.
 */
#include "ops/keyring.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "crypto/aead.h"
#include "crypto/rand.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* How long the newest version of a realm key is believed without asking
 * the store again: the delay before a rotation by another node is used
 * here. */
#define LATEST_TTL_US 1000000

typedef struct realm_key {
    int64_t realm_id;
    int32_t version;
    kh_secbuf *key; /* never freed before the keyring, so borrowers may keep it */
} realm_key;

typedef struct latest_version {
    int64_t realm_id;
    int32_t version;
    int64_t seen_us; /* CLOCK_MONOTONIC when the store said so */
} latest_version;

struct kh_keyring {
    kh_store *store;
    kh_secbuf *master;
    pthread_rwlock_t lock; /* guards keys, n_keys/cap, latest and n_latest/cap_latest */
    realm_key *keys;
    size_t n_keys, cap;
    latest_version *latest;
    size_t n_latest, cap_latest;
};

kh_err kh_keyring_new_take(kh_store *store, kh_secbuf *master, kh_keyring **out)
{
    if (!store || !out || !master || master->len != KH_AEAD_KEY_LEN) {
        kh_secbuf_free(&master); /* we own it whatever happens */
        return KH_ERR_INVALID_ARG;
    }
    kh_keyring *k = kh_xcalloc(1, sizeof(*k));
    k->store = store;
    k->master = master;
    pthread_rwlock_init(&k->lock, NULL);
    *out = k;
    return KH_OK;
}

void kh_keyring_free(kh_keyring **k)
{
    if (!k || !*k)
        return;
    for (size_t i = 0; i < (*k)->n_keys; i++)
        kh_secbuf_free(&(*k)->keys[i].key);
    free((*k)->keys);
    free((*k)->latest);
    kh_secbuf_free(&(*k)->master);
    pthread_rwlock_destroy(&(*k)->lock);
    free(*k);
    *k = NULL;
}

/* ---- associated data -------------------------------------------------- */

static void realm_key_aad(kh_buf *aad, int64_t realm_id, int32_t version)
{
    static const char label[] = "keyhold realm key"; /* sizeof includes the NUL */
    kh_buf_append(aad, label, sizeof(label));
    kh_buf_append_be64(aad, (uint64_t)realm_id);
    kh_buf_append_be32(aad, (uint32_t)version);
}

static void object_aad(kh_buf *aad, const char *uid, int32_t object_type)
{
    kh_buf_append(aad, uid, strlen(uid) + 1);
    kh_buf_append_be32(aad, (uint32_t)object_type);
}

/* ---- cache ------------------------------------------------------------ */

static kh_secbuf *cache_find_locked(kh_keyring *k, int64_t realm_id, int32_t version)
{
    for (size_t i = 0; i < k->n_keys; i++)
        if (k->keys[i].realm_id == realm_id && k->keys[i].version == version)
            return k->keys[i].key;
    return NULL;
}

static kh_secbuf *cache_find(kh_keyring *k, int64_t realm_id, int32_t version)
{
    pthread_rwlock_rdlock(&k->lock);
    kh_secbuf *key = cache_find_locked(k, realm_id, version);
    pthread_rwlock_unlock(&k->lock);
    return key;
}

/* Add key (taking it); if another thread got there first keep theirs. */
static kh_secbuf *cache_add_take(kh_keyring *k, int64_t realm_id, int32_t version, kh_secbuf *key)
{
    pthread_rwlock_wrlock(&k->lock);
    kh_secbuf *have = cache_find_locked(k, realm_id, version);
    if (have) {
        kh_secbuf_free(&key);
    } else {
        if (k->n_keys == k->cap) {
            k->cap = k->cap ? 2 * k->cap : 8;
            k->keys = kh_xrealloc(k->keys, k->cap * sizeof(*k->keys));
        }
        k->keys[k->n_keys++] = (realm_key){realm_id, version, key};
        have = key;
    }
    pthread_rwlock_unlock(&k->lock);
    return have;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The newest version of realm_id's key as last seen in the store, if that
 * was less than LATEST_TTL_US ago and its key is cached; 0 otherwise. */
static int32_t latest_recent(kh_keyring *k, int64_t realm_id, kh_secbuf **key)
{
    int32_t version = 0;
    int64_t now = mono_us();
    pthread_rwlock_rdlock(&k->lock);
    for (size_t i = 0; i < k->n_latest; i++) {
        const latest_version *l = &k->latest[i];
        if (l->realm_id != realm_id || now - l->seen_us >= LATEST_TTL_US)
            continue;
        *key = cache_find_locked(k, realm_id, l->version);
        version = *key ? l->version : 0;
        break;
    }
    pthread_rwlock_unlock(&k->lock);
    return version;
}

static void latest_note(kh_keyring *k, int64_t realm_id, int32_t version, int64_t seen_us)
{
    pthread_rwlock_wrlock(&k->lock);
    latest_version *l = NULL;
    for (size_t i = 0; i < k->n_latest && !l; i++)
        if (k->latest[i].realm_id == realm_id)
            l = &k->latest[i];
    if (!l) {
        if (k->n_latest == k->cap_latest) {
            k->cap_latest = k->cap_latest ? 2 * k->cap_latest : 8;
            k->latest = kh_xrealloc(k->latest, k->cap_latest * sizeof(*k->latest));
        }
        l = &k->latest[k->n_latest++];
        l->realm_id = realm_id;
        l->version = 0;
    }
    /* an older answer that arrives late never moves the version back */
    if (version >= l->version) {
        l->version = version;
        l->seen_us = seen_us;
    }
    pthread_rwlock_unlock(&k->lock);
}

/* ---- wrapping --------------------------------------------------------- */

static kh_err unwrap(kh_keyring *k, int64_t realm_id, int32_t version, const uint8_t *wrapped,
                     size_t wrapped_len, kh_secbuf **out)
{
    kh_buf aad = {0};
    kh_secbuf *key = NULL;
    realm_key_aad(&aad, realm_id, version);
    kh_err err = kh_aead_open(k->master, aad.data, aad.len, wrapped, wrapped_len, &key);
    kh_buf_free(&aad);
    if (err == KH_OK && key->len != KH_AEAD_KEY_LEN)
        err = KH_ERR_CRYPTO;
    if (err != KH_OK) {
        kh_secbuf_free(&key);
        kh_error("keyring: realm %lld key %d does not open with this master key",
                 (long long)realm_id, (int)version);
        return KH_ERR_CRYPTO;
    }
    *out = key;
    return KH_OK;
}

/* Borrow the unwrapped key (realm_id, version), unwrapping wrapped if it is
 * not cached yet. */
static kh_err key_from_wrapped(kh_keyring *k, int64_t realm_id, int32_t version,
                               const uint8_t *wrapped, size_t wrapped_len, kh_secbuf **key)
{
    kh_secbuf *have = cache_find(k, realm_id, version);
    if (!have) {
        kh_err err = unwrap(k, realm_id, version, wrapped, wrapped_len, &have);
        if (err != KH_OK)
            return err;
        have = cache_add_take(k, realm_id, version, have);
    }
    *key = have;
    return KH_OK;
}

/* Borrow key (realm_id, version), loading it from the store if needed. */
static kh_err key_get(kh_keyring *k, int64_t realm_id, int32_t version, kh_secbuf **key)
{
    if ((*key = cache_find(k, realm_id, version)) != NULL)
        return KH_OK;
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    kh_err err = kh_store_realm_key_get(k->store, realm_id, version, &wrapped, &wrapped_len);
    if (err == KH_ERR_NOT_FOUND) {
        kh_error("keyring: realm %lld has no key version %d", (long long)realm_id, (int)version);
        return KH_ERR_CRYPTO;
    }
    if (err == KH_OK)
        err = key_from_wrapped(k, realm_id, version, wrapped, wrapped_len, key);
    kh_wipe_free(wrapped, wrapped_len);
    return err;
}

/* Generate, wrap and store version 1 of a realm's key. KH_ERR_EXISTS when
 * another thread or node stored one first. */
static kh_err create_first(kh_keyring *k, int64_t realm_id)
{
    kh_secbuf *key = kh_secbuf_new(KH_AEAD_KEY_LEN);
    kh_buf aad = {0};
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    kh_err err = kh_random_secret(key->data, key->len);
    realm_key_aad(&aad, realm_id, 1);
    if (err == KH_OK)
        err =
            kh_aead_seal(k->master, aad.data, aad.len, key->data, key->len, &wrapped, &wrapped_len);
    if (err == KH_OK)
        err = kh_store_realm_key_insert(k->store, realm_id, 1, wrapped, wrapped_len);
    if (err == KH_OK)
        kh_info("keyring: created key 1 of realm %lld", (long long)realm_id);
    kh_buf_free(&aad);
    kh_wipe_free(wrapped, wrapped_len);
    if (err == KH_OK)
        (void)cache_add_take(k, realm_id, 1, key);
    else
        kh_secbuf_free(&key);
    return err;
}

/* Borrow the realm's newest key, creating version 1 if it has none. */
static kh_err key_latest(kh_keyring *k, int64_t realm_id, int create, kh_secbuf **key,
                         int32_t *version)
{
    if ((*version = latest_recent(k, realm_id, key)) != 0)
        return KH_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        uint8_t *wrapped = NULL;
        size_t wrapped_len = 0;
        int32_t v = 0;
        int64_t asked_us = mono_us(); /* before asking: never newer than the answer */
        kh_err err = kh_store_realm_key_latest(k->store, realm_id, &v, &wrapped, &wrapped_len);
        if (err == KH_OK)
            err = key_from_wrapped(k, realm_id, v, wrapped, wrapped_len, key);
        kh_wipe_free(wrapped, wrapped_len);
        if (err == KH_OK) {
            *version = v;
            latest_note(k, realm_id, v, asked_us);
        }
        if (err != KH_ERR_NOT_FOUND || !create)
            return err;
        err = create_first(k, realm_id);
        if (err != KH_OK && err != KH_ERR_EXISTS) /* EXISTS: lost a race, reload */
            return err;
    }
    return KH_ERR_INTERNAL;
}

/* ---- public ----------------------------------------------------------- */

kh_err kh_keyring_verify(kh_keyring *k, int64_t realm_id)
{
    kh_secbuf *key = NULL;
    int32_t version = 0;
    kh_err err = key_latest(k, realm_id, 0, &key, &version);
    return err == KH_ERR_NOT_FOUND ? KH_OK : err;
}

kh_err kh_keyring_seal(kh_keyring *k, int64_t realm_id, const char *uid, int32_t object_type,
                       const uint8_t *pt, size_t pt_len, uint8_t **out, size_t *out_len,
                       int32_t *key_version)
{
    if (!k || !uid || !out || !out_len || !key_version)
        return KH_ERR_INVALID_ARG;
    kh_secbuf *key = NULL;
    int32_t version = 0;
    kh_err err = key_latest(k, realm_id, 1, &key, &version);
    if (err != KH_OK)
        return err;
    kh_buf aad = {0};
    object_aad(&aad, uid, object_type);
    err = kh_aead_seal(key, aad.data, aad.len, pt, pt_len, out, out_len);
    kh_buf_free(&aad);
    if (err == KH_OK)
        *key_version = version;
    return err;
}

kh_err kh_keyring_open(kh_keyring *k, int64_t realm_id, int32_t key_version, const char *uid,
                       int32_t object_type, const uint8_t *ct, size_t ct_len, kh_secbuf **out)
{
    if (!k || !uid || !out)
        return KH_ERR_INVALID_ARG;
    kh_secbuf *key = NULL;
    kh_err err = key_get(k, realm_id, key_version, &key);
    if (err != KH_OK)
        return err;
    kh_buf aad = {0};
    object_aad(&aad, uid, object_type);
    err = kh_aead_open(key, aad.data, aad.len, ct, ct_len, out);
    kh_buf_free(&aad);
    return err;
}
