/*
 * sqlite_vfs.c - a thin VFS over SQLite's default one that writes a
 * commit's WAL frames with one pwrite instead of two per page.
 *
 * SQLite appends a frame to the WAL as two writes: its 24-byte header,
 * then the page. A lone Create's commit is 10 frames, so 20 pwrite calls,
 * each a system call that walks ext4's buffered-write path for one or two
 * folios. On the bench machine an 11-frame commit took 42-54 us as 22
 * pwrites and 6-8 us as one pwrite of the same bytes (docs/performance.md,
 * round 6), and the WAL writes were a quarter of a Create's CPU.
 *
 * A WAL file here keeps consecutive appends in a buffer and writes them
 * out at once:
 * - when the page of a commit frame (a frame header whose "database size
 *   after commit" field is not zero, in SQLite's documented WAL format)
 *   joins the buffer: the write that completes a commit is the one that
 *   writes the buffer and returns its error, so a failed write fails the
 *   commit exactly as it does without this layer;
 * - before anything else reaches the WAL through this handle (a read, a
 *   sync, a truncation, its size, a file control, its close) and before a
 *   write that is not the next append, so every call sees the writes
 *   before it, in order;
 * - before the connection publishes a new WAL-index header: SQLite calls
 *   xShmBarrier on the database file between the header's two copies,
 *   which readers compare, so no reader can be pointed at a frame not in
 *   the file. Nothing is pending there unless the frame test above missed
 *   a commit. A write failing at that point could not be reported
 *   (xShmBarrier returns nothing), and going on would hand readers frames
 *   that are not in the file, so the process stops instead; on restart,
 *   SQLite's WAL recovery drops the unwritten frames by their checksums,
 *   and no reply was sent for them.
 *
 * Durability does not change: a commit's frames are written (to the page
 * cache, as before) before its COMMIT returns, and synchronous=FULL still
 * syncs after them. The database file, the -shm and temporary files pass
 * straight through. Each sqlite3_file is used by one connection, hence one
 * thread, at a time, so a file's buffer needs no lock.
 */
#include "store/sqlite_internal.h"

#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define VFS_NAME "keyhold"
#define WAL_HDR_LEN 32
#define FRAME_HDR_LEN 24
#define BUF_MAX (1 << 20) /* a bigger commit goes out in several writes */
/* The most one xWrite of the unix VFS takes: it keeps the low 17 bits of
 * the count (seekAndWrite in os_unix.c), so a longer write would be cut
 * short and fail as a full disk. */
#define WRITE_MAX (120 << 10)
#define BUF_KEEP (256 << 10) /* a buffer that grew past this is freed after use */

typedef struct kfile kfile;
struct kfile {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    int is_wal;
    kfile *wal;         /* a database file: its open WAL, or NULL */
    kfile *db;          /* a WAL: its database file, or NULL */
    unsigned char *buf; /* a WAL: appends not written yet */
    size_t len, cap;
    sqlite3_int64 off;    /* where buf[0] goes */
    int commit_page_next; /* the next append is a commit frame's page */
};

#define REAL_OFFSET ((sizeof(kfile) + 7) & ~(size_t)7)

static sqlite3_vfs vfs;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;
static int vfs_ok;
static atomic_ulong n_appends, n_flushes;

static sqlite3_vfs *root(void)
{
    return vfs.pAppData;
}

static const sqlite3_io_methods *rm(kfile *f)
{
    return f->real->pMethods;
}

/* Write what is pending (a no-op when nothing is). */
static int flush(kfile *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; rc == SQLITE_OK && done < f->len;) {
        size_t n = f->len - done < WRITE_MAX ? f->len - done : WRITE_MAX;
        rc = rm(f)->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
        atomic_fetch_add_explicit(&n_flushes, 1, memory_order_relaxed);
        done += n;
    }
    f->len = 0;
    f->commit_page_next = 0;
    if (f->cap > BUF_KEEP) {
        free(f->buf);
        f->buf = NULL;
        f->cap = 0;
    }
    return rc;
}

/* Room for n more bytes in f->buf (n <= BUF_MAX - f->len); 0 when out of
 * memory, and the caller writes through instead. */
static int reserve(kfile *f, size_t n)
{
    if (f->cap - f->len >= n)
        return 1;
    size_t cap = f->cap ? f->cap : 64 << 10;
    while (cap - f->len < n)
        cap *= 2;
    unsigned char *b = realloc(f->buf, cap);
    if (!b)
        return 0;
    f->buf = b;
    f->cap = cap;
    return 1;
}

/* A frame header of a commit: its bytes 4-7 (big-endian) give the
 * database's size in pages after the commit, zero for other frames. */
