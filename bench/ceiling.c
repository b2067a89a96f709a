/*
 * ceiling.c - kh_ceiling, the "no work" KMIP server the benchmark measures
 * keyhold against.
 *
 * It is keyhold's own net layer (kh_server_new + kh_server_listen_tls: the
 * same libevent loop, TLS settings, framing, worker pool and hand-off) with
 * a kh_proto_handler whose handle() copies one fixed, valid KMIP
 * ResponseMessage (a Get reply carrying an AES-256 key) whatever it is
 * asked. The difference between keyhold and this server is therefore
 * exactly the work keyhold does per request: decoding, the operation, the
 * store, encoding. Not for anything but benchmarks.
 *
 * With --https-port it also listens for HTTPS on keyhold's HTTPS listener
 * (kh_server_listen_https: evhttp over the same TLS, loop and pool), and
 * answers every request, on a worker as keyhold's KES routes are, with one
 * fixed 200 JSON body shaped like a KES generate reply.
 *
 * Usage: kh_ceiling --tls-cert F --tls-key F --tls-ca F [--host 127.0.0.1]
 *        [--port 0] [--https-port N] [--workers 4] [--max-connections 16384]
 *        [--ready-file F]
 */
#include "bench/bench_msgs.h"

#include "common/buf.h"
#include "common/log.h"
#include "net/http.h"
#include "net/server.h"
#include "proto/kmip.h"
#include "proto/ttlv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kh_buf fixed;

static void handle(void *arg, const kh_peer *peer, const uint8_t *msg, size_t len, kh_buf *reply)
{
    (void)arg;
    (void)peer;
    (void)msg;
    (void)len;
    kh_buf_append(reply, fixed.data, fixed.len);
}

static void error_reply(void *arg, kh_err err, kh_buf *reply)
{
    (void)arg;
    kh_kmip_error_reply(err, reply);
}

static kh_err frame(const uint8_t *hdr, size_t max, size_t *total)
{
    return kh_ttlv_frame_len(hdr, max, total);
}

/* A KES generate reply: 32 bytes of plaintext and their ciphertext, base64. */
static const char kes_body[] =
    "{\"plaintext\":\"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\","
    "\"ciphertext\":\"eyJhZWFkIjoiQUVTLTI1Ni1HQ00tSE1BQy1TSEEtMjU2IiwiaXYiOiJBQUFBQUFBQU"
    "FBQUFBQUFBQUFBQUFBPT0iLCJub25jZSI6IkFBQUFBQUFBQUFBQUFBQUEiLCJieXRlcyI6IkFBQUEifQ==\"}";

static bool http_route(void *arg, const kh_http_request *req, kh_http_reply *reply)
{
    (void)arg;
    (void)req;
    (void)reply;
    return false; /* on a worker, as keyhold's KES routes */
}

static void http_handle(void *arg, const kh_http_request *req, kh_http_reply *reply)
{
    (void)arg;
    (void)req;
    reply->status = 200;
    reply->label = "ceiling";
    kh_buf_append(&reply->body, kes_body, sizeof(kes_body) - 1);
}

static void http_error(void *arg, kh_err err, kh_http_reply *reply)
{
    (void)arg;
    reply->status = 503;
    reply->result = err;
    kh_buf_append(&reply->body, "{\"message\":\"busy\"}", 18);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static void write_ready(const char *path, int port, int https_port)
{
    char tmp[4096];
    if (!path || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "{\"kmip_port\": %d, \"https_port\": %d}\n", port, https_port);
    if (fclose(f) == 0)
        rename(tmp, path);
}

static int usage(void)
{
    fprintf(stderr, "usage: kh_ceiling --tls-cert F --tls-key F --tls-ca F [--host H] "
                    "[--port N] [--https-port N] [--workers N] [--max-connections N] "
                    "[--ready-file F]\n");
    return 2;
}

int main(int argc, char **argv)
{
    kh_server_config sc;
    kh_server_config_defaults(&sc);
    kh_tls_config tls = {NULL, NULL, NULL, NULL, 1};
    const char *host = "127.0.0.1", *ready = NULL;
    unsigned long port = 0, v;
    long https_port = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val)
            return usage();
        i++;
        if (strcmp(a, "--tls-cert") == 0)
            tls.cert_file = val;
        else if (strcmp(a, "--tls-key") == 0)
            tls.key_file = val;
        else if (strcmp(a, "--tls-ca") == 0)
            tls.ca_file = val;
        else if (strcmp(a, "--host") == 0)
            host = val;
        else if (strcmp(a, "--ready-file") == 0)
            ready = val;
        else if (strcmp(a, "--port") == 0 && parse_uint(val, 65535, &port) == 0)
            continue;
        else if (strcmp(a, "--https-port") == 0 && parse_uint(val, 65535, &v) == 0)
            https_port = (long)v;
        else if (strcmp(a, "--workers") == 0 && parse_uint(val, 256, &v) == 0 && v > 0)
            sc.workers = (unsigned)v;
        else if (strcmp(a, "--max-connections") == 0 && parse_uint(val, 1000000, &v) == 0 && v)
            sc.max_connections = (unsigned)v;
        else
            return usage();
    }
    if (!tls.cert_file || !tls.key_file || !tls.ca_file)
        return usage();
    kh_log_set_level(KH_LOG_WARN);
    kh_bench_fixed_reply(&fixed);
    kh_server *srv = NULL;
    kh_proto_handler h = {KH_TTLV_HEADER_LEN, frame, handle, error_reply, NULL, NULL};
    kh_http_handler hh = {http_route, http_handle, http_error, NULL};
    int bound = 0, https_bound = 0;
    kh_err err = kh_server_new(&sc, &srv);
    if (err == KH_OK)
        err = kh_server_listen_tls(srv, host, (int)port, &tls, &h, &bound);
    if (err == KH_OK && https_port >= 0) {
        kh_tls_config htls = tls;
        htls.require_client_cert = 0; /* as keyhold's HTTPS listener by default */
        err = kh_server_listen_https(srv, host, (int)https_port, &htls, &hh, &https_bound);
    }
    if (err == KH_OK) {
        write_ready(ready, bound, https_bound);
        err = kh_server_run(srv);
    }
    kh_server_free(&srv);
    kh_buf_free(&fixed);
    if (err != KH_OK)
        fprintf(stderr, "kh_ceiling: %s\n", kh_strerror(err));
    return err == KH_OK ? 0 : 1;
}
