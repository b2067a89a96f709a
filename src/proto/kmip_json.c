/*
 * kmip_json.c - JSON TTLV <-> kh_ttlv (see kmip_json.h for the value forms).
 *
 * Parsing is jansson's (its parser bounds nesting at 2048 by itself); this
 * file walks the parsed value with its own depth and item bounds, and
 * writes JSON by hand so that values (maybe key material, as hex) live only
 * in kh_bufs, which are wiped. What it is not for: HTTP, or the meaning of
 * a message (http_routes.c builds the request and calls kh_kmip_handle).
 */
#include "proto/kmip_json.h"

#include "common/mem.h"
#include "proto/kmip_names.h"

#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- jansson allocation ----------------------------------------------- */

static void wiping_free(void *p)
{
    if (p)
        kh_wipe_free(p, malloc_usable_size(p));
}

static void set_allocator(void)
{
    json_set_alloc_funcs(malloc, wiping_free);
}

json_t *kh_kmip_json_parse(const char *json, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_allocator);
    json_error_t e;
    return json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
}

/* ---- decoding --------------------------------------------------------- */

typedef struct dctx {
    size_t items;
    unsigned path[40]; /* index in each enclosing Structure, for messages */
    unsigned depth;
    char *detail;
} dctx;

__attribute__((format(printf, 3, 4))) static kh_err fail(dctx *d, kh_err err, const char *fmt, ...)
{
    if (!d->detail)
        return err;
    char where[96] = "";
    size_t k = 0;
    for (unsigned i = 0; i < d->depth && i < 40 && k + 16 < sizeof(where); i++)
        k += (size_t)snprintf(where + k, sizeof(where) - k, "/value/%u", d->path[i]);
    char what[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* truncation is fine here: the detail is a hint, bounded on purpose */
    if (snprintf(d->detail, KH_KMIP_JSON_DETAIL_MAX, "JSON TTLV at %s: %s", k ? where : "/", what) <
        0)
        d->detail[0] = '\0';
    return err;
}

static const char *const type_names[] = {
    [KH_TTLV_STRUCTURE] = "Structure",
    [KH_TTLV_INTEGER] = "Integer",
    [KH_TTLV_LONG_INTEGER] = "LongInteger",
    [KH_TTLV_BIG_INTEGER] = "BigInteger",
    [KH_TTLV_ENUMERATION] = "Enumeration",
    [KH_TTLV_BOOLEAN] = "Boolean",
    [KH_TTLV_TEXT_STRING] = "TextString",
    [KH_TTLV_BYTE_STRING] = "ByteString",
    [KH_TTLV_DATE_TIME] = "DateTime",
    [KH_TTLV_INTERVAL] = "Interval",
    [KH_TTLV_DATE_TIME_EXTENDED] = "DateTimeExtended",
};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

static int type_of(const char *name)
{
    for (size_t i = 1; i < NTYPES; i++)
        if (type_names[i] && strcmp(type_names[i], name) == 0)
            return (int)i;
    return 0;
}

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

/* "0x" + 1..maxdigits hex digits -> *v. */
static int parse_hex_u64(const char *s, size_t len, size_t maxdigits, uint64_t *v)
{
    if (len < 3 || len - 2 > maxdigits || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return 0;
    uint64_t n = 0;
    for (size_t i = 2; i < len; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return 0;
        n = n << 4 | (uint64_t)h;
    }
    *v = n;
    return 1;
}

/* Hex digits (no prefix; odd counts get a leading 0) -> bytes in out. */
static int parse_hex_bytes(const char *s, size_t len, kh_buf *out)
{
    size_t i = 0;
    kh_buf_reserve(out, len / 2 + 1);
    if (len % 2) {
        int lo = hexval(s[0]);
        if (lo < 0)
            return 0;
        kh_buf_append_u8(out, (uint8_t)lo);
        i = 1;
    }
    for (; i < len; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        kh_buf_append_u8(out, (uint8_t)(hi << 4 | lo));
    }
    return 1;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned mp = m > 2 ? m - 3 : m + 9; /* March = 0 */
    const unsigned doy = (153 * mp + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* ISO 8601 / RFC 3339: YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM) ->
 * unix microseconds. */
static int parse_iso8601(const char *s, size_t len, int64_t *micros)
{
    int Y, M, D, h, m, sec, oh = 0, om = 0, frac = 0;
    if (len < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
        !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return 0;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        int n = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
            if (n < 6)
                frac = frac * 10 + (s[i] - '0');
        if (n == 0 || n > 6)
            return 0;
        for (; n < 6; n++)
            frac *= 10;
    }
    int sign = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) &&
               s[i + 3] == ':' && digits(s + i + 4, 2, &om)) {
        sign = s[i] == '+' ? 1 : -1;
        i += 6;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (i != len || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60 ||
        oh > 23 || om > 59)
        return 0;
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return 0;
    int64_t t = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec;
    t -= sign * (oh * 3600 + om * 60);
    *micros = t * 1000000 + frac;
    return 1;
}

static kh_err decode_item(dctx *d, const json_t *j, uint32_t tag_override, unsigned depth,
                          kh_ttlv **out);

static kh_err decode_struct(dctx *d, uint32_t tag, const json_t *v, unsigned depth, kh_ttlv **out)
{
    if (!json_is_array(v))
        return fail(d, KH_ERR_DECODE, "a Structure's value must be an array");
    if (depth >= kh_ttlv_default_limits.max_depth)
        return fail(d, KH_ERR_TOO_DEEP, "nested too deeply");
    kh_ttlv *s = kh_ttlv_new_struct(tag);
    kh_err err = KH_OK;
    for (size_t i = 0; i < json_array_size(v) && err == KH_OK; i++) {
        kh_ttlv *kid = NULL;
        if (d->depth < 40)
            d->path[d->depth] = (unsigned)i;
        d->depth++;
        err = decode_item(d, json_array_get(v, i), 0, depth + 1, &kid);
        if (err == KH_OK) {
            d->depth--;
            kh_ttlv_add_take(s, kid);
        }
    }
    if (err != KH_OK)
        kh_ttlv_free(&s);
    *out = s;
    return err;
}

/* Integer-like values: a JSON integer in [lo, hi], or "0x" hex of at most
 * maxdigits digits (taken as the two's complement bit pattern). */
static int number_or_hex(const json_t *v, int64_t lo, int64_t hi, size_t maxdigits, int64_t *n)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < lo || x > hi)
            return 0;
        *n = (int64_t)x;
        return 1;
    }
    uint64_t u;
    if (!json_is_string(v) ||
        !parse_hex_u64(json_string_value(v), json_string_length(v), maxdigits, &u))
        return 0;
    *n = (int64_t)u;
    return 1;
}

