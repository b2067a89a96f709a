/*
 * kes_policy_db.c - the KES policy set kept in step with the database
 * (kes_policy_db.h): start-up bootstrap from the policy file, reloads
 * when the store's version moves, and the admin API's changes.
 *
 * A reload builds a fresh set from the database and swaps it into the
 * live one, so a KES request sees either the old set or the new one,
 * never half of each. The version is read before the rows: a change that
 * lands between the two reads leaves a newer version in the database than
 * the one remembered, and the next check loads again.
 */
#include "ops/kes_policy_db.h"

#include "common/log.h"
#include "common/mem.h"
#include "ops/audit.h"
#include "ops/kes_grants.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* created_by / assigned_by of what the policy file put in the database */
#define FROM_FILE "config"

struct kh_kes_policy_db {
    kh_service *svc;
    kh_kes_policies *pol; /* borrowed: the live set */
    unsigned refresh_secs;
    pthread_mutex_t lock; /* one reload (and grant sync) at a time */
    int64_t version;      /* of the set loaded, -1 = none yet */
    int64_t checked_ns;   /* monotonic time of the last version check */
};

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

kh_kes_policy_db *kh_kes_policy_db_new(kh_service *svc, kh_kes_policies *pol, unsigned refresh_secs)
{
    kh_kes_policy_db *d = kh_xcalloc(1, sizeof(*d));
    d->svc = svc;
    d->pol = pol;
    d->refresh_secs = refresh_secs;
    d->version = -1;
    pthread_mutex_init(&d->lock, NULL);
    return d;
}

void kh_kes_policy_db_free(kh_kes_policy_db **dp)
{
    kh_kes_policy_db *d = dp ? *dp : NULL;
    if (!d)
        return;
    pthread_mutex_destroy(&d->lock);
    free(d);
    *dp = NULL;
}

/* ---- loading ------------------------------------------------------------- */

static void fill_set(kh_kes_policy_db *d, kh_kes_policies *fresh, const kh_kes_policy_row *pols,
                     size_t np, const kh_kes_assignment_row *asg, size_t na)
{
    for (size_t i = 0; i < np; i++) {
        kh_kes_policy p = {pols[i].name,   pols[i].allow,      pols[i].n_allow,   pols[i].deny,
                           pols[i].n_deny, pols[i].created_at, pols[i].created_by};
        if (kh_kes_policy_put(fresh, &p) != KH_OK)
            kh_warn("kes: policy %s in the database is malformed; ignored", pols[i].name);
    }
    for (size_t i = 0; i < na; i++) {
        if (kh_kes_is_admin(d->pol, asg[i].identity))
            continue; /* this node's admin needs no policy */
        if (kh_kes_identity_assign(fresh, asg[i].identity, asg[i].policy) != KH_OK)
            kh_warn("kes: assignment of %s to %s in the database is malformed; ignored",
                    asg[i].identity, asg[i].policy);
    }
}

/* Load the database's set into d->pol; the caller holds d->lock. */
static kh_err load_locked(kh_kes_policy_db *d)
{
    kh_store *s = d->svc->store;
    kh_kes_policy_row *pols = NULL;
    kh_kes_assignment_row *asg = NULL;
    size_t np = 0, na = 0;
    int64_t version = 0;
    kh_err err = kh_store_kes_policy_version(s, &version);
    if (err == KH_OK)
        err = kh_store_kes_policy_list(s, &pols, &np);
    if (err == KH_OK)
        err = kh_store_kes_assignment_list(s, &asg, &na);
    if (err == KH_OK) {
        kh_kes_policies *fresh = kh_kes_policies_new();
        fill_set(d, fresh, pols, np, asg, na);
        kh_kes_policies_swap(d->pol, fresh);
        kh_kes_policies_free(&fresh);
        if (d->version >= 0)
            kh_info("kes: policies reloaded from the database (version %lld: %zu policies, %zu "
                    "assignments)",
                    (long long)version, np, na);
        d->version = version;
    }
    kh_kes_policy_rows_free(pols, np);
    kh_kes_assignment_rows_free(asg, na);
    return err;
}