static int commit_frame_header(const unsigned char *p, int amt, sqlite3_int64 off)
{
    return amt == FRAME_HDR_LEN && off >= WAL_HDR_LEN && (p[4] | p[5] | p[6] | p[7]) != 0;
}

static int wal_write(kfile *f, const void *data, int amt, sqlite3_int64 off)
{
    int rc = SQLITE_OK;
    if (f->len && (off != f->off + (sqlite3_int64)f->len || (size_t)amt > BUF_MAX - f->len))
        rc = flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if ((size_t)amt > WRITE_MAX || !reserve(f, (size_t)amt)) {
        rc = flush(f); /* what is pending first, so that its error is this write's */
        return rc != SQLITE_OK ? rc : rm(f)->xWrite(f->real, data, amt, off);
    }
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += (size_t)amt;
    atomic_fetch_add_explicit(&n_appends, 1, memory_order_relaxed);
    if (f->commit_page_next)
        return flush(f); /* the commit's last write: its error is the commit's */
    f->commit_page_next = commit_frame_header(data, amt, off);
    return SQLITE_OK;
}

static int k_close(sqlite3_file *file)
{
    kfile *f = (kfile *)file;
    int rc = flush(f);
    free(f->buf);
    f->buf = NULL;
    if (f->db)
        f->db->wal = NULL;
    if (f->wal)
        f->wal->db = NULL;
    int rc2 = rm(f)->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int k_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    kfile *f = (kfile *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : rm(f)->xRead(f->real, buf, amt, off);
}

static int k_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    kfile *f = (kfile *)file;
    if (f->is_wal)
        return wal_write(f, data, amt, off);
    return rm(f)->xWrite(f->real, data, amt, off);
}

static int k_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    kfile *f = (kfile *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : rm(f)->xTruncate(f->real, size);
}

static int k_sync(sqlite3_file *file, int flags)
{
    kfile *f = (kfile *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : rm(f)->xSync(f->real, flags);
}

static int k_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    kfile *f = (kfile *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : rm(f)->xFileSize(f->real, size);
}

static int k_lock(sqlite3_file *file, int lock)
{
    kfile *f = (kfile *)file;
    return rm(f)->xLock(f->real, lock);
}

static int k_unlock(sqlite3_file *file, int lock)
{
    kfile *f = (kfile *)file;
    return rm(f)->xUnlock(f->real, lock);
}

static int k_check_reserved(sqlite3_file *file, int *out)
{
    kfile *f = (kfile *)file;
    return rm(f)->xCheckReservedLock(f->real, out);
}

static int k_file_control(sqlite3_file *file, int op, void *arg)
{
    kfile *f = (kfile *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : rm(f)->xFileControl(f->real, op, arg);
}

static int k_sector_size(sqlite3_file *file)
{
    kfile *f = (kfile *)file;
    return rm(f)->xSectorSize(f->real);
}

static int k_device_characteristics(sqlite3_file *file)
{
    kfile *f = (kfile *)file;
    return rm(f)->xDeviceCharacteristics(f->real);
}

static int k_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out)
{
    kfile *f = (kfile *)file;
    return rm(f)->xShmMap(f->real, region, size, extend, out);
}

static int k_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    kfile *f = (kfile *)file;
    return rm(f)->xShmLock(f->real, offset, n, flags);
}

static void k_shm_barrier(sqlite3_file *file)
{
    kfile *f = (kfile *)file;
    if (f->wal && flush(f->wal) != SQLITE_OK) {
        kh_error("store: sqlite: cannot write the WAL before publishing a commit; stopping so "
                 "that recovery drops the unwritten frames");
        abort();
    }
    rm(f)->xShmBarrier(f->real);
}

static int k_shm_unmap(sqlite3_file *file, int delete_flag)
{
    kfile *f = (kfile *)file;
    return rm(f)->xShmUnmap(f->real, delete_flag);
}

static int k_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    kfile *f = (kfile *)file;
    int rc = flush(f);
    *out = NULL; /* "no mapping": SQLite reads instead */
    if (rc != SQLITE_OK || rm(f)->iVersion < 3)
        return rc;
    return rm(f)->xFetch(f->real, off, amt, out);
}

static int k_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    kfile *f = (kfile *)file;
    return rm(f)->iVersion < 3 ? SQLITE_OK : rm(f)->xUnfetch(f->real, off, p);
}

