/*
 * sqlite_ckpt.c - the SQLite backend's background WAL checkpointer.
 *
 * SQLite's automatic checkpoint (every 1000 WAL frames) runs inside the
 * COMMIT that crossed the threshold, so one batch of requests in every
 * few hundred waited for the copy of the WAL into the database file and
 * its fsyncs (about 9% of keyhold's CPU under a write load, in its p99).
 * Here every connection runs with wal_autocheckpoint=0; a WAL hook on the
 * connections that commit wakes one thread per store, which checkpoints
 * PASSIVE (never waiting for, nor blocking, readers or writers) on a
 * connection of its own. It is not a cache of anything: a database left by
 * a crash at any point is recovered by SQLite as before.
 *
 * Durability: a checkpoint copies frames that are already in the WAL and
 * syncs the WAL before and the database file after copying, on this
 * thread; the WAL is only ever overwritten (restarted) once every frame in
 * it is in the synced database file. A commit's own guarantee is unchanged
 * (synchronous=FULL syncs the WAL at COMMIT, NORMAL does not).
 *
 * A WAL restarts from its beginning only when a writer starts while every
 * frame has been copied, and under a steady write load a background
 * checkpoint never sees that: writers append while it copies. So once the
 * WAL is long (CKPT_QUIET_FRAMES) the checkpointer asks the group commit's
 * leader, which excludes every other writer of this store, to checkpoint
 * the short remainder right after one of its commits (once that batch's
 * other callers are answered); the next write then restarts the WAL. The
 * leader's own caller, and writers queued meanwhile, wait for a copy of a
 * few dozen frames and its fsyncs, once in a few thousand frames, instead
 * of a whole batch waiting for the whole copy every thousand.
 * Should the WAL grow anyway to CKPT_FORCE_FRAMES (a reader holding an old
 * snapshot for long, or another process writing), the checkpointer falls
 * back to a TRUNCATE checkpoint, which copies everything and empties the
 * WAL: it waits up to CKPT_FORCE_WAIT_MS for the readers of old frames,
 * and holds the write lock meanwhile, so writers stall too (their BEGIN
 * IMMEDIATE sleeps in the busy handler) for the copy plus that wait. That
 * bounds the WAL instead of letting it grow without limit. When the
 * readers outlast the wait, the next attempt comes only after another
 * CKPT_FORCE_FRAMES frames, so a reader that never ends costs writers one
 * such stall per CKPT_FORCE_FRAMES frames, not one per round.
 */
#include "common/log.h"
#include "common/mem.h"
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Frames not yet copied that wake the checkpointer: SQLite's own default.
 * Each wake-up costs two fsyncs (WAL, database file), so much smaller
 * thresholds spend the disk's flush rate on checkpoints; larger ones make
 * each copy longer and the wal-index (whose lookups readers pay for
 * frames not yet copied) bigger. */
#define CKPT_FRAMES 1000
/* A WAL this long asks the group-commit leader for a quiet checkpoint so
 * the WAL can restart (about 16 MB with 4 KB pages). */
#define CKPT_QUIET_FRAMES (4 * CKPT_FRAMES)
/* A WAL this long is truncated even at the cost of a writers' stall. */
#define CKPT_FORCE_FRAMES (10 * CKPT_QUIET_FRAMES)
/* How long the forced checkpoint waits for readers (its connection's busy
 * timeout; PASSIVE checkpoints never wait). */
#define CKPT_FORCE_WAIT_MS 250
/* An idle store copies its last frames after this long, so the database
 * file alone is complete while nobody writes. */
#define CKPT_IDLE_MS 1000
/* A commit left unsynced (sq_ckpt_unsynced_commit) is on disk this long
 * after it, at the latest. */
#define SYNC_WITHIN_US 100000

struct sq_ckpt {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started;
    int stop;           /* under mu */
    sq_conn *conn;      /* the checkpointer's own connection */
    int force_at;       /* WAL length for the next forced checkpoint (thread only) */
    atomic_int pending; /* a wake-up is due (the hook locks mu once a round) */
    atomic_int frames;  /* the WAL's length at the last commit the hook saw */
    atomic_int copied;  /* frames the last checkpoint left copied */
    atomic_int wake_at; /* the WAL length that calls for the next round */
    atomic_int quiet;   /* ask the leader for a checkpoint after its commit */
    /* CLOCK_MONOTONIC us by which the WAL must be synced for a commit
     * left unsynced; 0 = none waits */
    _Atomic int64_t sync_due_us;
    _Atomic uint64_t syncs; /* sync_wal calls that synced */
    char wal_path[4096];
};

