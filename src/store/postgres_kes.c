/*
 * postgres_kes.c - PostgreSQL backend: KES names (store.h,
 * kh_store_kes_name_*). The claim is one upsert on the (owner, name) key,
 * so across nodes exactly one of several concurrent claims of a free name
 * wins; the command tag says whether this one did.
 */
#include "common/mem.h"
#include "store/postgres_internal.h"

#include <string.h>
#include <time.h>

typedef struct claim {
    const char *owner, *name, *holder, *expected;
} claim;

static kh_err claim_on(pg_conn *c, void *ctx)
{
    const claim *a = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, a->owner);
    pg_param_text(&p, a->name);
    pg_param_text(&p, a->holder);
    pg_param_int(&p, (int64_t)time(NULL));
    if (a->expected)
        pg_param_text(&p, a->expected);
    else
        pg_param_null(&p);
    kh_err err = pg_exec(c, PG_KES_NAME_CLAIM, &p, &res);
    if (err == KH_OK && strcmp(PQcmdTuples(res), "0") == 0)
        err = KH_ERR_EXISTS;
    pg_clear(res);
    return err;
}

kh_err pg_kes_name_claim(kh_store *s, const char *owner, const char *name, const char *holder,
                         const char *expected)
{
    claim a = {owner, name, holder, expected};
    return pg_run(s, claim_on, &a, 0);
}

/* With the row: one job of the audit batch (postgres_audit.c). */
kh_err pg_kes_name_claim_audited(kh_store *s, const char *owner, const char *name,
                                 const char *holder, const char *expected, kh_audit_row *audit)
{
    claim a = {owner, name, holder, expected};
    return pg_audit_submit(s, claim_on, &a, audit);
}

typedef struct get {
    const char *owner, *name;
    char **holder;
} get;

static kh_err get_on(pg_conn *c, void *ctx)
{
    const get *a = ctx;
    pg_params p;
    PGresult *res = NULL;
    pg_params_init(&p);
    pg_param_text(&p, a->owner);
    pg_param_text(&p, a->name);
    kh_err err = pg_exec(c, PG_KES_NAME_GET, &p, &res);
    if (err == KH_OK && PQntuples(res) == 0)
        err = KH_ERR_NOT_FOUND;
    else if (err == KH_OK)
        *a->holder = pg_get_text(res, 0, 0);
    pg_clear(res);
    return err;
}

kh_err pg_kes_name_get(kh_store *s, const char *owner, const char *name, char **holder)
{
    get a = {owner, name, holder};
    return pg_run(s, get_on, &a, 1);
}