#define K_METHODS_V1                                                                               \
    .xClose = k_close, .xRead = k_read, .xWrite = k_write, .xTruncate = k_truncate,                \
    .xSync = k_sync, .xFileSize = k_file_size, .xLock = k_lock, .xUnlock = k_unlock,               \
    .xCheckReservedLock = k_check_reserved, .xFileControl = k_file_control,                        \
    .xSectorSize = k_sector_size, .xDeviceCharacteristics = k_device_characteristics

/* For a default VFS without shared memory or mmap (not the unix one). */
static const sqlite3_io_methods methods_v1 = {.iVersion = 1, K_METHODS_V1};

static const sqlite3_io_methods methods_v3 = {
    .iVersion = 3,
    K_METHODS_V1,
    .xShmMap = k_shm_map,
    .xShmLock = k_shm_lock,
    .xShmBarrier = k_shm_barrier,
    .xShmUnmap = k_shm_unmap,
    .xFetch = k_fetch,
    .xUnfetch = k_unfetch,
};

static int k_open(sqlite3_vfs *self, sqlite3_filename name, sqlite3_file *file, int flags,
                  int *out_flags)
{
    (void)self;
    kfile *f = (kfile *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)f + REAL_OFFSET);
    int rc = root()->xOpen(root(), name, f->real, flags, out_flags);
    /* SQLite calls xClose after a failed xOpen only if pMethods is set */
    if (!f->real->pMethods)
        return rc;
    f->base.pMethods = f->real->pMethods->iVersion >= 2 ? &methods_v3 : &methods_v1;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && name) {
        kfile *db = (kfile *)sqlite3_database_file_object(name);
        if (db && db->base.pMethods == &methods_v3) {
            f->is_wal = 1;
            f->db = db;
            db->wal = f;
        }
    }
    return rc;
}

/* The rest is the default VFS's, called with its own handle. */
static int k_delete(sqlite3_vfs *self, const char *name, int sync_dir)
{
    (void)self;
    return root()->xDelete(root(), name, sync_dir);
}

static int k_access(sqlite3_vfs *self, const char *name, int flags, int *out)
{
    (void)self;
    return root()->xAccess(root(), name, flags, out);
}

static int k_full_pathname(sqlite3_vfs *self, const char *name, int n, char *out)
{
    (void)self;
    return root()->xFullPathname(root(), name, n, out);
}

static int k_randomness(sqlite3_vfs *self, int n, char *out)
{
    (void)self;
    return root()->xRandomness(root(), n, out);
}

static int k_sleep(sqlite3_vfs *self, int us)
{
    (void)self;
    return root()->xSleep(root(), us);
}

static int k_current_time(sqlite3_vfs *self, double *out)
{
    (void)self;
    return root()->xCurrentTime(root(), out);
}

static int k_last_error(sqlite3_vfs *self, int n, char *out)
{
    (void)self;
    return root()->xGetLastError ? root()->xGetLastError(root(), n, out) : 0;
}

static int k_current_time64(sqlite3_vfs *self, sqlite3_int64 *out)
{
    (void)self;
    return root()->xCurrentTimeInt64(root(), out);
}

static void vfs_register(void)
{
    sqlite3_vfs *r = sqlite3_vfs_find(NULL);
    if (!r || r->iVersion < 2 || !r->xCurrentTimeInt64) {
        kh_error("store: sqlite: the default VFS is too old; WAL writes are not coalesced");
        return;
    }
    vfs.iVersion = 2;
    vfs.szOsFile = (int)(REAL_OFFSET + (size_t)r->szOsFile);
    vfs.mxPathname = r->mxPathname;
    vfs.zName = VFS_NAME;
    vfs.pAppData = r;
    vfs.xOpen = k_open;
    vfs.xDelete = k_delete;
    vfs.xAccess = k_access;
    vfs.xFullPathname = k_full_pathname;
    vfs.xRandomness = k_randomness;
    vfs.xSleep = k_sleep;
    vfs.xCurrentTime = k_current_time;
    vfs.xGetLastError = k_last_error;
    vfs.xCurrentTimeInt64 = k_current_time64;
    int rc = sqlite3_vfs_register(&vfs, 0);
    if (rc != SQLITE_OK) {
        kh_error("store: sqlite: cannot register the VFS: %s", sqlite3_errstr(rc));
        return;
    }
    vfs_ok = 1;
}

const char *sq_vfs_name(void)
{
    pthread_once(&vfs_once, vfs_register);
    return vfs_ok ? VFS_NAME : NULL;
}

void sq_vfs_stats(uint64_t *appends, uint64_t *flushes)
{
    *appends = atomic_load_explicit(&n_appends, memory_order_relaxed);
    *flushes = atomic_load_explicit(&n_flushes, memory_order_relaxed);
}
