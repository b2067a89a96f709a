/*
 * ttlv.c - the KMIP TTLV item tree, its builders and its binary codec.
 *
 * This file knows the wire shape of an item (tag, type, length, value padded
 * to 8 bytes) and nothing of what the tags mean: message structure belongs
 * to kmip.c. The decoder is the first thing that touches bytes from the
 * network, so it is strict and bounded: every length is checked against what
 * is left of the buffer before it is used, the whole message is checked
 * against max_message before anything is allocated, and recursion goes no
 * deeper than max_depth structures.
 */
#include "proto/ttlv.h"

#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

const kh_ttlv_limits kh_ttlv_default_limits = {
    .max_message = 1024 * 1024,
    .max_depth = 32,
    .max_items = 65536,
};

/* ---- builders ---------------------------------------------------------- */

static kh_ttlv *node_new(uint32_t tag, uint8_t type)
{
    kh_ttlv *t = kh_xcalloc(1, sizeof(*t));
    t->tag = tag;
    t->type = type;
    return t;
}

bool kh_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t more;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            more = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            more = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* no overlong forms, no surrogates, nothing past U+10FFFF */
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

/* Copies n bytes and adds a NUL after them, so that text is a C string and
 * every value, even an empty one, has a non-NULL data pointer. */
static void set_bytes(kh_ttlv *t, const uint8_t *p, size_t n)
{
    if (n == SIZE_MAX)
        kh_oom();
    t->data = kh_xmalloc(n + 1);
    if (n)
        memcpy(t->data, p, n);
    t->data[n] = 0;
    t->len = n;
}

kh_ttlv *kh_ttlv_new_struct(uint32_t tag)
{
    return node_new(tag, KH_TTLV_STRUCTURE);
}

kh_ttlv *kh_ttlv_new_int(uint32_t tag, int32_t v)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_INTEGER);
    t->num = v;
    return t;
}

kh_ttlv *kh_ttlv_new_long(uint32_t tag, int64_t v)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_LONG_INTEGER);
    t->num = v;
    return t;
}

kh_ttlv *kh_ttlv_new_enum(uint32_t tag, uint32_t v)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_ENUMERATION);
    t->num = v;
    return t;
}

kh_ttlv *kh_ttlv_new_bool(uint32_t tag, bool v)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_BOOLEAN);
    t->num = v ? 1 : 0;
    return t;
}

kh_ttlv *kh_ttlv_new_text(uint32_t tag, const char *s)
{
    return kh_ttlv_new_text_n(tag, s, s ? strlen(s) : 0);
}

kh_ttlv *kh_ttlv_new_text_n(uint32_t tag, const char *s, size_t n)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_TEXT_STRING);
    set_bytes(t, (const uint8_t *)s, n);
    return t;
}

kh_ttlv *kh_ttlv_new_bytes(uint32_t tag, const uint8_t *p, size_t n)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_BYTE_STRING);
    set_bytes(t, p, n);
    return t;
}

/* The header asks for n % 8 == 0. Rather than emit an item the decoder would
 * refuse, a shorter value is sign-extended on the left (big-endian two's
 * complement), which keeps its numeric value. */
kh_ttlv *kh_ttlv_new_bigint(uint32_t tag, const uint8_t *p, size_t n)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_BIG_INTEGER);
    size_t ext = (8 - n % 8) % 8;
    if (n > SIZE_MAX - 8)
        kh_oom();
    t->data = kh_xmalloc(n + ext + 1);
    memset(t->data, (n && (p[0] & 0x80)) ? 0xFF : 0x00, ext);
    if (n)
        memcpy(t->data + ext, p, n);
    t->len = n + ext;
    t->data[t->len] = 0;
    return t;
}

kh_ttlv *kh_ttlv_new_datetime(uint32_t tag, int64_t unix_seconds)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_DATE_TIME);
    t->num = unix_seconds;
    return t;
}

kh_ttlv *kh_ttlv_new_datetime_ext(uint32_t tag, int64_t unix_micros)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_DATE_TIME_EXTENDED);
    t->num = unix_micros;
    return t;
}

kh_ttlv *kh_ttlv_new_interval(uint32_t tag, uint32_t seconds)
{
    kh_ttlv *t = node_new(tag, KH_TTLV_INTERVAL);
    t->num = seconds;
    return t;
}

static bool has_bytes(uint8_t type)
{
    return type == KH_TTLV_TEXT_STRING || type == KH_TTLV_BYTE_STRING ||
           type == KH_TTLV_BIG_INTEGER;
}