/* SQLite calls this after each commit on a watched connection, with the
 * WAL's length in frames. Cheap: a few atomics unless the checkpointer is
 * due. (Two connections' hooks may report out of order and make a
 * restart seem to happen; that only wakes the checkpointer early.) */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    sq_ckpt *k = arg;
    if (frames < atomic_exchange(&k->frames, frames)) {
        /* the WAL restarted: nothing in it is copied yet */
        atomic_store(&k->copied, 0);
        atomic_store(&k->wake_at, CKPT_FRAMES);
    }
    if (frames >= atomic_load(&k->wake_at) && !atomic_exchange(&k->pending, 1)) {
        pthread_mutex_lock(&k->mu);
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->mu);
    }
    return SQLITE_OK;
}

void sq_ckpt_watch(sq_ckpt *k, sqlite3 *db)
{
    sqlite3_wal_hook(db, wal_hook, k);
}

/* One checkpoint on db in mode; *log and *copied as SQLite reports them
 * (-1 when it could not tell). A busy database is not an error: another
 * checkpoint is running, or (PASSIVE) a writer or reader is in the way. */
static int checkpoint(sqlite3 *db, int mode, int *log, int *copied)
{
    *log = *copied = -1;
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, mode, log, copied);
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
        kh_error("store: sqlite: checkpoint: %s (code %d)", sqlite3_errmsg(db), rc);
    return rc;
}

/* One round: PASSIVE, then what the WAL's length calls for. The next
 * round comes CKPT_FRAMES frames later, even when this one was stopped
 * short by a reader of old frames: rounds that cannot progress would
 * otherwise follow every commit. */
static void round_once(sq_ckpt *k)
{
    int log = 0, copied = 0;
    sqlite3 *db = k->conn->db;
    int rc = checkpoint(db, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc == SQLITE_OK && copied >= 0)
        atomic_store(&k->copied, copied);
    if (rc == SQLITE_OK && log >= 0) {
        atomic_store(&k->wake_at, log + CKPT_FRAMES);
        if (atomic_load(&k->frames) < log) /* restarted meanwhile: the hook missed this */
            atomic_store(&k->wake_at, CKPT_FRAMES);
    }
    if (log >= 0 && log < CKPT_FORCE_FRAMES)
        k->force_at = CKPT_FORCE_FRAMES; /* restarted since a failed attempt */
    if (log >= k->force_at) {
        kh_warn("store: sqlite: the WAL holds %d frames; truncating it (writers wait)", log);
        int at = log;
        rc = checkpoint(db, SQLITE_CHECKPOINT_TRUNCATE, &log, &copied);
        if (rc == SQLITE_OK)
            atomic_store(&k->copied, 0);
        else
            k->force_at = at + CKPT_FORCE_FRAMES;
    } else if (log >= CKPT_QUIET_FRAMES) {
        atomic_store(&k->quiet, 1);
    }
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* fdatasync the WAL: every frame written before it, by any connection, is
 * then on disk (one file, one inode, whichever descriptor). The due time
 * is cleared first, so a commit that ends during the sync and may have
 * missed it sets a new one. */
static void sync_wal(sq_ckpt *k)
{
    atomic_store(&k->sync_due_us, 0);
    int fd = open(k->wal_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) /* no WAL: every commit is in the database file */
            kh_error("store: sqlite: cannot open the WAL to sync it (errno %d)", errno);
        return;
    }
    if (fdatasync(fd) != 0)
        kh_error("store: sqlite: fdatasync of the WAL failed (errno %d)", errno);
    else
        atomic_fetch_add(&k->syncs, 1);
    close(fd);
}

uint64_t sq_ckpt_syncs(sq_ckpt *k)
{
    return atomic_load(&k->syncs);
}

void sq_ckpt_unsynced_commit(sq_ckpt *k)
{
    int64_t none = 0;
    if (atomic_load(&k->sync_due_us) == 0 &&
        atomic_compare_exchange_strong(&k->sync_due_us, &none, mono_us() + SYNC_WITHIN_US)) {
        pthread_mutex_lock(&k->mu);
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->mu);
    }
}