static kh_err decode_bytes(dctx *d, uint32_t tag, int type, const json_t *v, kh_ttlv **out)
{
    kh_buf b = {0};
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    int ok;
    if (type == KH_TTLV_BYTE_STRING) {
        ok = json_is_string(v) && len % 2 == 0 && parse_hex_bytes(s, len, &b);
    } else if (json_is_integer(v)) { /* BigInteger given as a number */
        int64_t n = (int64_t)json_integer_value(v);
        kh_buf_append_be64(&b, (uint64_t)n);
        ok = 1;
    } else {
        ok = json_is_string(v) && len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
             parse_hex_bytes(s + 2, len - 2, &b);
    }
    if (ok)
        *out = type == KH_TTLV_BYTE_STRING ? kh_ttlv_new_bytes(tag, b.data, b.len)
                                           : kh_ttlv_new_bigint(tag, b.data, b.len);
    kh_buf_free(&b);
    return ok ? KH_OK
              : fail(d, KH_ERR_DECODE, "%s value must be %s", type_names[type],
                     type == KH_TTLV_BYTE_STRING ? "hex" : "\"0x\" hex");
}

static kh_err decode_time(dctx *d, uint32_t tag, int type, const json_t *v, kh_ttlv **out)
{
    int64_t micros;
    if (json_is_integer(v)) {
        int64_t n = (int64_t)json_integer_value(v);
        *out = type == KH_TTLV_DATE_TIME ? kh_ttlv_new_datetime(tag, n)
                                         : kh_ttlv_new_datetime_ext(tag, n);
        return KH_OK;
    }
    if (!json_is_string(v) || !parse_iso8601(json_string_value(v), json_string_length(v), &micros))
        return fail(d, KH_ERR_DECODE, "%s value must be ISO 8601 or a number", type_names[type]);
    if (type == KH_TTLV_DATE_TIME && micros % 1000000 != 0)
        return fail(d, KH_ERR_DECODE, "DateTime has no fractional seconds");
    *out = type == KH_TTLV_DATE_TIME ? kh_ttlv_new_datetime(tag, micros / 1000000)
                                     : kh_ttlv_new_datetime_ext(tag, micros);
    return KH_OK;
}