kh_ttlv *kh_ttlv_dup(const kh_ttlv *t)
{
    if (!t)
        return NULL;
    kh_ttlv *c = node_new(t->tag, t->type);
    c->num = t->num;
    if (has_bytes(t->type))
        set_bytes(c, t->data, t->len);
    for (size_t i = 0; i < t->nkids; i++)
        kh_ttlv_add_take(c, kh_ttlv_dup(t->kids[i]));
    return c;
}

/* ---- structure access -------------------------------------------------- */

kh_ttlv *kh_ttlv_add_take(kh_ttlv *parent, kh_ttlv *child)
{
    if (parent->nkids == parent->capkids) {
        size_t cap = parent->capkids ? parent->capkids * 2 : 4;
        if (cap > SIZE_MAX / sizeof(*parent->kids))
            kh_oom();
        parent->kids = kh_xrealloc(parent->kids, cap * sizeof(*parent->kids));
        parent->capkids = cap;
    }
    parent->kids[parent->nkids++] = child;
    return child;
}

void kh_ttlv_remove(kh_ttlv *parent, size_t i)
{
    if (!parent || i >= parent->nkids)
        return;
    kh_ttlv_free(&parent->kids[i]);
    memmove(&parent->kids[i], &parent->kids[i + 1],
            (parent->nkids - i - 1) * sizeof(*parent->kids));
    parent->nkids--;
}

kh_ttlv *kh_ttlv_find_nth(const kh_ttlv *parent, uint32_t tag, size_t n)
{
    if (!parent)
        return NULL;
    for (size_t i = 0; i < parent->nkids; i++) {
        if (parent->kids[i]->tag == tag && n-- == 0)
            return parent->kids[i];
    }
    return NULL;
}

kh_ttlv *kh_ttlv_find(const kh_ttlv *parent, uint32_t tag)
{
    return kh_ttlv_find_nth(parent, tag, 0);
}

size_t kh_ttlv_count(const kh_ttlv *parent, uint32_t tag)
{
    size_t n = 0;
    for (size_t i = 0; parent && i < parent->nkids; i++)
        n += parent->kids[i]->tag == tag;
    return n;
}

static kh_err find_typed(const kh_ttlv *parent, uint32_t tag, uint8_t type, const kh_ttlv **out)
{
    const kh_ttlv *t = kh_ttlv_find(parent, tag);
    if (!t)
        return KH_ERR_MISSING_DATA;
    if (t->type != type)
        return KH_ERR_INVALID_FIELD;
    *out = t;
    return KH_OK;
}

kh_err kh_ttlv_get_enum(const kh_ttlv *parent, uint32_t tag, uint32_t *out)
{
    const kh_ttlv *t = NULL;
    kh_err err = find_typed(parent, tag, KH_TTLV_ENUMERATION, &t);
    if (err == KH_OK)
        *out = (uint32_t)t->num;
    return err;
}

kh_err kh_ttlv_get_int(const kh_ttlv *parent, uint32_t tag, int32_t *out)
{
    const kh_ttlv *t = NULL;
    kh_err err = find_typed(parent, tag, KH_TTLV_INTEGER, &t);
    if (err == KH_OK)
        *out = (int32_t)t->num;
    return err;
}

kh_err kh_ttlv_get_text(const kh_ttlv *parent, uint32_t tag, const char **out)
{
    const kh_ttlv *t = NULL;
    kh_err err = find_typed(parent, tag, KH_TTLV_TEXT_STRING, &t);
    if (err == KH_OK)
        *out = (const char *)t->data;
    return err;
}

void kh_ttlv_free(kh_ttlv **tp)
{
    if (!tp || !*tp)
        return;
    kh_ttlv *t = *tp;
    for (size_t i = 0; i < t->nkids; i++)
        kh_ttlv_free(&t->kids[i]);
    free(t->kids);
    if (t->data) {
        /* Only text is promised a terminator; a hand-set byte value may not
         * own the byte after its end. */
        kh_wipe(t->data, t->len + (t->type == KH_TTLV_TEXT_STRING));
        free(t->data);
    }
    kh_wipe(t, sizeof(*t));
    free(t);
    *tp = NULL;
}

/* The value an item puts on the wire, so that equality agrees with encoding
 * even when num was set by hand outside the type's range. */
static uint64_t wire_num(const kh_ttlv *t)
{
    switch (t->type) {
    case KH_TTLV_INTEGER:
    case KH_TTLV_ENUMERATION:
    case KH_TTLV_INTERVAL:
        return (uint32_t)t->num;
    case KH_TTLV_BOOLEAN:
        return t->num != 0;
    default:
        return (uint64_t)t->num;
    }
}

