/*
 * tls.c - the server's TLS policy and peer identity, in OpenSSL terms.
 *
 * What it is for: turning a kh_tls_config into an SSL_CTX with the policy of
 * DESIGN.md (TLS 1.2 minimum, ECDHE+AEAD ciphers, no compression, no
 * renegotiation, client certificates checked against ca_file), and turning a
 * finished handshake into a principal string. What it is not for: sockets,
 * buffering, framing (server.c), or anything about KMIP.
 *
 * OpenSSL errors are drained into the log here and never reach a client.
 */
#include "net/tls.h"

#include "common/log.h"
#include "common/mem.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdbool.h>

struct kh_tls {
    SSL_CTX *ctx;
    int kes;              /* KES rules for client certificates */
    int kes_verify_chain; /* ... and their chains are verified */
};

void kh_tls_log_error(const char *peer, unsigned long code)
{
    char msg[256];
    ERR_error_string_n(code, msg, sizeof(msg));
    /* A client that hangs up without close_notify is routine (most KMIP
     * clients do it); libevent then also reports a bare errno-like code. */
    int routine =
        ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING || ERR_GET_LIB(code) == 0;
    kh_log(routine ? KH_LOG_DEBUG : KH_LOG_WARN, "tls %s: %s", peer ? peer : "-", msg);
}

void kh_tls_drain_errors(const char *peer)
{
    unsigned long code;
    while ((code = ERR_get_error()) != 0)
        kh_tls_log_error(peer, code);
}

static kh_err config_error(const char *what, const char *file)
{
    kh_error("tls: %s%s%s", what, file ? " " : "", file ? file : "");
    kh_tls_drain_errors("config");
    return KH_ERR_CONFIG;
}

static kh_err set_policy(SSL_CTX *ctx, const kh_tls_config *cfg)
{
    const char *ciphers = cfg->ciphers ? cfg->ciphers : KH_TLS12_DEFAULT_CIPHERS;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
        return config_error("cannot set the minimum protocol version", NULL);
    if (!SSL_CTX_set_cipher_list(ctx, ciphers))
        return config_error("no usable TLS 1.2 cipher in", ciphers);
    /* Renegotiation and compression are attack surface with no use here;
     * releasing idle buffers keeps idle connections small and shortens the
     * life of decrypted bytes inside OpenSSL. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Most KMIP clients hang up without close_notify. OpenSSL 3 makes that a
     * fatal error, after which not even a pending reply can be sent to a
     * client that half-closed after its last request. Every message we read
     * is framed by its length, so truncation is detected without the alert:
     * read such an EOF as the end of the stream. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* No resumption: KMIP clients hold their connections, so tickets (two
     * per TLS 1.3 handshake, each a session copy to build and encrypt) and
     * the server session cache (which kept every TLS 1.2 session, peer
     * certificate included, for minutes) cost memory and CPU for nothing. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (!SSL_CTX_set_num_tickets(ctx, 0))
        return config_error("cannot disable session tickets", NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    static const unsigned char sid[] = "keyhold";
    if (!SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1))
        return config_error("cannot set the session id context", NULL);
    return KH_OK;
}

static kh_err load_identity(SSL_CTX *ctx, const kh_tls_config *cfg)
{
    if (!cfg->cert_file || !cfg->key_file)
        return config_error("a certificate and a private key are required", NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1)
        return config_error("cannot load certificate", cfg->cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1)
        return config_error("cannot load private key", cfg->key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return config_error("private key does not match certificate", cfg->cert_file);
    return KH_OK;
}

/* KES asks for any certificate: with chain verification off the handshake
 * still proves that the client holds the certificate's private key
 * (CertificateVerify), and that key is the identity. */
static int accept_any_certificate(int preverify_ok, X509_STORE_CTX *x)
{
    (void)preverify_ok;
    (void)x;
    return 1;
}

/* KES: required, no CA list in the CertificateRequest (Go clients send no
 * certificate that none of the listed CAs issued, and an API key's
 * certificate is self-signed), chain verified only on request. */
static kh_err load_kes_client(SSL_CTX *ctx, const kh_tls_config *cfg, int verify_chain)
{
    int mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    if (!verify_chain) {
        SSL_CTX_set_verify(ctx, mode, accept_any_certificate);
        return KH_OK;
    }
    if (!cfg->ca_file)
        return config_error("KES chain verification needs a CA file", NULL);
    if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1)
        return config_error("cannot load CA file", cfg->ca_file);
    SSL_CTX_set_verify(ctx, mode, NULL);
    return KH_OK;
}

static kh_err load_client_ca(SSL_CTX *ctx, const kh_tls_config *cfg)
{
    if (!cfg->ca_file) {
        if (cfg->require_client_cert)
            return config_error("client certificates are required but no CA file is set", NULL);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return KH_OK;
    }
    if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1)
        return config_error("cannot load CA file", cfg->ca_file);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
    if (!names)
        return config_error("no CA certificate in", cfg->ca_file);
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (cfg->require_client_cert)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    return KH_OK;
}