static kh_err decode_enum(dctx *d, uint32_t tag, const json_t *v, kh_ttlv **out)
{
    int64_t n;
    uint32_t e;
    if (json_is_string(v) &&
        kh_kmip_enum_by_name(tag, json_string_value(v), json_string_length(v), &e)) {
        *out = kh_ttlv_new_enum(tag, e);
        return KH_OK;
    }
    if (!number_or_hex(v, 0, UINT32_MAX, 8, &n))
        return fail(d, KH_ERR_DECODE, "unknown Enumeration value");
    *out = kh_ttlv_new_enum(tag, (uint32_t)n);
    return KH_OK;
}

static kh_err decode_value(dctx *d, uint32_t tag, int type, const json_t *v, unsigned depth,
                           kh_ttlv **out)
{
    int64_t n;
    switch (type) {
    case KH_TTLV_STRUCTURE:
        return decode_struct(d, tag, v, depth, out);
    case KH_TTLV_INTEGER:
        if (!number_or_hex(v, INT32_MIN, INT32_MAX, 8, &n))
            return fail(d, KH_ERR_DECODE, "Integer value out of range");
        *out = kh_ttlv_new_int(tag, (int32_t)(uint32_t)n);
        return KH_OK;
    case KH_TTLV_LONG_INTEGER:
        if (!number_or_hex(v, INT64_MIN, INT64_MAX, 16, &n))
            return fail(d, KH_ERR_DECODE, "LongInteger value must be \"0x\" hex or a number");
        *out = kh_ttlv_new_long(tag, n);
        return KH_OK;
    case KH_TTLV_INTERVAL:
        if (!number_or_hex(v, 0, UINT32_MAX, 8, &n))
            return fail(d, KH_ERR_DECODE, "Interval value out of range");
        *out = kh_ttlv_new_interval(tag, (uint32_t)n);
        return KH_OK;
    case KH_TTLV_ENUMERATION:
        return decode_enum(d, tag, v, out);
    case KH_TTLV_BOOLEAN:
        if (!json_is_boolean(v))
            return fail(d, KH_ERR_DECODE, "Boolean value must be true or false");
        *out = kh_ttlv_new_bool(tag, json_is_true(v));
        return KH_OK;
    case KH_TTLV_TEXT_STRING:
        if (!json_is_string(v))
            return fail(d, KH_ERR_DECODE, "TextString value must be a string");
        *out = kh_ttlv_new_text_n(tag, json_string_value(v), json_string_length(v));
        return KH_OK;
    case KH_TTLV_BYTE_STRING:
    case KH_TTLV_BIG_INTEGER:
        return decode_bytes(d, tag, type, v, out);
    default:
        return decode_time(d, tag, type, v, out);
    }
}

static kh_err decode_tag(dctx *d, const json_t *t, uint32_t *tag)
{
    uint64_t u;
    const char *s = json_string_value(t);
    size_t len = json_string_length(t);
    if (!json_is_string(t))
        return fail(d, KH_ERR_DECODE, "\"tag\" must be a string");
    if (kh_kmip_tag_by_name(s, len, tag))
        return KH_OK;
    if (len == 8 && parse_hex_u64(s, len, 6, &u)) {
        *tag = (uint32_t)u;
        return KH_OK;
    }
    return fail(d, KH_ERR_DECODE, "unknown tag");
}