bool kh_ttlv_equal(const kh_ttlv *a, const kh_ttlv *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->tag != b->tag || a->type != b->type)
        return false;
    if (a->type == KH_TTLV_STRUCTURE) {
        if (a->nkids != b->nkids)
            return false;
        for (size_t i = 0; i < a->nkids; i++) {
            if (!kh_ttlv_equal(a->kids[i], b->kids[i]))
                return false;
        }
        return true;
    }
    if (has_bytes(a->type))
        return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
    return wire_num(a) == wire_num(b);
}

/* ---- encoding ---------------------------------------------------------- */

static const uint8_t zeros[8];

static void put_header(kh_buf *out, const kh_ttlv *t, uint32_t len)
{
    kh_buf_append_be32(out, (t->tag & 0xFFFFFFu) << 8 | t->type);
    kh_buf_append_be32(out, len);
}

/* An item of 4 GiB cannot come from a bounded request; reaching this is a
 * bug in the caller, and a truncated length on the wire would be worse. */
static uint32_t wire_len(size_t n)
{
    if (n > UINT32_MAX)
        abort();
    return (uint32_t)n;
}

static void put_bytes(kh_buf *out, const kh_ttlv *t)
{
    put_header(out, t, wire_len(t->len));
    kh_buf_append(out, t->data, t->len);
    kh_buf_append(out, zeros, (8 - t->len % 8) % 8);
}

static void put_struct(kh_buf *out, const kh_ttlv *t)
{
    size_t start = out->len;
    put_header(out, t, 0);
    for (size_t i = 0; i < t->nkids; i++)
        kh_ttlv_encode(t->kids[i], out);
    uint32_t len = wire_len(out->len - start - KH_TTLV_HEADER_LEN);
    uint8_t *p = out->data + start + 4;
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
}