/* Milliseconds to sleep: until the next sync is due, else CKPT_IDLE_MS;
 * 0 when the sync is due now. */
static int sleep_ms(sq_ckpt *k)
{
    int64_t due = atomic_load(&k->sync_due_us);
    if (!due)
        return CKPT_IDLE_MS;
    int64_t left = due - mono_us();
    return left <= 0 ? 0 : (int)(left / 1000) + 1;
}

static void *ckpt_main(void *arg)
{
    sq_ckpt *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        int ms = sleep_ms(k);
        if (ms == 0) {
            pthread_mutex_unlock(&k->mu);
            sync_wal(k);
            pthread_mutex_lock(&k->mu);
            continue;
        }
        if (!atomic_load(&k->pending)) {
            struct timespec ts;
            deadline_in(&ts, ms);
            int rc = pthread_cond_timedwait(&k->cv, &k->mu, &ts);
            /* idle: copy the last frames if some are left */
            if (rc == ETIMEDOUT && ms == CKPT_IDLE_MS &&
                atomic_load(&k->frames) > atomic_load(&k->copied))
                atomic_store(&k->pending, 1);
            continue;
        }
        pthread_mutex_unlock(&k->mu);
        round_once(k);
        /* cleared only now: commits during the round must not wake a
         * second one before copied is up to date */
        atomic_store(&k->pending, 0);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

sq_ckpt *sq_ckpt_new(void)
{
    sq_ckpt *k = kh_xcalloc(1, sizeof(*k));
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    atomic_init(&k->pending, 0);
    atomic_init(&k->frames, 0);
    atomic_init(&k->copied, 0);
    atomic_init(&k->wake_at, CKPT_FRAMES);
    atomic_init(&k->quiet, 0);
    atomic_init(&k->sync_due_us, 0);
    atomic_init(&k->syncs, 0);
    return k;
}

kh_err sq_ckpt_start(sq_ckpt *k, const char *path)
{
    kh_err err = sq_conn_open(path, &k->conn);
    if (err != KH_OK)
        return err;
    /* the WAL as SQLite names it (absolute, whatever path was) */
    const char *wal = sqlite3_filename_wal(sqlite3_db_filename(k->conn->db, "main"));
    int n = snprintf(k->wal_path, sizeof(k->wal_path), "%s", wal ? wal : "");
    if (!wal || n < 0 || (size_t)n >= sizeof(k->wal_path)) {
        kh_error("store: sqlite: the WAL's file name is unknown or too long");
        sq_conn_close(k->conn);
        k->conn = NULL;
        return KH_ERR_CONFIG;
    }
    sqlite3_busy_timeout(k->conn->db, CKPT_FORCE_WAIT_MS);
    k->force_at = CKPT_FORCE_FRAMES;
    if (pthread_create(&k->thread, NULL, ckpt_main, k) != 0) {
        kh_error("store: sqlite: cannot start the checkpoint thread");
        sq_conn_close(k->conn);
        k->conn = NULL;
        return KH_ERR_STORE;
    }
    k->started = 1;
    return KH_OK;
}

int sq_ckpt_wanted(sq_ckpt *k)
{
    return atomic_load(&k->quiet);
}

void sq_ckpt_after_commit(sq_ckpt *k, sqlite3 *db)
{
    if (!atomic_load(&k->quiet) || !atomic_exchange(&k->quiet, 0))
        return;
    int log = 0, copied = 0;
    if (checkpoint(db, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) == SQLITE_OK && copied >= 0)
        atomic_store(&k->copied, copied);
}

void sq_ckpt_free(sq_ckpt **kp)
{
    sq_ckpt *k = *kp;
    if (!k)
        return;
    if (k->started) {
        pthread_mutex_lock(&k->mu);
        k->stop = 1;
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->mu);
        pthread_join(k->thread, NULL);
        if (atomic_load(&k->sync_due_us))
            sync_wal(k);
    }
    /* When it is the last connection to the database, closing it copies
     * the rest of the WAL and deletes it, as SQLite does on every close. */
    sq_conn_close(k->conn);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
    *kp = NULL;
}
