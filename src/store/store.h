/*
 * store.h - the storage interface. Nothing above store/ writes SQL.
 *
 * A kh_store is a handle shared by all threads; each backend keeps its own
 * pool of connections. The store sees only ciphertext: object material and
 * realm keys arrive already sealed (ops/keyring.c does that), so a backend
 * never holds a plaintext key.
 *
 * Backends: sqlite.c ("sqlite:///abs/path.db", "sqlite://rel/path.db" or a
 * bare path); postgres.c ("postgresql://..." or "postgres://...", any libpq
 * connection URI).
 */
#ifndef KH_STORE_STORE_H
#define KH_STORE_STORE_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kh_store kh_store;

/* One managed object as stored. Strings and blobs are malloc'd and owned by
 * the row; kh_obj_row_free releases them (wiping the blobs). */
typedef struct kh_obj_row {
    char *uid;
    char *owner;
    int64_t realm_id;
    int32_t object_type; /* KMIP ObjectType */
    int32_t state;       /* KMIP State */
    int32_t algorithm;   /* KMIP CryptographicAlgorithm, 0 if none */
    int32_t length;      /* CryptographicLength, 0 if none */
    int64_t created_at;  /* unix seconds */
    int64_t updated_at;
    int64_t revision; /* starts at 1; +1 per update (optimistic lock) */
    uint8_t *attrs;   /* encoded attributes (TTLV), not secret */
    size_t attrs_len;
    uint8_t *material; /* sealed material, NULL when none or destroyed */
    size_t material_len;
    int32_t material_key_version; /* realm key version that sealed it */
    char **names;                 /* Name values, for Locate */
    size_t n_names;
} kh_obj_row;

/* Free everything the row owns and the row itself; sets *r to NULL. */
void kh_obj_row_free(kh_obj_row **r);

/* Locate filter; a field at its "any" value does not constrain. Results are
 * newest first (created_at, then insertion order, descending). */
typedef struct kh_locate_query {
    const char *owner;   /* NULL = any owner */
    const char *name;    /* exact Name value, NULL = any */
    int32_t object_type; /* -1 = any */
    int32_t state;       /* -1 = any */
    int32_t algorithm;   /* -1 = any */
    int32_t length;      /* -1 = any */
    int64_t offset;      /* skip this many matches */
    int64_t limit;       /* at most this many, -1 = no limit */
    /* When set: only objects this principal owns, or on which a grant
     * (kh_store_grant_*) gives it a permission in the mask `permission`. */
    const char *visible_to;
    uint32_t permission;
} kh_locate_query;

/* Initialise q to match everything. */
void kh_locate_query_init(kh_locate_query *q);

/* One row of the hash-chained audit log. Strings are malloc'd and owned by
 * the row (kh_audit_rows_free). Never key material: who, from where, what,
 * on which object, with what result. */
#define KH_AUDIT_HASH_LEN 32
typedef struct kh_audit_row {
    int64_t id;      /* 1, 2, 3, ... without gaps, assigned by the store */
    int64_t time_us; /* unix microseconds */
    char *principal;
    char *client_addr;               /* "ip:port", "" when not over the network */
    char *operation;                 /* e.g. "Get" */
    char *object_uid;                /* "" when none */
    char *result;                    /* kh_err_name(), e.g. "KH_OK" */
    uint8_t hash[KH_AUDIT_HASH_LEN]; /* SHA-256(previous hash || canonical row) */
    /* Input to kh_store_audit_append, not stored: the row may be flushed
     * to disk after the append returns (it is written, and survives a
     * crash of keyhold, but not of the machine, until the next durable
     * commit, at most ~100 ms later under load). false = durable on return.
     * ops/audit.c sets it for read-only operations when configured. */
    bool sync_later;
} kh_audit_row;

/* Free rows[0..n) and the array. */
void kh_audit_rows_free(kh_audit_row *rows, size_t n);

/* Reports an asynchronous write's result (kh_store_audit_append_async). */
typedef void (*kh_store_done_fn)(void *arg, kh_err result);