void kh_ttlv_encode(const kh_ttlv *t, kh_buf *out)
{
    switch (t->type) {
    case KH_TTLV_STRUCTURE:
        put_struct(out, t);
        break;
    case KH_TTLV_INTEGER:
    case KH_TTLV_ENUMERATION:
    case KH_TTLV_INTERVAL:
        put_header(out, t, 4);
        kh_buf_append_be32(out, (uint32_t)wire_num(t));
        kh_buf_append(out, zeros, 4);
        break;
    case KH_TTLV_TEXT_STRING:
    case KH_TTLV_BYTE_STRING:
    case KH_TTLV_BIG_INTEGER:
        put_bytes(out, t);
        break;
    default: /* LongInteger, Boolean, DateTime, DateTimeExtended */
        put_header(out, t, 8);
        kh_buf_append_be64(out, wire_num(t));
        break;
    }
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct decoder {
    const kh_ttlv_limits *lim;
    size_t items;
} decoder;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static bool tag_ok(const uint8_t *hdr)
{
    return hdr[0] == 0x42 || hdr[0] == 0x54;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* Whether len is acceptable for type; false for unknown types. */
static bool len_ok(uint8_t type, uint32_t len)
{
    switch (type) {
    case KH_TTLV_STRUCTURE:
    case KH_TTLV_BIG_INTEGER:
        return len % 8 == 0;
    case KH_TTLV_INTEGER:
    case KH_TTLV_ENUMERATION:
    case KH_TTLV_INTERVAL:
        return len == 4;
    case KH_TTLV_LONG_INTEGER:
    case KH_TTLV_BOOLEAN:
    case KH_TTLV_DATE_TIME:
    case KH_TTLV_DATE_TIME_EXTENDED:
        return len == 8;
    case KH_TTLV_TEXT_STRING:
    case KH_TTLV_BYTE_STRING:
        return true;
    default:
        return false;
    }
}

/* A fixed-size or string value v of len bytes (padding already checked). */
static kh_err decode_value(kh_ttlv *t, const uint8_t *v, uint32_t len)
{
    switch (t->type) {
    case KH_TTLV_INTEGER:
        t->num = (int32_t)be32(v);
        break;
    case KH_TTLV_ENUMERATION:
    case KH_TTLV_INTERVAL:
        t->num = be32(v);
        break;
    case KH_TTLV_BOOLEAN:
        if (be64(v) > 1)
            return KH_ERR_DECODE;
        t->num = (int64_t)be64(v);
        break;
    case KH_TTLV_TEXT_STRING:
        /* KMIP text is UTF-8 (and every store must keep it the same way);
         * it is handed on as a C string, so an embedded NUL would cut it. */
        if (memchr(v, 0, len) || !kh_utf8_valid(v, len))
            return KH_ERR_DECODE;
        set_bytes(t, v, len);
        break;
    case KH_TTLV_BYTE_STRING:
    case KH_TTLV_BIG_INTEGER:
        set_bytes(t, v, len);
        break;
    default: /* LongInteger, DateTime, DateTimeExtended */
        t->num = (int64_t)be64(v);
        break;
    }
    return KH_OK;
}

static kh_err decode_item(decoder *d, const uint8_t *p, size_t avail, unsigned depth, kh_ttlv **out,
                          size_t *used);

/* Children of a structure must exactly fill its len bytes at v. */
static kh_err decode_kids(decoder *d, kh_ttlv *t, const uint8_t *v, size_t len, unsigned depth)
{
    size_t off = 0;
    while (off < len) {
        kh_ttlv *kid = NULL;
        size_t used = 0;
        kh_err err = decode_item(d, v + off, len - off, depth + 1, &kid, &used);
        if (err != KH_OK)
            return err;
        kh_ttlv_add_take(t, kid);
        off += used;
    }
    return KH_OK;
}

/*
 * One item at p, with avail bytes left in the enclosing value. depth is the
 * number of structures around this item; recursion is bounded by max_depth
 * because a structure deeper than that is refused before its children are
 * read. On success *used is the item's size including padding.
 */
static kh_err decode_item(decoder *d, const uint8_t *p, size_t avail, unsigned depth, kh_ttlv **out,
                          size_t *used)
{
    if (avail < KH_TTLV_HEADER_LEN || !tag_ok(p) || !len_ok(p[3], be32(p + 4)))
        return KH_ERR_DECODE;
    if (++d->items > d->lim->max_items)
        return KH_ERR_TOO_LARGE;
    if (p[3] == KH_TTLV_STRUCTURE && depth >= d->lim->max_depth)
        return KH_ERR_TOO_DEEP;
    uint32_t len = be32(p + 4);
    /* In 64 bits: len + 7 cannot wrap, whatever size_t is. */
    uint64_t padded = ((uint64_t)len + 7) & ~(uint64_t)7;
    if (padded > avail - KH_TTLV_HEADER_LEN)
        return KH_ERR_DECODE;
    const uint8_t *v = p + KH_TTLV_HEADER_LEN;
    if (!all_zero(v + len, (size_t)padded - len))
        return KH_ERR_DECODE;

    kh_ttlv *t = node_new(be32(p) >> 8, p[3]);
    kh_err err =
        t->type == KH_TTLV_STRUCTURE ? decode_kids(d, t, v, len, depth) : decode_value(t, v, len);
    if (err != KH_OK) {
        kh_ttlv_free(&t);
        return err;
    }
    *out = t;
    *used = KH_TTLV_HEADER_LEN + (size_t)padded;
    return KH_OK;
}

kh_err kh_ttlv_decode(const uint8_t *buf, size_t len, const kh_ttlv_limits *lim, kh_ttlv **out)
{
    if (!lim)
        lim = &kh_ttlv_default_limits;
    if (len > lim->max_message)
        return KH_ERR_TOO_LARGE;
    if (!buf || len < KH_TTLV_HEADER_LEN)
        return KH_ERR_DECODE;
    /* A header that promises more than we would ever accept is refused as
     * too large, even if the bytes that arrived are few. */
    if (KH_TTLV_HEADER_LEN + (uint64_t)be32(buf + 4) > lim->max_message)
        return KH_ERR_TOO_LARGE;

    decoder d = {.lim = lim, .items = 0};
    kh_ttlv *t = NULL;
    size_t used = 0;
    kh_err err = decode_item(&d, buf, len, 0, &t, &used);
    if (err != KH_OK)
        return err;
    if (used != len) {
        kh_ttlv_free(&t);
        return KH_ERR_DECODE;
    }
    *out = t;
    return KH_OK;
}

kh_err kh_ttlv_frame_len(const uint8_t hdr[KH_TTLV_HEADER_LEN], size_t max, size_t *total)
{
    if (!tag_ok(hdr) || hdr[3] != KH_TTLV_STRUCTURE)
        return KH_ERR_DECODE;
    uint32_t len = be32(hdr + 4);
    uint64_t n = KH_TTLV_HEADER_LEN + (uint64_t)len;
    if (n > max)
        return KH_ERR_TOO_LARGE;
    if (len % 8 != 0)
        return KH_ERR_DECODE;
    *total = (size_t)n;
    return KH_OK;
}
