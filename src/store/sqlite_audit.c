/*
 * sqlite_audit.c - SQLite backend: the audit log and grants.
 *
 * Audit appends and grant changes go through the group commit
 * (sqlite_commit.c). Its leader chains every audit row of a batch inside
 * the batch's IMMEDIATE transaction with the functions below: one read of
 * the chain head, one INSERT per row, one update of the head. Holding
 * SQLite's write lock, nothing can interleave with the chain, in this
 * process or another one, and all the rows of a batch share one fsync.
 * The canonical encoding is in audit_chain.c.
 */
#include "common/mem.h"
#include "store/audit_chain.h"
#include "store/sqlite_internal.h"

#include <string.h>
#include <time.h>

/* ---- audit ------------------------------------------------------------ */

kh_err sq_audit_head_get(sq_conn *c, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN])
{
    sqlite3_stmt *st = sq_stmt(c, SQ_AUDIT_HEAD);
    if (!st)
        return KH_ERR_STORE;
    int rc = sqlite3_step(st);
    kh_err err = KH_OK;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == KH_AUDIT_HASH_LEN) {
        *last_id = sqlite3_column_int64(st, 0);
        memcpy(hash, sqlite3_column_blob(st, 1), KH_AUDIT_HASH_LEN);
    } else {
        err = rc == SQLITE_ROW || rc == SQLITE_DONE ? KH_ERR_STORE : sq_fail(c, rc, "audit head");
    }
    sq_done(st);
    return err;
}

kh_err sq_audit_insert(sq_conn *c, const kh_audit_row *r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_AUDIT_INSERT);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int64(st, 2, r->time_us);
    sqlite3_bind_text(st, 3, r->principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->client_addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->operation, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, r->object_uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, r->result, -1, SQLITE_STATIC);
    sq_bind_blob(st, 8, r->hash, KH_AUDIT_HASH_LEN);
    kh_err err = sq_exec(c, st, "audit insert");
    /* The id comes from the head we hold: a clash means the chain is off. */
    return err == KH_ERR_EXISTS ? KH_ERR_INTERNAL : err;
}

kh_err sq_audit_head_put(sq_conn *c, int64_t last_id, const uint8_t hash[KH_AUDIT_HASH_LEN])
{
    sqlite3_stmt *st = sq_stmt(c, SQ_AUDIT_HEAD_SET);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_int64(st, 1, last_id);
    sq_bind_blob(st, 2, hash, KH_AUDIT_HASH_LEN);
    return sq_exec(c, st, "audit head update");
}

kh_err sq_audit_append(kh_store *s, kh_audit_row *row)
{
    return sq_group_audit(s, row);
}

static char *text_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return kh_xstrdup(t ? (const char *)t : "");
}

static void read_audit_row(sqlite3_stmt *st, kh_audit_row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->time_us = sqlite3_column_int64(st, 1);
    r->principal = text_col(st, 2);
    r->client_addr = text_col(st, 3);
    r->operation = text_col(st, 4);
    r->object_uid = text_col(st, 5);
    r->result = text_col(st, 6);
    /* A hash of the wrong size cannot match; it reads as zeros-padded. */
    int n = sqlite3_column_bytes(st, 7);
    const void *h = sqlite3_column_blob(st, 7);
    if (h && n > 0)
        memcpy(r->hash, h, n < KH_AUDIT_HASH_LEN ? (size_t)n : KH_AUDIT_HASH_LEN);
}

kh_err sq_audit_read(kh_store *s, int64_t after_id, size_t max, kh_audit_row **rows, size_t *n)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    sqlite3_stmt *st = sq_stmt(c, SQ_AUDIT_READ);
    kh_audit_row *list = NULL;
    size_t count = 0;
    if (!st) {
        err = KH_ERR_STORE;
        goto out;
    }
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    list = kh_xcalloc(max, sizeof(*list));
    int rc = SQLITE_DONE;
    while (count < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        read_audit_row(st, &list[count++]);
    if (count < max && rc != SQLITE_DONE)
        err = sq_fail(c, rc, "audit select");
    sq_done(st);
out:
    sq_release(s, c);
    if (err != KH_OK) {
        kh_audit_rows_free(list, count);
        return err;
    }
    *rows = list;
    *n = count;
    return KH_OK;
}