/* One grant: owner's object (or "*": all of owner's objects) to grantee
 * (or "*": everyone), permissions as a bit mask (ops/authz.h). */
typedef struct kh_grant_row {
    char *owner;
    char *object_uid;
    char *grantee;
    uint32_t permissions;
} kh_grant_row;

/* Free rows[0..n) and the array. */
void kh_grant_rows_free(kh_grant_row *rows, size_t n);

/* When an acknowledged write is durable. */
typedef enum kh_durability {
    KH_DURABLE_POWER = 0, /* on disk (fsync'd) before it is acknowledged */
    KH_DURABLE_PROCESS,   /* survives a crash or kill -9 of keyhold; the
                           * newest writes may be lost to a power cut or a
                           * kernel crash */
} kh_durability;

struct kh_store_ops {
    const char *name;
    /* NULL: the backend's writes are as durable as its server makes them
     * (PostgreSQL: keyhold's own crash never loses a commit). */
    kh_err (*set_durability)(kh_store *s, kh_durability d);
    void (*close)(kh_store *s);
    kh_err (*migrate)(kh_store *s, int *applied);
    kh_err (*schema_version)(kh_store *s, int *version);
    /* Realms */
    kh_err (*realm_ensure)(kh_store *s, const char *name, int64_t *id);
    kh_err (*realm_key_latest)(kh_store *s, int64_t realm_id, int32_t *version, uint8_t **wrapped,
                               size_t *wrapped_len);
    kh_err (*realm_key_get)(kh_store *s, int64_t realm_id, int32_t version, uint8_t **wrapped,
                            size_t *wrapped_len);
    kh_err (*realm_key_insert)(kh_store *s, int64_t realm_id, int32_t version,
                               const uint8_t *wrapped, size_t wrapped_len);
    /* Objects */
    kh_err (*object_insert)(kh_store *s, const kh_obj_row *row);
    kh_err (*object_insert_many)(kh_store *s, const kh_obj_row *const *rows, size_t n);
    kh_err (*object_get)(kh_store *s, const char *uid, kh_obj_row **out);
    kh_err (*object_update)(kh_store *s, const kh_obj_row *row);
    kh_err (*object_locate)(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n);
    /* Audit */
    kh_err (*audit_append)(kh_store *s, kh_audit_row *row);
    /* optional (NULL: kh_store_audit_append_async appends synchronously) */
    void (*audit_append_async)(kh_store *s, kh_audit_row *row, kh_store_done_fn done, void *arg);
    kh_err (*audit_read)(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows, size_t *n);
    kh_err (*audit_head)(kh_store *s, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN]);
    /* Grants */
    kh_err (*grant_add)(kh_store *s, const kh_grant_row *g);
    kh_err (*grant_remove)(kh_store *s, const kh_grant_row *g);
    kh_err (*grant_list)(kh_store *s, const char *owner, const char *object_uid,
                         kh_grant_row **rows, size_t *n);
    kh_err (*grant_perms)(kh_store *s, const char *owner, const char *object_uid,
                          const char *principal, uint32_t *perms);
    /* KES names */
    kh_err (*kes_name_claim)(kh_store *s, const char *owner, const char *name, const char *holder,
                             const char *expected);
    kh_err (*kes_name_get)(kh_store *s, const char *owner, const char *name, char **holder);
    /* Object writes with their audit row in the same transaction */
    kh_err (*object_insert_audited)(kh_store *s, const kh_obj_row *const *rows, size_t n,
                                    kh_audit_row *audit);
    kh_err (*object_update_audited)(kh_store *s, const kh_obj_row *row, kh_audit_row *audit);
    kh_err (*kes_name_claim_audited)(kh_store *s, const char *owner, const char *name,
                                     const char *holder, const char *expected, kh_audit_row *audit);
};

struct kh_store {
    const struct kh_store_ops *ops;
    struct kh_gencache *idcache;  /* NULL = identity lookups not cached (store/idcache.h) */
    struct kh_gencache *objcache; /* NULL = objects not cached (kh_store_set_object_cache) */
};

