/*
 * postgres.h - the PostgreSQL storage backend (see store.h for the interface).
 */
#ifndef KH_STORE_POSTGRES_H
#define KH_STORE_POSTGRES_H

#include "common/err.h"
#include "store/store.h"

/* Open a pool on the database named by url ("postgresql://..." or
 * "postgres://...", handed to libpq unchanged). Connects once so a bad URL
 * or an unreachable server fails now. Does not migrate. The result is freed
 * with kh_store_close. */
kh_err kh_postgres_open(const char *url, kh_store **out) KH_MUST_CHECK;

#endif
