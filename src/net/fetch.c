/*
 * fetch.c - one blocking HTTP(S) GET with libcurl (net/fetch.h).
 *
 * What matters here is what is refused: other protocols (file://, ftp://,
 * gopher://...), redirects (a JWKS location that moves is a configuration
 * change, not something a response may decide), TLS below 1.2, unverified
 * certificates, and bodies over the limit, which are cut off while they
 * arrive rather than after.
 */
#include "net/fetch.h"

#include "common/log.h"

#include <curl/curl.h>
#include <pthread.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_result = CURLE_FAILED_INIT;

static void global_init(void)
{
    init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

kh_err kh_fetch_global_init(void)
{
    pthread_once(&init_once, global_init);
    if (init_result != CURLE_OK) {
        kh_error("libcurl initialisation failed: %s", curl_easy_strerror(init_result));
        return KH_ERR_INTERNAL;
    }
    return KH_OK;
}

typedef struct sink {
    kh_buf *out;
    size_t start, max;
    bool too_large;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t len = size * n; /* size is always 1 for write callbacks */
    if (len > s->max - (s->out->len - s->start)) {
        s->too_large = true;
        return 0; /* makes curl abort with CURLE_WRITE_ERROR */
    }
    kh_buf_append(s->out, p, len);
    return len;
}

static bool configure(CURL *c, const char *url, const kh_fetch_opts *o, sink *s, char *errbuf)
{
    long secs = (long)o->timeout_s;
    return curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, o->allow_http ? "http,https" : "https") ==
               CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_TIMEOUT, secs) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, secs) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
           (!o->ca_file || curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file) == CURLE_OK) &&
           curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_WRITEDATA, s) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
           curl_easy_setopt(c, CURLOPT_USERAGENT, "keyhold/" KH_VERSION) == CURLE_OK;
}

kh_err kh_fetch_get(const char *url, const kh_fetch_opts *o, kh_buf *out)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    sink s = {out, out ? out->len : 0, o ? o->max_bytes : 0, false};
    if (!url || !o || !out || o->max_bytes == 0 || o->timeout_s == 0)
        return KH_ERR_INVALID_ARG;
    CURL *c = curl_easy_init();
    if (!c)
        return KH_ERR_NOMEM;
    kh_err err = KH_OK;
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (!configure(c, url, o, &s, errbuf)) {
        kh_error("fetch %s: this libcurl lacks a required option", url);
        err = KH_ERR_INTERNAL;
        goto out;
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (s.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        kh_warn("fetch %s: answer larger than %zu bytes", url, o->max_bytes);
        err = KH_ERR_TOO_LARGE;
    } else if (rc != CURLE_OK) {
        kh_warn("fetch %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        err = KH_ERR_IO;
    } else if (status != 200) {
        kh_warn("fetch %s: HTTP status %ld", url, status);
        err = KH_ERR_IO;
    }
out:
    if (err != KH_OK)
        out->len = s.start; /* nothing partial */
    curl_easy_cleanup(c);
    return err;
}