kh_err kh_kes_policy_db_refresh(kh_kes_policy_db *d, bool force)
{
    if (!d)
        return KH_OK;
    if (force)
        pthread_mutex_lock(&d->lock);
    else if (pthread_mutex_trylock(&d->lock) != 0)
        return KH_OK; /* another thread is at it */
    kh_err err = KH_OK;
    int64_t now = mono_ns(), version = 0;
    if (!force && d->version >= 0 && now - d->checked_ns < (int64_t)d->refresh_secs * 1000000000)
        goto out;
    d->checked_ns = now;
    if ((err = kh_store_kes_policy_version(d->svc->store, &version)) != KH_OK)
        goto out;
    if (force || version != d->version)
        err = load_locked(d);
out:
    pthread_mutex_unlock(&d->lock);
    if (err != KH_OK)
        kh_warn("kes: cannot reload the policies from the database: %s", kh_strerror(err));
    return err;
}

/* ---- start-up ------------------------------------------------------------ */

static kh_err store_file_policies(kh_kes_policy_db *d)
{
    char **names = NULL;
    size_t n = 0;
    kh_err err = kh_kes_policy_list(d->pol, "", &names, &n);
    for (size_t i = 0; err == KH_OK && i < n; i++) {
        kh_kes_policy p = {0};
        if ((err = kh_kes_policy_get(d->pol, names[i], &p)) != KH_OK)
            break;
        kh_kes_policy_row row = {
            p.name, p.allow, p.n_allow, p.deny, p.n_deny, (int64_t)time(NULL), FROM_FILE};
        int changed = 0;
        err = kh_store_kes_policy_put(d->svc->store, &row, &changed);
        if (err == KH_OK && changed)
            kh_info("kes: policy %s from the policy file stored", names[i]);
        kh_kes_policy_clear(&p);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return err;
}

static kh_err store_file_assignments(kh_kes_policy_db *d)
{
    char **ids = NULL;
    size_t n = 0;
    kh_err err = kh_kes_identity_list(d->pol, "", &ids, &n);
    for (size_t i = 0; err == KH_OK && i < n; i++) {
        char policy[KH_KES_POLICY_NAME_MAX + 1];
        if (kh_kes_identity_policy(d->pol, ids[i], policy) != KH_OK)
            continue; /* the admin */
        kh_kes_assignment_row a = {ids[i], policy, (int64_t)time(NULL), FROM_FILE};
        err = kh_store_kes_assign(d->svc->store, &a, NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return err;
}

/* What an earlier policy file put in the database (created_by or
 * assigned_by "config") and this one no longer lists goes, so that taking
 * an identity out of the file takes its policy away as before; what the
 * admin API made stays. */
static kh_err prune_file_leftovers(kh_kes_policy_db *d)
{
    kh_store *s = d->svc->store;
    kh_kes_policy_row *pols = NULL;
    kh_kes_assignment_row *asg = NULL;
    size_t np = 0, na = 0;
    char cur[KH_KES_POLICY_NAME_MAX + 1];
    kh_err err = kh_store_kes_assignment_list(s, &asg, &na);
    for (size_t i = 0; err == KH_OK && i < na; i++)
        if (strcmp(asg[i].assigned_by, FROM_FILE) == 0 &&
            (kh_kes_identity_policy(d->pol, asg[i].identity, cur) != KH_OK ||
             strcmp(cur, asg[i].policy) != 0)) {
            kh_info("kes: identity %s is no longer in the policy file; unassigned",
                    asg[i].identity);
            if ((err = kh_store_kes_unassign(s, asg[i].identity)) == KH_ERR_NOT_FOUND)
                err = KH_OK; /* another node starting did it */
        }
    if (err == KH_OK)
        err = kh_store_kes_policy_list(s, &pols, &np);
    for (size_t i = 0; err == KH_OK && i < np; i++) {
        kh_kes_policy p = {0};
        if (strcmp(pols[i].created_by, FROM_FILE) != 0 ||
            kh_kes_policy_get(d->pol, pols[i].name, &p) == KH_OK) {
            kh_kes_policy_clear(&p);
            continue;
        }
        kh_info("kes: policy %s is no longer in the policy file; deleted", pols[i].name);
        if ((err = kh_store_kes_policy_delete(s, pols[i].name)) == KH_ERR_NOT_FOUND)
            err = KH_OK;
    }
    kh_kes_assignment_rows_free(asg, na);
    kh_kes_policy_rows_free(pols, np);
    return err;
}

kh_err kh_kes_policy_db_bootstrap(kh_kes_policy_db *d)
{
    kh_err err = store_file_policies(d);
    if (err == KH_OK)
        err = store_file_assignments(d);
    if (err == KH_OK)
        err = prune_file_leftovers(d);
    if (err != KH_OK) {
        kh_error("kes: cannot store the policy file's policies in the database: %s",
                 kh_strerror(err));
        return err;
    }
    return kh_kes_policy_db_refresh(d, true);
}

/* ---- the admin API's changes --------------------------------------------- */

/* After a change: this node's set from the database, then the KMIP grants
 * of KES keys from the set (under the lock, so that two changes on this
 * node do not sync at once). When another node's change landed meanwhile
 * (the version moved past the set synced), once more: so that whichever
 * change came last, the grants end up those of the last set. A failure
 * here does not undo the change: it is stored, and the next reload or
 * restart applies it. */
static void apply_change(kh_kes_policy_db *d)
{
    for (int round = 0; round < 3; round++) {
        if (kh_kes_policy_db_refresh(d, true) != KH_OK)
            return;
        pthread_mutex_lock(&d->lock);
        int64_t synced = d->version, now = synced;
        if (kh_kes_grants_sync_all(d->svc, d->pol) != KH_OK)
            kh_warn("kes: cannot bring the grants of KES keys in line with the policies");
        pthread_mutex_unlock(&d->lock);
        if (kh_store_kes_policy_version(d->svc->store, &now) != KH_OK || now == synced)
            return;
    }
}

static kh_err finish(kh_ctx *ctx, const char *op, const char *object, kh_err err)
{
    if (err == KH_OK)
        apply_change(ctx->svc->kes_policy_db);
    (void)kh_audit_record(ctx, op, object ? object : "", err);
    return err;
}

kh_err kh_op_kes_policy_put(kh_ctx *ctx, const kh_kes_policy *p)
{
    kh_err err = KH_OK;
    if (!ctx->svc->kes_policy_db)
        err = KH_ERR_UNSUPPORTED;
    else if (!kh_kes_policy_valid(p))
        err = KH_ERR_INVALID_ARG;
    if (err == KH_OK) {
        kh_kes_policy_row row = {
            p->name, p->allow, p->n_allow, p->deny, p->n_deny, ctx->now, (char *)ctx->principal};
        err = kh_store_kes_policy_put(ctx->svc->store, &row, NULL);
    }
    return finish(ctx, "KesPolicyPut", p ? p->name : NULL, err);
}

kh_err kh_op_kes_policy_delete(kh_ctx *ctx, const char *name)
{
    kh_err err = ctx->svc->kes_policy_db ? kh_store_kes_policy_delete(ctx->svc->store, name)
                                         : KH_ERR_UNSUPPORTED;
    return finish(ctx, "KesPolicyDelete", name, err);
}

kh_err kh_op_kes_assign(kh_ctx *ctx, const char *identity, const char *policy)
{
    kh_kes_policy_db *d = ctx->svc->kes_policy_db;
    kh_err err = KH_OK;
    if (!d)
        err = KH_ERR_UNSUPPORTED;
    else if (!kh_kes_identity_valid(identity) || !policy || kh_kes_is_admin(d->pol, identity))
        err = KH_ERR_INVALID_ARG;
    if (err == KH_OK) {
        kh_kes_assignment_row a = {(char *)identity, (char *)policy, ctx->now,
                                   (char *)ctx->principal};
        err = kh_store_kes_assign(ctx->svc->store, &a, NULL);
    }
    return finish(ctx, "KesAssign", identity, err);
}

kh_err kh_op_kes_unassign(kh_ctx *ctx, const char *identity)
{
    kh_err err = ctx->svc->kes_policy_db ? kh_store_kes_unassign(ctx->svc->store, identity)
                                         : KH_ERR_UNSUPPORTED;
    return finish(ctx, "KesUnassign", identity, err);
}