/* Open the store named by url. Does not migrate. */
kh_err kh_store_open(const char *url, kh_store **out) KH_MUST_CHECK;
/* Close and free; sets *s to NULL; accepts NULL. */
void kh_store_close(kh_store **s);

/* Choose when writes are durable (default KH_DURABLE_POWER); call it
 * before the store is shared. A backend without the choice ignores it. */
kh_err kh_store_set_durability(kh_store *s, kh_durability d) KH_MUST_CHECK;

/* Apply pending numbered migrations in one transaction each; *applied (may
 * be NULL) receives how many ran. */
kh_err kh_store_migrate(kh_store *s, int *applied) KH_MUST_CHECK;
kh_err kh_store_schema_version(kh_store *s, int *version) KH_MUST_CHECK;

/* Get or create the realm called name. */
kh_err kh_store_realm_ensure(kh_store *s, const char *name, int64_t *id) KH_MUST_CHECK;
/* Newest realm key; KH_ERR_NOT_FOUND when the realm has none yet.
 * *wrapped is malloc'd (caller frees). */
kh_err kh_store_realm_key_latest(kh_store *s, int64_t realm_id, int32_t *version, uint8_t **wrapped,
                                 size_t *wrapped_len) KH_MUST_CHECK;
kh_err kh_store_realm_key_get(kh_store *s, int64_t realm_id, int32_t version, uint8_t **wrapped,
                              size_t *wrapped_len) KH_MUST_CHECK;
/* Insert realm key version; KH_ERR_EXISTS if another node won the race. */
kh_err kh_store_realm_key_insert(kh_store *s, int64_t realm_id, int32_t version,
                                 const uint8_t *wrapped, size_t wrapped_len) KH_MUST_CHECK;

/* Insert a new object (row->revision is ignored and stored as 1);
 * KH_ERR_EXISTS if the uid is taken. Durable when it returns KH_OK. */
kh_err kh_store_object_insert(kh_store *s, const kh_obj_row *row) KH_MUST_CHECK;
/* Insert rows[0..n) in one transaction: all of them or, on any failure
 * (KH_ERR_EXISTS for a taken uid, ...), none. For objects that only make
 * sense together, such as the two halves of a key pair. */
kh_err kh_store_object_insert_many(kh_store *s, const kh_obj_row *const *rows,
                                   size_t n) KH_MUST_CHECK;
/* Load one object; KH_ERR_NOT_FOUND if absent. From the object cache when
 * one is set and holds it. */
kh_err kh_store_object_get(kh_store *s, const char *uid, kh_obj_row **out) KH_MUST_CHECK;
/* Keep recently loaded objects (their stored rows: sealed material,
 * encoded attributes) in memory for ttl_ms milliseconds; 0 = no cache
 * (the default). Every object update through s, committed or not,
 * invalidates the whole cache before it returns, so a change made through
 * this process applies to the very next load; one made through another
 * process or node sharing the database applies within ttl_ms. Call it
 * before the store is shared. */
kh_err kh_store_set_object_cache(kh_store *s, int64_t ttl_ms) KH_MUST_CHECK;
/* A deep copy of r. */
kh_obj_row *kh_obj_row_dup(const kh_obj_row *r);
/* Replace every mutable column and the names of row->uid if and only if
 * the stored revision equals row->revision; stores revision + 1.
 * KH_ERR_CONFLICT if it changed meanwhile, KH_ERR_NOT_FOUND if absent. */
kh_err kh_store_object_update(kh_store *s, const kh_obj_row *row) KH_MUST_CHECK;
/* Matching uids (array and strings malloc'd; free each then the array). */
kh_err kh_store_object_locate(kh_store *s, const kh_locate_query *q, char ***uids,
                              size_t *n) KH_MUST_CHECK;

