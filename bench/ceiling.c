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
 * Usage: kh_ceiling --tls-cert F --tls-key F --tls-ca F [--host 127.0.0.1]
 *        [--port 0] [--workers 4] [--max-connections 16384] [--ready-file F]
 */
#include "bench/bench_msgs.h"

#include "common/buf.h"
#include "common/log.h"
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

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static void write_ready(const char *path, int port)
{
    char tmp[4096];
    if (!path || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "{\"kmip_port\": %d}\n", port);
    if (fclose(f) == 0)
        rename(tmp, path);
}

static int usage(void)
{
    fprintf(stderr, "usage: kh_ceiling --tls-cert F --tls-key F --tls-ca F [--host H] "
                    "[--port N] [--workers N] [--max-connections N] [--ready-file F]\n");
    return 2;
}

int main(int argc, char **argv)
{
    kh_server_config sc;
    kh_server_config_defaults(&sc);
    kh_tls_config tls = {NULL, NULL, NULL, NULL, 1};
    const char *host = "127.0.0.1", *ready = NULL;
    unsigned long port = 0, v;
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
    kh_proto_handler h = {KH_TTLV_HEADER_LEN, frame, handle, error_reply, NULL};
    int bound = 0;
    kh_err err = kh_server_new(&sc, &srv);
    if (err == KH_OK)
        err = kh_server_listen_tls(srv, host, (int)port, &tls, &h, &bound);
    if (err == KH_OK) {
        write_ready(ready, bound);
        err = kh_server_run(srv);
    }
    kh_server_free(&srv);
    kh_buf_free(&fixed);
    if (err != KH_OK)
        fprintf(stderr, "kh_ceiling: %s\n", kh_strerror(err));
    return err == KH_OK ? 0 : 1;
}
