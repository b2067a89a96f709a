/*
 * migrations_sqlite.h - the numbered schema migrations of the SQLite backend.
 */
#ifndef KH_STORE_MIGRATIONS_SQLITE_H
#define KH_STORE_MIGRATIONS_SQLITE_H

#include <stddef.h>

/* kh_sqlite_migrations[i] brings the schema from version i to i + 1. */
extern const char *const kh_sqlite_migrations[];
extern const size_t kh_sqlite_n_migrations;

#endif