/* Append row to the audit chain: under the chain's lock (SQLite: the group
 * commit's write transaction; PostgreSQL: a row lock on audit_head) the
 * store reads the head, sets row->id to the next id and row->hash to
 * SHA-256(head hash || canonical(row)) (store/audit_chain.h), inserts the
 * row and moves the head, in one transaction. Durable when it returns KH_OK.
 * row->id and row->hash are ignored on input. */
kh_err kh_store_audit_append(kh_store *s, kh_audit_row *row) KH_MUST_CHECK;
/* The same, without waiting: done(arg, result) is called once the row is
 * committed (or failed), possibly before this returns and possibly on
 * another thread; row must stay valid until then. The SQLite store hands
 * the row to its group commit and returns at once; a store without an
 * asynchronous path appends and calls done before returning. */
void kh_store_audit_append_async(kh_store *s, kh_audit_row *row, kh_store_done_fn done, void *arg);
/* Up to max rows with id > after_id, in id order (*rows malloc'd, may be
 * NULL when *n == 0; free with kh_audit_rows_free). */
kh_err kh_store_audit_read(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows,
                           size_t *n) KH_MUST_CHECK;
/* The chain head: id and hash of the last row appended (0 and zeros when
 * none). */
kh_err kh_store_audit_head(kh_store *s, int64_t *last_id,
                           uint8_t hash[KH_AUDIT_HASH_LEN]) KH_MUST_CHECK;

/* Add g->permissions to the grant (owner, object_uid, grantee), creating it
 * if needed. */
kh_err kh_store_grant_add(kh_store *s, const kh_grant_row *g) KH_MUST_CHECK;
/* Remove g->permissions from that grant; the grant goes when none remain.
 * KH_ERR_NOT_FOUND when there is no such grant. */
kh_err kh_store_grant_remove(kh_store *s, const kh_grant_row *g) KH_MUST_CHECK;
/* Grants made by owner, on object_uid only when it is not NULL ("*" lists
 * the all-objects grants). Free with kh_grant_rows_free. */
kh_err kh_store_grant_list(kh_store *s, const char *owner, const char *object_uid,
                           kh_grant_row **rows, size_t *n) KH_MUST_CHECK;
/* Union of the permissions that owner's grants give principal on
 * object_uid (grants on the uid or "*", to principal or "*"); 0 when none. */
kh_err kh_store_grant_perms(kh_store *s, const char *owner, const char *object_uid,
                            const char *principal, uint32_t *perms) KH_MUST_CHECK;

/* ---- organizations, users, identities, API keys (store_users.c) -------- */

/* Rows below are malloc'd and owned by the caller: free arrays with the
 * matching kh_*_rows_free, single rows with kh_*_row_clear. Times are unix
 * seconds. */
typedef struct kh_org_row {
    char *id;
    int64_t created_at;
} kh_org_row;
void kh_org_rows_free(kh_org_row *rows, size_t n);

/* A user in one state. The current state is the newest history row; each
 * change (create, update, revoke) appends a row and overwrites nothing. */
typedef struct kh_user_row {
    char *id; /* UUID */
    char *organization;
    int64_t created_at;
    char *label;
    char *email;
    char *profile;      /* "ADMIN", "STANDARD" or "OUTSIDER" */
    int64_t revoked_at; /* 0 = not revoked */
    int64_t at;         /* when this state was recorded */
    char *change;       /* "create", "update" or "revoke" */
    char *actor;        /* who made the change */
    int64_t revision;   /* states so far (store-assigned; see _append) */
} kh_user_row;
void kh_user_row_clear(kh_user_row *u);
void kh_user_rows_free(kh_user_row *rows, size_t n);

typedef struct kh_identity_row {
    char *identity; /* "tls:<hex>", "jwt:<iss>#<sub>", "apikey:<id>" */
    char *user_id;
    int64_t created_at;
    int64_t removed_at; /* 0 = active */
} kh_identity_row;
void kh_identity_rows_free(kh_identity_row *rows, size_t n);