kh_err sq_audit_head(kh_store *s, int64_t *last_id, uint8_t hash[KH_AUDIT_HASH_LEN])
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    err = sq_audit_head_get(c, last_id, hash);
    sq_release(s, c);
    return err;
}

/* ---- grants ----------------------------------------------------------- */

static void bind_grant_key(sqlite3_stmt *st, const kh_grant_row *g)
{
    sqlite3_bind_text(st, 1, g->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, g->object_uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, g->grantee, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)g->permissions);
}

static kh_err grant_add_on(sq_conn *c, void *arg)
{
    const kh_grant_row *g = arg;
    sqlite3_stmt *st = sq_stmt(c, SQ_GRANT_ADD);
    if (!st)
        return KH_ERR_STORE;
    bind_grant_key(st, g);
    sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
    return sq_exec(c, st, "grant insert");
}

kh_err sq_grant_add(kh_store *s, const kh_grant_row *g)
{
    return sq_group_write(s, grant_add_on, (void *)g);
}

static kh_err grant_remove_on(sq_conn *c, void *arg)
{
    const kh_grant_row *g = arg;
    sqlite3_stmt *st = sq_stmt(c, SQ_GRANT_SUB);
    if (!st)
        return KH_ERR_STORE;
    bind_grant_key(st, g);
    kh_err err = sq_exec(c, st, "grant update");
    if (err != KH_OK)
        return err;
    if (sqlite3_changes(c->db) == 0)
        return KH_ERR_NOT_FOUND;
    if (!(st = sq_stmt(c, SQ_GRANT_PRUNE)))
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, g->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, g->object_uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, g->grantee, -1, SQLITE_STATIC);
    return sq_exec(c, st, "grant delete");
}

kh_err sq_grant_remove(kh_store *s, const kh_grant_row *g)
{
    return sq_group_write(s, grant_remove_on, (void *)g);
}

kh_err sq_grant_list(kh_store *s, const char *owner, const char *object_uid, kh_grant_row **rows,
                     size_t *n)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    sqlite3_stmt *st = sq_stmt(c, SQ_GRANT_LIST);
    kh_grant_row *list = NULL;
    size_t count = 0, cap = 0;
    if (!st) {
        sq_release(s, c);
        return KH_ERR_STORE;
    }
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    if (object_uid)
        sqlite3_bind_text(st, 2, object_uid, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            list = kh_xrealloc(list, cap * sizeof(*list));
        }
        kh_grant_row *g = &list[count++];
        g->owner = text_col(st, 0);
        g->object_uid = text_col(st, 1);
        g->grantee = text_col(st, 2);
        g->permissions = (uint32_t)sqlite3_column_int64(st, 3);
    }
    if (rc != SQLITE_DONE)
        err = sq_fail(c, rc, "grant select");
    sq_done(st);
    sq_release(s, c);
    if (err != KH_OK) {
        kh_grant_rows_free(list, count);
        return err;
    }
    *rows = list;
    *n = count;
    return KH_OK;
}

kh_err sq_grant_perms(kh_store *s, const char *owner, const char *object_uid, const char *principal,
                      uint32_t *perms)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    sqlite3_stmt *st = sq_stmt(c, SQ_GRANT_PERMS);
    if (!st) {
        sq_release(s, c);
        return KH_ERR_STORE;
    }
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, object_uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, principal, -1, SQLITE_STATIC);
    uint32_t all = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        all |= (uint32_t)sqlite3_column_int64(st, 0);
    if (rc != SQLITE_DONE)
        err = sq_fail(c, rc, "grant select");
    sq_done(st);
    sq_release(s, c);
    if (err == KH_OK)
        *perms = all;
    return err;
}
