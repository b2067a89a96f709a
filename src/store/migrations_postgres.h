/*
 * migrations_postgres.h - the numbered schema migrations of the PostgreSQL
 * backend.
 */
#ifndef KH_STORE_MIGRATIONS_POSTGRES_H
#define KH_STORE_MIGRATIONS_POSTGRES_H

#include <stddef.h>

/* kh_postgres_migrations[i] brings the schema from version i to i + 1. */
extern const char *const kh_postgres_migrations[];
extern const size_t kh_postgres_n_migrations;

#endif