typedef struct kh_apikey_row {
    char *id;
    char *user_id;
    char *label;
    char *secret_sha256; /* lower-case hex SHA-256 of the secret */
    int64_t created_at;
    int64_t revoked_at; /* 0 = active */
} kh_apikey_row;
void kh_apikey_row_clear(kh_apikey_row *k);
void kh_apikey_rows_free(kh_apikey_row *rows, size_t n);

/* KH_ERR_EXISTS when the organization exists. */
kh_err kh_store_org_create(kh_store *s, const char *id, int64_t now) KH_MUST_CHECK;
kh_err kh_store_org_list(kh_store *s, kh_org_row **rows, size_t *n) KH_MUST_CHECK;
/* Insert u (its first state, change "create"); KH_ERR_NOT_FOUND when its
 * organization does not exist, KH_ERR_EXISTS when the id is taken. */
kh_err kh_store_user_create(kh_store *s, const kh_user_row *u) KH_MUST_CHECK;
/* Append u's label, email, profile, revoked_at, at, change and actor as
 * the user's new state, if and only if the user's revision still is
 * u->revision (the one kh_store_user_get returned): KH_ERR_CONFLICT when
 * another change came first, KH_ERR_NOT_FOUND when there is no such
 * user. */
kh_err kh_store_user_append(kh_store *s, const kh_user_row *u) KH_MUST_CHECK;
/* The current state of user id; KH_ERR_NOT_FOUND when absent. */
kh_err kh_store_user_get(kh_store *s, const char *id, kh_user_row *out) KH_MUST_CHECK;
/* Every state of user id, oldest first (none when absent). */
kh_err kh_store_user_history(kh_store *s, const char *id, kh_user_row **rows,
                             size_t *n) KH_MUST_CHECK;
/* Current states of the users of organization (NULL = all), oldest first. */
kh_err kh_store_user_list(kh_store *s, const char *organization, kh_user_row **rows,
                          size_t *n) KH_MUST_CHECK;
/* Map identity to user_id; KH_ERR_NOT_FOUND when the user does not exist,
 * KH_ERR_EXISTS when the identity is already mapped (to anyone). */
kh_err kh_store_identity_add(kh_store *s, const char *identity, const char *user_id,
                             int64_t now) KH_MUST_CHECK;
/* Unmap identity from user_id (the row stays, marked removed);
 * KH_ERR_NOT_FOUND when it was not mapped to that user. */
kh_err kh_store_identity_remove(kh_store *s, const char *identity, const char *user_id,
                                int64_t now) KH_MUST_CHECK;
/* The identities ever mapped to user_id, removed ones included, oldest
 * first. */
kh_err kh_store_identity_list(kh_store *s, const char *user_id, kh_identity_row **rows,
                              size_t *n) KH_MUST_CHECK;
/* The current state of the user identity maps to; KH_ERR_NOT_FOUND when
 * unmapped. One query: this runs for every authenticated request. */
kh_err kh_store_identity_user(kh_store *s, const char *identity, kh_user_row *out) KH_MUST_CHECK;
/* What an identity maps to, as authentication needs it. */
typedef struct kh_identity_owner {
    bool found;       /* false: the identity maps to no user */
    bool revoked;     /* the user is revoked */
    char user_id[37]; /* a UUID */
    char profile[12];
} kh_identity_owner;
/* kh_store_identity_user narrowed to kh_identity_owner (found = false and
 * KH_OK when unmapped), from the identity cache when one is set. */
kh_err kh_store_identity_owner(kh_store *s, const char *identity,
                               kh_identity_owner *out) KH_MUST_CHECK;
/* Cache kh_store_identity_owner's answers for ttl_ms milliseconds (0 = no
 * cache, the default); call before the store is shared. A change written
 * through this handle is seen by the very next lookup; one written through
 * another handle (another node, a CLI) within ttl_ms. */
kh_err kh_store_set_identity_cache(kh_store *s, int64_t ttl_ms) KH_MUST_CHECK;
/* Insert k and map identity "apikey:<k->id>" to k->user_id, atomically;
 * KH_ERR_NOT_FOUND when the user does not exist. */
