/*
 * postgres_values.c - PostgreSQL backend: values in and out of libpq.
 *
 * C values become statement parameters (numbers as text, blobs as binary
 * BYTEA, never spliced into SQL), binary-format results become C values, and
 * a failed result becomes a kh_err with a log line that names the SQLSTATE
 * and a fixed description, never the server's message (it may quote
 * values). The pool and statements are in postgres.c.
 */
#include "common/log.h"
#include "common/mem.h"
#include "store/postgres_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------- */

void pg_params_init(pg_params *p)
{
    memset(p, 0, sizeof(*p));
}

static int param_slot(pg_params *p)
{
    if (p->n >= PG_MAX_PARAMS) {
        p->too_long = 1; /* a bug; reported by pg_exec */
        return -1;
    }
    return p->n++;
}

void pg_param_text(pg_params *p, const char *s)
{
    int i = param_slot(p);
    if (i >= 0)
        p->values[i] = s;
}

void pg_param_int(pg_params *p, int64_t v)
{
    int i = param_slot(p);
    if (i < 0)
        return;
    snprintf(p->num[i], sizeof(p->num[i]), "%lld", (long long)v);
    p->values[i] = p->num[i];
}

void pg_param_null(pg_params *p)
{
    (void)param_slot(p);
}

void pg_param_blob(pg_params *p, const uint8_t *b, size_t len)
{
    int i = param_slot(p);
    if (i < 0 || !b)
        return;
    if (len > INT_MAX) {
        p->too_long = 1;
        return;
    }
    /* A zero-length blob still needs a non-NULL pointer to stay non-NULL. */
    p->values[i] = len ? (const char *)b : "";
    p->lengths[i] = (int)len;
    p->formats[i] = 1;
}

/* ---- errors ----------------------------------------------------------- */

/* A fixed description per SQLSTATE class: the server's own message may
 * quote the offending values, so it is never logged. */
static const char *describe(const char *state)
{
    static const struct {
        const char *cls;
        const char *text;
    } classes[] = {
        {"08", "connection exception"},
        {"22", "data exception (e.g. text not valid in the database encoding)"},
        {"23", "integrity constraint violation"},
        {"25", "invalid transaction state"},
        {"28", "invalid authorization"},
        {"3D", "database does not exist"},
        {"3F", "schema does not exist"},
        {"40", "transaction rolled back (serialization failure or deadlock)"},
        {"42", "syntax error or access rule violation (missing table or privilege?)"},
        {"53", "insufficient resources (too many connections, disk full?)"},
        {"54", "program limit exceeded"},
        {"55", "object not in prerequisite state (lock not available?)"},
        {"57", "operator intervention (server shutting down or query cancelled)"},
        {"58", "system error"},
        {"XX", "internal error"},
    };
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (strncmp(state, classes[i].cls, 2) == 0)
            return classes[i].text;
    return "database error";
}

static kh_err map_sqlstate(const char *state)
{
    if (strcmp(state, "22021") == 0 || strcmp(state, "22P05") == 0)
        return KH_ERR_INVALID_FIELD; /* text the database encoding cannot hold */
    if (strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
        return KH_ERR_BUSY; /* worth retrying */
    return KH_ERR_STORE;
}

kh_err pg_fail(pg_conn *c, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0)
        return KH_ERR_EXISTS;
    if (PQstatus(c->conn) != CONNECTION_OK) {
        kh_warn("store: postgresql: %s: connection to the server lost", what);
        return KH_ERR_STORE;
    }
    if (!state || strlen(state) != 5) {
        kh_error("store: postgresql: %s failed without a SQLSTATE", what);
        return KH_ERR_STORE;
    }
    kh_error("store: postgresql: %s failed: SQLSTATE %s, %s", what, state, describe(state));
    return map_sqlstate(state);
}

/* ---- results ---------------------------------------------------------- */

int64_t pg_get_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col);
    uint64_t v = 0;
    for (int i = 0; i < len && i < 8; i++)
        v = (v << 8) | p[i];
    switch (len) { /* sign-extend network-order int2 / int4 / int8 */
    case 2:
        return (int16_t)(uint16_t)v;
    case 4:
        return (int32_t)(uint32_t)v;
    case 8:
        return (int64_t)v;
    default:
        kh_error("store: postgresql: unexpected integer width %d", len);
        return 0;
    }
}

char *pg_get_text(const PGresult *r, int row, int col)
{
    /* Binary text is the raw bytes; libpq adds a terminating NUL. */
    return kh_xstrdup(PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

void pg_get_blob(const PGresult *r, int row, int col, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (PQgetisnull(r, row, col))
        return;
    int n = PQgetlength(r, row, col);
    *out = kh_xmalloc(n > 0 ? (size_t)n : 1);
    if (n > 0)
        memcpy(*out, PQgetvalue(r, row, col), (size_t)n);
    *len = n > 0 ? (size_t)n : 0;
}

void pg_clear(PGresult *r)
{
    if (!r)
        return;
    int rows = PQntuples(r), cols = PQnfields(r);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            if (!PQgetisnull(r, i, j))
                kh_wipe(PQgetvalue(r, i, j), (size_t)PQgetlength(r, i, j));
    PQclear(r);
}