static kh_err decode_item(dctx *d, const json_t *j, uint32_t tag_override, unsigned depth,
                          kh_ttlv **out)
{
    if (!json_is_object(j))
        return fail(d, KH_ERR_DECODE, "an item must be an object");
    if (++d->items > kh_ttlv_default_limits.max_items)
        return fail(d, KH_ERR_TOO_LARGE, "too many items");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val)
    {
        if (strcmp(key, "tag") != 0 && strcmp(key, "type") != 0 && strcmp(key, "value") != 0)
            return fail(d, KH_ERR_DECODE, "unexpected key in an item");
    }
    const json_t *jt = json_object_get(j, "tag"), *jy = json_object_get(j, "type");
    const json_t *jv = json_object_get(j, "value");
    uint32_t tag = tag_override;
    kh_err err = KH_OK;
    if (!tag && (!jt || (err = decode_tag(d, jt, &tag)) != KH_OK))
        return jt ? err : fail(d, KH_ERR_DECODE, "an item needs a \"tag\"");
    int type = KH_TTLV_STRUCTURE;
    if (jy && !(json_is_string(jy) && (type = type_of(json_string_value(jy))) != 0))
        return fail(d, KH_ERR_DECODE, "unknown \"type\"");
    if (!jv)
        return fail(d, KH_ERR_DECODE, "an item needs a \"value\"");
    if (!jy && !json_is_array(jv))
        return fail(d, KH_ERR_DECODE, "an item needs a \"type\"");
    return decode_value(d, tag, type, jv, depth, out);
}

kh_err kh_kmip_json_from_value(const json_t *value, uint32_t tag_override, kh_ttlv **out,
                               char detail[KH_KMIP_JSON_DETAIL_MAX])
{
    dctx d = {0};
    d.detail = detail;
    kh_ttlv *t = NULL;
    kh_err err = decode_item(&d, value, tag_override, 0, &t);
    if (err != KH_OK) {
        kh_ttlv_free(&t);
        return err;
    }
    *out = t;
    return KH_OK;
}

kh_err kh_kmip_json_decode(const char *json, size_t len, kh_ttlv **out,
                           char detail[KH_KMIP_JSON_DETAIL_MAX])
{
    json_t *root = kh_kmip_json_parse(json, len);
    if (!root) {
        if (detail)
            snprintf(detail, KH_KMIP_JSON_DETAIL_MAX, "not JSON");
        return KH_ERR_DECODE;
    }
    kh_err err = kh_kmip_json_from_value(root, 0, out, detail);
    json_decref(root);
    return err;
}

/* ---- encoding --------------------------------------------------------- */

static void put(kh_buf *out, const char *s)
{
    kh_buf_append(out, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    size_t k;
    uint32_t c;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xE0) == 0xC0)
        k = 2, c = p[0] & 0x1F;
    else if ((p[0] & 0xF0) == 0xE0)
        k = 3, c = p[0] & 0x0F;
    else if ((p[0] & 0xF8) == 0xF0)
        k = 4, c = p[0] & 0x07;
    else
        return 0;
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[k] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return k;
}