kh_err kh_store_apikey_create(kh_store *s, const kh_apikey_row *k) KH_MUST_CHECK;
kh_err kh_store_apikey_get(kh_store *s, const char *id, kh_apikey_row *out) KH_MUST_CHECK;
kh_err kh_store_apikey_list(kh_store *s, const char *user_id, kh_apikey_row **rows,
                            size_t *n) KH_MUST_CHECK;
/* Revoke key id and unmap its identity; KH_ERR_NOT_FOUND unless it was
 * active (and, when user_id is not NULL, belonged to user_id). */
kh_err kh_store_apikey_revoke(kh_store *s, const char *id, const char *user_id,
                              int64_t now) KH_MUST_CHECK;

/* KES names (ops/kes_ops.h), atomic across nodes sharing the database:
 * make holder the holder of owner's name when nobody holds it (expected
 * NULL) or when expected does; KH_ERR_EXISTS otherwise. */
kh_err kh_store_kes_name_claim(kh_store *s, const char *owner, const char *name, const char *holder,
                               const char *expected) KH_MUST_CHECK;
/* The holder of owner's name (caller frees); KH_ERR_NOT_FOUND. */
kh_err kh_store_kes_name_get(kh_store *s, const char *owner, const char *name,
                             char **holder) KH_MUST_CHECK;

/* ---- KES policies and assignments (store_kes_policy.c) ----------------- */

/* A KES policy as stored (docs/kes.md). Rules are printable ASCII without
 * whitespace; free with kh_kes_policy_rows_free. */
typedef struct kh_kes_policy_row {
    char *name;
    char **allow;
    size_t n_allow;
    char **deny;
    size_t n_deny;
    int64_t created_at; /* unix seconds of the last change */
    char *created_by;   /* who made it ("config" for the policy file) */
} kh_kes_policy_row;
void kh_kes_policy_rows_free(kh_kes_policy_row *rows, size_t n);

/* A KES identity (64 hex digits) and the policy it is assigned. */
typedef struct kh_kes_assignment_row {
    char *identity;
    char *policy;
    int64_t assigned_at;
    char *assigned_by;
} kh_kes_assignment_row;
void kh_kes_assignment_rows_free(kh_kes_assignment_row *rows, size_t n);

/* Every change below increments the KES policy version in the same
 * transaction, so that nodes sharing the database notice it
 * (kh_store_kes_policy_version); a put that changes nothing leaves it. */

/* Create or replace policy p->name (its assignments stay); *changed (may
 * be NULL) says whether the stored policy differs from before.
 * KH_ERR_INVALID_ARG for an empty name or a rule with whitespace. */
kh_err kh_store_kes_policy_put(kh_store *s, const kh_kes_policy_row *p, int *changed) KH_MUST_CHECK;
/* Delete policy name and its assignments; KH_ERR_NOT_FOUND. */
kh_err kh_store_kes_policy_delete(kh_store *s, const char *name) KH_MUST_CHECK;
/* Every policy, by name. */
kh_err kh_store_kes_policy_list(kh_store *s, kh_kes_policy_row **rows, size_t *n) KH_MUST_CHECK;
/* Assign a->identity to a->policy, replacing its previous policy;
 * KH_ERR_NOT_FOUND without such a policy. *changed as for _put. */
kh_err kh_store_kes_assign(kh_store *s, const kh_kes_assignment_row *a, int *changed) KH_MUST_CHECK;
/* Unassign identity; KH_ERR_NOT_FOUND when it had no policy. */
kh_err kh_store_kes_unassign(kh_store *s, const char *identity) KH_MUST_CHECK;
/* Every assignment, by identity. */
kh_err kh_store_kes_assignment_list(kh_store *s, kh_kes_assignment_row **rows,
                                    size_t *n) KH_MUST_CHECK;
/* The current KES policy version: one single-row read, cheap enough to
 * run often. */
kh_err kh_store_kes_policy_version(kh_store *s, int64_t *version) KH_MUST_CHECK;

/* ---- realms and their members (store_realms.c) ------------------------- */