static kh_err tls_new(const kh_tls_config *cfg, int kes, int verify_chain, kh_tls **out)
{
    if (!cfg || !out)
        return KH_ERR_INVALID_ARG;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return config_error("cannot create a TLS context", NULL);
    kh_err err;
    if ((err = set_policy(ctx, cfg)) != KH_OK || (err = load_identity(ctx, cfg)) != KH_OK ||
        (err = kes ? load_kes_client(ctx, cfg, verify_chain) : load_client_ca(ctx, cfg)) != KH_OK) {
        SSL_CTX_free(ctx);
        return err;
    }
    kh_tls *t = kh_xcalloc(1, sizeof(*t));
    t->ctx = ctx;
    t->kes = kes;
    t->kes_verify_chain = verify_chain;
    /* how kh_tls_peer_principal, given only an SSL, knows the rules */
    SSL_CTX_set_app_data(ctx, t);
    *out = t;
    return KH_OK;
}

kh_err kh_tls_new(const kh_tls_config *cfg, kh_tls **out)
{
    return tls_new(cfg, 0, 0, out);
}

kh_err kh_tls_new_kes(const kh_tls_config *cfg, int verify_chain, kh_tls **out)
{
    return tls_new(cfg, 1, verify_chain, out);
}

SSL *kh_tls_session_new(kh_tls *t)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        kh_tls_drain_errors("accept");
    return ssl;
}

/* ---- watched sessions -------------------------------------------------- */

typedef struct watch {
    void (*on_free)(void *arg);
    void *arg;
} watch;

static int watch_idx = -1;
static CRYPTO_ONCE watch_once = CRYPTO_ONCE_STATIC_INIT;

static void watch_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    watch *w = ptr;
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (!w)
        return;
    w->on_free(w->arg);
    free(w);
}

static void watch_init(void)
{
    watch_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, watch_free);
}

SSL *kh_tls_session_new_watched(kh_tls *t, void (*on_free)(void *arg), void *arg)
{
    if (!CRYPTO_THREAD_run_once(&watch_once, watch_init) || watch_idx < 0) {
        kh_tls_drain_errors("accept");
        return NULL;
    }
    SSL *ssl = kh_tls_session_new(t);
    if (!ssl)
        return NULL;
    watch *w = kh_xcalloc(1, sizeof(*w));
    w->on_free = on_free;
    w->arg = arg;
    if (!SSL_set_ex_data(ssl, watch_idx, w)) {
        free(w);
        SSL_free(ssl);
        kh_tls_drain_errors("accept");
        return NULL;
    }
    return ssl;
}

void *kh_tls_session_watch_arg(SSL *ssl)
{
    if (watch_idx < 0)
        return NULL;
    watch *w = SSL_get_ex_data(ssl, watch_idx);
    return w ? w->arg : NULL;
}

static void hex_lower(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* out = lower-case hex SHA-256 of cert's DER SubjectPublicKeyInfo. */
static kh_err spki_hex(X509 *cert, char out[KH_PRINCIPAL_MAX])
{
    unsigned char *der = NULL;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
             mdlen == sizeof(md);
    OPENSSL_free(der);
    if (!ok) {
        kh_tls_drain_errors("principal");
        return KH_ERR_AUTH;
    }
    _Static_assert(KH_PRINCIPAL_MAX >= 2 * sizeof(md) + 1, "principal buffer too small");
    hex_lower(md, sizeof(md), out);
    return KH_OK;
}

/* KES's rule: of the certificates the client sent, those marked CA are
 * skipped and exactly one must remain (the leaf). One step stricter than
 * KES: that leaf must be the certificate the handshake proved the client
 * holds the key of (the first one sent, peer). Otherwise a client could
 * prove its own CA-marked certificate and append someone else's leaf,
 * which is public, to be taken for them. On the server side OpenSSL keeps
 * peer apart from the rest of the chain. */
static kh_err kes_leaf(SSL *ssl, X509 *peer)
{
    if (X509_get_extension_flags(peer) & EXFLAG_CA)
        return KH_ERR_AUTH;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    int n = chain ? sk_X509_num(chain) : 0;
    for (int i = 0; i < n; i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_cmp(c, peer) == 0)
            continue; /* the leaf again, if this OpenSSL lists it */
        if (!(X509_get_extension_flags(c) & EXFLAG_CA))
            return KH_ERR_AUTH; /* more than one leaf: whose identity? */
    }
    return KH_OK;
}

kh_err kh_tls_peer_principal(SSL *ssl, char out[KH_PRINCIPAL_MAX])
{
    out[0] = '\0';
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert)
        return KH_OK;
    const kh_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    bool kes = t && t->kes;
    /* The handshake fails on a bad certificate already; this is belt and
     * braces so that an unverified key never becomes a principal (except
     * where KES accepts any certificate by design). */
    if ((!kes || t->kes_verify_chain) && SSL_get_verify_result(ssl) != X509_V_OK)
        return KH_ERR_AUTH;
    if (kes && kes_leaf(ssl, cert) != KH_OK)
        return KH_ERR_AUTH;
    return spki_hex(cert, out);
}

void kh_tls_close_notify(SSL *ssl)
{
    /* The socket is non-blocking: if the alert does not fit, the peer sees
     * a plain close, which is what it would have seen anyway. */
    if (SSL_is_init_finished(ssl))
        (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

void kh_tls_free(kh_tls **tp)
{
    kh_tls *t = tp ? *tp : NULL;
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
    *tp = NULL;
}
