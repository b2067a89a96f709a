/*
 * sqlite_kes.c - SQLite backend: KES names (store.h, kh_store_kes_name_*).
 *
 * A claim is one upsert whose update applies only when the current holder
 * is the expected one, so "is it free or still held by X?" and "take it"
 * are a single statement; sqlite3_changes says whether it happened.
 */
#include "common/mem.h"
#include "store/sqlite_internal.h"

#include <time.h>

typedef struct claim {
    const char *owner, *name, *holder, *expected;
} claim;

static kh_err claim_on(sq_conn *c, void *arg)
{
    const claim *a = arg;
    sqlite3_stmt *st = sq_stmt(c, SQ_KES_NAME_CLAIM);
    if (!st)
        return KH_ERR_STORE;
    sqlite3_bind_text(st, 1, a->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->holder, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
    if (a->expected)
        sqlite3_bind_text(st, 5, a->expected, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    kh_err err = sq_exec(c, st, "kes name claim");
    if (err == KH_OK && sqlite3_changes(c->db) == 0)
        err = KH_ERR_EXISTS;
    return err;
}

kh_err sq_kes_name_claim(kh_store *s, const char *owner, const char *name, const char *holder,
                         const char *expected)
{
    claim a = {owner, name, holder, expected};
    return sq_group_write(s, claim_on, &a);
}

kh_err sq_kes_name_claim_audited(kh_store *s, const char *owner, const char *name,
                                 const char *holder, const char *expected, kh_audit_row *audit)
{
    claim a = {owner, name, holder, expected};
    return sq_group_write_audited(s, claim_on, &a, audit);
}

kh_err sq_kes_name_get(kh_store *s, const char *owner, const char *name, char **holder)
{
    sq_conn *c = NULL;
    kh_err err = sq_acquire(s, &c);
    if (err != KH_OK)
        return err;
    sqlite3_stmt *st = sq_stmt(c, SQ_KES_NAME_GET);
    if (!st) {
        sq_release(s, c);
        return KH_ERR_STORE;
    }
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *holder = kh_xstrdup((const char *)sqlite3_column_text(st, 0));
    else
        err = rc == SQLITE_DONE ? KH_ERR_NOT_FOUND : sq_fail(c, rc, "kes name select");
    sq_done(st);
    sq_release(s, c);
    return err;
}
