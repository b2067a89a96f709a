/*
 * sqlite.h - the SQLite storage backend (see store.h for the interface).
 */
#ifndef KH_STORE_SQLITE_H
#define KH_STORE_SQLITE_H

#include "common/err.h"
#include "store/store.h"

#include <stdint.h>

/* Open (creating it, mode 0600, if absent) the SQLite database at path.
 * Does not migrate. The result is freed with kh_store_close. */
kh_err kh_sqlite_open(const char *path, kh_store **out) KH_MUST_CHECK;
/* How many times s's background thread has fdatasync'd the WAL for
 * commits left unsynced (audit rows of reads, --audit-sync-reads=false);
 * s must be a SQLite store. */
uint64_t kh_sqlite_wal_syncs(kh_store *s);

#endif
