/*
 * masterkey.c - load or create the master key file.
 *
 * The master key wraps every realm key; whoever reads this file and the
 * database reads everything. So the file must be private to the server's
 * user (no group/other bits at all), its hex text is wiped as soon as it is
 * decoded, and a new file is created with O_EXCL so two servers starting at
 * once cannot each write a different key. This file does not rotate keys.
 */
#include "crypto/masterkey.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/rand.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_LEN 32
#define HEX_LEN (2 * KEY_LEN)
/* 64 hex digits, an optional newline, and one byte to detect more. */
#define READ_MAX (HEX_LEN + 2)

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static kh_err decode_hex(const char *text, size_t len, kh_secbuf **out)
{
    if (len == HEX_LEN + 1 && text[HEX_LEN] == '\n')
        len = HEX_LEN;
    if (len != HEX_LEN)
        return KH_ERR_CONFIG;
    kh_secbuf *key = kh_secbuf_new(KEY_LEN);
    for (size_t i = 0; i < KEY_LEN; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            kh_secbuf_free(&key);
            return KH_ERR_CONFIG;
        }
        key->data[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = key;
    return KH_OK;
}

static kh_err read_all(int fd, char *buf, size_t cap, size_t *len)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return KH_ERR_IO;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *len = got;
    return KH_OK;
}

static kh_err load_fd(int fd, const char *path, kh_secbuf **out)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        kh_error("master key: cannot stat %s: %s", path, strerror(errno));
        return KH_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        kh_error("master key: %s is not a regular file", path);
        return KH_ERR_CONFIG;
    }
    if (st.st_mode & 077) {
        kh_error("master key: %s has mode %04o; refusing a key that group or other can "
                 "access (chmod 600 it)",
                 path, (unsigned)(st.st_mode & 07777));
        return KH_ERR_CONFIG;
    }
    char text[READ_MAX];
    size_t len = 0;
    kh_err err = read_all(fd, text, sizeof(text), &len);
    if (err == KH_OK)
        err = decode_hex(text, len, out);
    kh_wipe(text, sizeof(text));
    if (err == KH_ERR_IO)
        kh_error("master key: cannot read %s: %s", path, strerror(errno));
    else if (err == KH_ERR_CONFIG)
        kh_error("master key: %s must hold exactly 64 hex digits", path);
    return err;
}

static kh_err write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return KH_ERR_IO;
        p += n;
        len -= (size_t)n;
    }
    return KH_OK;
}

/* Make the new directory entry durable too, not only the file content. */
static void fsync_parent(const char *path)
{
    char dir[PATH_MAX] = ".";
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path); /* "/key" is in "/" */
        if (n >= sizeof(dir))
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

static kh_err write_new_key(int fd, kh_secbuf **out)
{
    static const char hexd[] = "0123456789abcdef";
    kh_secbuf *key = kh_secbuf_new(KEY_LEN);
    char text[HEX_LEN + 1];
    kh_err err = kh_random_secret(key->data, KEY_LEN);
    if (err == KH_OK) {
        for (size_t i = 0; i < KEY_LEN; i++) {
            text[2 * i] = hexd[key->data[i] >> 4];
            text[2 * i + 1] = hexd[key->data[i] & 0x0f];
        }
        text[HEX_LEN] = '\n';
        err = write_all(fd, text, sizeof(text));
        if (err == KH_OK && fsync(fd) != 0)
            err = KH_ERR_IO;
    }
    kh_wipe(text, sizeof(text));
    if (err != KH_OK)
        kh_secbuf_free(&key);
    else
        *out = key;
    return err;
}

static kh_err create_key(const char *path, kh_secbuf **out)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST)
        return KH_ERR_EXISTS;
    if (fd < 0) {
        kh_error("master key: cannot create %s: %s", path, strerror(errno));
        return KH_ERR_IO;
    }
    kh_secbuf *key = NULL;
    kh_err err = write_new_key(fd, &key);
    int saved = errno;
    if (close(fd) != 0 && err == KH_OK) {
        saved = errno;
        err = KH_ERR_IO;
    }
    if (err != KH_OK) {
        kh_error("master key: cannot write %s: %s", path, strerror(saved));
        kh_secbuf_free(&key);
        unlink(path);
        return err;
    }
    fsync_parent(path);
    kh_info("master key: created %s", path);
    *out = key;
    return KH_OK;
}

kh_err kh_master_key_load(const char *path, kh_secbuf **out, bool *created)
{
    if (!path || !*path || !out)
        return KH_ERR_INVALID_ARG;
    /* Two tries: if another process creates the file between our failed
     * open and our O_EXCL create, we load the key it wrote. */
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            kh_err err = load_fd(fd, path, out);
            close(fd);
            if (err == KH_OK && created)
                *created = false;
            return err;
        }
        if (errno != ENOENT) {
            kh_error("master key: cannot open %s: %s", path, strerror(errno));
            return KH_ERR_IO;
        }
        kh_err err = create_key(path, out);
        if (err == KH_OK && created)
            *created = true;
        if (err != KH_ERR_EXISTS)
            return err;
    }
    kh_error("master key: %s keeps appearing and vanishing (dangling symlink?)", path);
    return KH_ERR_IO;
}
