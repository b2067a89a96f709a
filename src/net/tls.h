/*
 * tls.h - TLS contexts and peer identity for the listeners.
 *
 * This is the one place in net/ that speaks OpenSSL: it builds the server
 * SSL_CTX from a kh_tls_config (TLS >= 1.2, ANSSI cipher list, no
 * compression, no renegotiation, no resumption, optional or mandatory
 * client certificates),
 * makes one SSL per connection, derives the peer principal from the client
 * certificate and drains OpenSSL's error queue into the log. It does no I/O:
 * server.c hands the SSL objects to libevent.
 */
#ifndef KH_NET_TLS_H
#define KH_NET_TLS_H

#include "common/err.h"
#include "net/server.h"

struct ssl_st; /* OpenSSL's SSL, kept opaque here */

/* ANSSI recommendation for TLS 1.2 (ECDHE + AEAD only); TLS 1.3 keeps
 * OpenSSL's default suites, which are all AEAD. */
#define KH_TLS12_DEFAULT_CIPHERS                                                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

typedef struct kh_tls kh_tls;

/* Load certificate, key and CA; KH_ERR_CONFIG (logged) when anything is
 * missing, unreadable or inconsistent. */
kh_err kh_tls_new(const kh_tls_config *cfg, kh_tls **out) KH_MUST_CHECK;
/* The same with KES's rules for client certificates (docs/kes.md):
 * required, but no CA list is sent in the CertificateRequest (Go clients
 * then withhold a certificate no listed CA issued, and an API key's is
 * self-signed); with verify_chain == 0 any certificate is accepted for the
 * key it proves to hold, else it must chain to cfg->ca_file. The
 * principal is then the leaf's: certificates marked CA are skipped and
 * more than one leaf is refused. */
kh_err kh_tls_new_kes(const kh_tls_config *cfg, int verify_chain, kh_tls **out) KH_MUST_CHECK;
/* A fresh server-side SSL for one connection (caller owns it), or NULL. */
struct ssl_st *kh_tls_session_new(kh_tls *t);
/* The same, and on_free(arg) runs when the SSL is freed, on the thread
 * that frees it: how a listener that does not own its connections (evhttp)
 * learns that one has gone. */
struct ssl_st *kh_tls_session_new_watched(kh_tls *t, void (*on_free)(void *arg), void *arg);
/* The arg given to kh_tls_session_new_watched for ssl, NULL if none. */
void *kh_tls_session_watch_arg(struct ssl_st *ssl);
/* After the handshake: out = lower-case hex SHA-256 of the DER
 * SubjectPublicKeyInfo of the verified client certificate, "" when the
 * client sent none. KH_ERR_AUTH if a certificate is present but unusable. */
kh_err kh_tls_peer_principal(struct ssl_st *ssl, char out[KH_PRINCIPAL_MAX]) KH_MUST_CHECK;
/* Log one packed OpenSSL error code (as libevent reports them) for peer. */
void kh_tls_log_error(const char *peer, unsigned long code);
/* Log and clear everything in this thread's OpenSSL error queue. */
void kh_tls_drain_errors(const char *peer);
/* Send close_notify without blocking, best effort (before closing a
 * connection whose output has been flushed). */
void kh_tls_close_notify(struct ssl_st *ssl);
void kh_tls_free(kh_tls **t);

#endif
