/*
 * admin_json.c - the admin API's replies (admin_json.h).
 */
#include "proto/admin_json.h"

#include <time.h>

void kh_admin_reply(kh_http_reply *r, int status, json_t *j)
{
    if (!j) { /* json_pack refused a value (not UTF-8): a bug upstream */
        status = 500;
        j = json_pack("{s:s}", "message", kh_strerror(KH_ERR_INTERNAL));
    }
    kh_buf_clear(&r->body);
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    kh_buf_reserve(&r->body, n);
    r->body.len = json_dumpb(j, (char *)r->body.data, n, JSON_COMPACT);
    r->status = status;
    r->result = KH_OK;
    r->content_type = NULL;
    json_decref(j);
}

void kh_admin_fail(kh_http_reply *r, kh_err err, int status, const char *message)
{
    if (!status)
        status = kh_err_http_status(err);
    kh_admin_reply(r, status, json_pack("{s:s}", "message", message ? message : kh_strerror(err)));
    r->result = err;
}

void kh_admin_not_allowed(kh_http_reply *r, const char *allow)
{
    kh_admin_fail(r, KH_ERR_UNSUPPORTED, 405, "method not allowed");
    r->allow = allow;
}

json_t *kh_admin_time(int64_t t)
{
    if (t == 0)
        return json_null();
    char s[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(s);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool kh_admin_pct_decode(char *s)
{
    char *w = s;
    for (const char *p = s; *p; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        *w++ = (char)(hi * 16 + lo);
        p += 2;
    }
    *w = '\0';
    return true;
}