typedef struct kh_realm_row {
    int64_t id;
    char *name;
    int64_t created_at;
} kh_realm_row;
void kh_realm_rows_free(kh_realm_row *rows, size_t n);

/* One role given to member ("*" = everyone) in a realm: active while
 * removed_at is 0. permissions is the mask the role gave (ops/realm.h). */
typedef struct kh_member_row {
    int64_t realm_id;
    char *member;
    char *role; /* "OWNER", "MANAGER", "CONTRIBUTOR" or "READER" */
    uint32_t permissions;
    int64_t granted_at;
    char *granted_by;
    int64_t removed_at; /* 0 = active */
    char *removed_by;   /* "" while active */
} kh_member_row;
void kh_member_row_clear(kh_member_row *m);
void kh_member_rows_free(kh_member_row *rows, size_t n);

/* Create realm name, with first (may be NULL; its realm_id is ignored)
 * as its first member, in one transaction; KH_ERR_EXISTS when taken. */
kh_err kh_store_realm_create(kh_store *s, const char *name, int64_t now, const kh_member_row *first,
                             int64_t *id) KH_MUST_CHECK;
/* The realm called name, or (name NULL) numbered id; KH_ERR_NOT_FOUND. */
kh_err kh_store_realm_find(kh_store *s, const char *name, int64_t id,
                           kh_realm_row *out) KH_MUST_CHECK;
/* Every realm, oldest first. */
kh_err kh_store_realm_list(kh_store *s, kh_realm_row **rows, size_t *n) KH_MUST_CHECK;
/* Give m->member the role m->role (m->permissions, m->granted_at,
 * m->granted_by) in m->realm_id, in one transaction: an active row for the
 * member is closed (removed_at = granted_at, removed_by = granted_by) and
 * the new one inserted. KH_ERR_NOT_FOUND when the realm does not exist. */
kh_err kh_store_member_set(kh_store *s, const kh_member_row *m) KH_MUST_CHECK;
/* Close member's active row; KH_ERR_NOT_FOUND when it has none. */
kh_err kh_store_member_remove(kh_store *s, int64_t realm_id, const char *member, int64_t now,
                              const char *by) KH_MUST_CHECK;
/* member's active row (exactly that member, not "*"); KH_ERR_NOT_FOUND. */
kh_err kh_store_member_get(kh_store *s, int64_t realm_id, const char *member,
                           kh_member_row *out) KH_MUST_CHECK;
/* Every row of the realm, removed ones included, oldest first. */
kh_err kh_store_member_history(kh_store *s, int64_t realm_id, kh_member_row **rows,
                               size_t *n) KH_MUST_CHECK;
/* Union of the permissions principal's and "*"'s active roles give in
 * realm_id; 0 when none. One indexed query: runs on every load by someone
 * other than the owner. */
kh_err kh_store_realm_perms(kh_store *s, int64_t realm_id, const char *principal,
                            uint32_t *perms) KH_MUST_CHECK;

/* ---- an operation's write and its audit row, in one commit ------------ */

/* kh_store_object_insert_many (n >= 1) and kh_store_object_update, and in
 * the same transaction, if and only if the write succeeds, the append of
 * audit to the chain (as kh_store_audit_append: sets audit->id and
 * audit->hash). The object and its row are durable together when it
 * returns KH_OK; on any failure neither is stored. audit may be NULL: then
 * the plain write. One commit (and one fsync) where there were two. */
kh_err kh_store_object_insert_audited(kh_store *s, const kh_obj_row *const *rows, size_t n,
                                      kh_audit_row *audit) KH_MUST_CHECK;
kh_err kh_store_object_update_audited(kh_store *s, const kh_obj_row *row,
                                      kh_audit_row *audit) KH_MUST_CHECK;
/* The same for kh_store_kes_name_claim (the last write of a KES create). */
kh_err kh_store_kes_name_claim_audited(kh_store *s, const char *owner, const char *name,
                                       const char *holder, const char *expected,
                                       kh_audit_row *audit) KH_MUST_CHECK;

#endif
