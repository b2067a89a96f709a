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

struct kh_store_ops {
    const char *name;
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
    kh_err (*object_get)(kh_store *s, const char *uid, kh_obj_row **out);
    kh_err (*object_update)(kh_store *s, const kh_obj_row *row);
    kh_err (*object_locate)(kh_store *s, const kh_locate_query *q, char ***uids, size_t *n);
    /* Audit */
    kh_err (*audit_append)(kh_store *s, kh_audit_row *row);
    kh_err (*audit_read)(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows, size_t *n);
    kh_err (*audit_head)(kh_store *s, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN]);
    /* Grants */
    kh_err (*grant_add)(kh_store *s, const kh_grant_row *g);
    kh_err (*grant_remove)(kh_store *s, const kh_grant_row *g);
    kh_err (*grant_list)(kh_store *s, const char *owner, const char *object_uid,
                         kh_grant_row **rows, size_t *n);
    kh_err (*grant_perms)(kh_store *s, const char *owner, const char *object_uid,
                          const char *principal, uint32_t *perms);
};

struct kh_store {
    const struct kh_store_ops *ops;
};

/* Open the store named by url. Does not migrate. */
kh_err kh_store_open(const char *url, kh_store **out) KH_MUST_CHECK;
/* Close and free; sets *s to NULL; accepts NULL. */
void kh_store_close(kh_store **s);

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
/* Load one object; KH_ERR_NOT_FOUND if absent. */
kh_err kh_store_object_get(kh_store *s, const char *uid, kh_obj_row **out) KH_MUST_CHECK;
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

#endif