void kh_json_append_string(kh_buf *out, const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    kh_buf_append_u8(out, '"');
    for (size_t i = 0; i < len;) {
        uint8_t c = p[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            kh_buf_append(out, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            kh_buf_append(out, esc, 6);
        } else {
            size_t k = utf8_len(p + i, len - i);
            if (k == 0) {
                put(out, "\\uFFFD");
                i++;
                continue;
            }
            kh_buf_append(out, p + i, k);
            i += k;
            continue;
        }
        i++;
    }
    kh_buf_append_u8(out, '"');
}

static void put_hex(kh_buf *out, const uint8_t *p, size_t n)
{
    static const char digits_uc[] = "0123456789ABCDEF";
    kh_buf_reserve(out, 2 * n);
    for (size_t i = 0; i < n; i++) {
        kh_buf_append_u8(out, (uint8_t)digits_uc[p[i] >> 4]);
        kh_buf_append_u8(out, (uint8_t)digits_uc[p[i] & 15]);
    }
}

/* ISO 8601 when the year has four digits, otherwise the number itself.
 * num is seconds, or microseconds when extended. */
static void put_time(kh_buf *out, int64_t num, int extended)
{
    char b[48];
    struct tm tm;
    int64_t secs = extended ? num / 1000000 : num, us = extended ? num % 1000000 : 0;
    if (us < 0) /* floor division */
        secs--, us += 1000000;
    time_t t = (time_t)secs;
    if (secs >= -62167219200LL && secs <= 253402300799LL && gmtime_r(&t, &tm)) {
        int n = snprintf(b, sizeof(b), "\"%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (extended)
            n += snprintf(b + n, sizeof(b) - (size_t)n, ".%06lld", (long long)us);
        snprintf(b + n, sizeof(b) - (size_t)n, "Z\"");
    } else {
        snprintf(b, sizeof(b), "%lld", (long long)num);
    }
    put(out, b);
}

static void put_value(const kh_ttlv *t, kh_buf *out)
{
    char b[32];
    const char *name;
    switch (t->type) {
    case KH_TTLV_INTEGER:
        snprintf(b, sizeof(b), "%d", (int)(int32_t)t->num);
        break;
    case KH_TTLV_INTERVAL:
        snprintf(b, sizeof(b), "%u", (unsigned)(uint32_t)t->num);
        break;
    case KH_TTLV_LONG_INTEGER:
        snprintf(b, sizeof(b), "\"0x%016llX\"", (unsigned long long)(uint64_t)t->num);
        break;
    case KH_TTLV_ENUMERATION:
        if ((name = kh_kmip_enum_name_of(t->tag, (uint32_t)t->num)) != NULL) {
            kh_json_append_string(out, name, strlen(name));
            return;
        }
        snprintf(b, sizeof(b), "\"0x%08X\"", (unsigned)(uint32_t)t->num);
        break;
    case KH_TTLV_BOOLEAN:
        snprintf(b, sizeof(b), "%s", t->num ? "true" : "false");
        break;
    case KH_TTLV_TEXT_STRING:
        kh_json_append_string(out, (const char *)t->data, t->len);
        return;
    case KH_TTLV_BYTE_STRING:
    case KH_TTLV_BIG_INTEGER:
        put(out, t->type == KH_TTLV_BIG_INTEGER ? "\"0x" : "\"");
        put_hex(out, t->data, t->len);
        put(out, "\"");
        return;
    case KH_TTLV_DATE_TIME:
        put_time(out, t->num, 0);
        return;
    default: /* DateTimeExtended */
        put_time(out, t->num, 1);
        return;
    }
    put(out, b);
}

static void encode_item(const kh_ttlv *t, const char *name, kh_buf *out)
{
    char hex[16];
    if (!name && !(name = kh_kmip_tag_name_of(t->tag))) {
        snprintf(hex, sizeof(hex), "0x%06X", (unsigned)t->tag);
        name = hex;
    }
    put(out, "{\"tag\":");
    kh_json_append_string(out, name, strlen(name));
    put(out, ",\"type\":\"");
    put(out, t->type < NTYPES && type_names[t->type] ? type_names[t->type] : "Structure");
    put(out, "\",\"value\":");
    if (t->type == KH_TTLV_STRUCTURE) {
        kh_buf_append_u8(out, '[');
        for (size_t i = 0; i < t->nkids; i++) {
            if (i)
                kh_buf_append_u8(out, ',');
            encode_item(t->kids[i], NULL, out);
        }
        kh_buf_append_u8(out, ']');
    } else {
        put_value(t, out);
    }
    kh_buf_append_u8(out, '}');
}

void kh_kmip_json_encode(const kh_ttlv *t, const char *top_name, kh_buf *out)
{
    encode_item(t, top_name, out);
}
