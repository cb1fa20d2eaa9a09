/*
 * io_tls.c - TLS contexts and STARTTLS on io connections (OpenSSL 3).
 *
 * The server context is strict: TLS 1.2 or newer, forward-secret AEAD
 * ciphers only (ECDHE with AES-GCM or CHACHA20-POLY1305, the default TLS 1.3
 * suites), no compression, no renegotiation, server cipher preference and
 * the groups X25519:P-256:P-384.  The client context loads the system CA
 * store and verifies, but never enforces: io_conn_tls_info() reports the
 * verdict (chain, host name, expiry) and the owner applies its policy.
 *
 * STARTTLS stacks a libevent OpenSSL filter bufferevent on the connection's
 * socket bufferevent.  Before the filter is created every plaintext byte
 * still buffered is discarded (CVE-2011-0411: commands injected after
 * STARTTLS, or replies sent after the 220, must never be read as if they
 * came through TLS).
 */
#include "io/io_int.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define IO_TLS_SERVER_CIPHERS                                                                     \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                              \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define IO_TLS_GROUPS "X25519:P-256:P-384"
#define IO_TLS_SID_CTX "backupmx"

#ifndef SSL_OP_NO_CLIENT_RENEGOTIATION
#define SSL_OP_NO_CLIENT_RENEGOTIATION 0
#endif

/* Text of the oldest queued OpenSSL error (queue emptied), or "unknown error". */
static const char *tls_err_str(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e) {
		snprintf(buf, len, "unknown error");
		return buf;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* Options shared by both sides: TLS >= 1.2, no compression, no renegotiation. */
static int tls_ctx_common(SSL_CTX *ctx)
{
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_NO_CLIENT_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 ? 0 : -1;
}

/* Server context from a PEM certificate chain and key. */
struct io_tls *io_tls_server_new(const char *cert_file, const char *key_file)
{
	char ebuf[256];
	struct io_tls *tls;
	SSL_CTX *ctx;

	if (!cert_file || !key_file) {
		log_err("io: TLS server needs a certificate and a key file");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		log_err("io: SSL_CTX_new: %s", tls_err_str(ebuf, sizeof(ebuf)));
		return NULL;
	}
	if (tls_ctx_common(ctx) < 0 ||
	    SSL_CTX_set_cipher_list(ctx, IO_TLS_SERVER_CIPHERS) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, IO_TLS_GROUPS) != 1) {
		log_err("io: TLS server settings: %s", tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)IO_TLS_SID_CTX,
				       sizeof(IO_TLS_SID_CTX) - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		log_err("io: TLS certificate %s: %s", cert_file, tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		log_err("io: TLS key %s: %s", key_file, tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_err("io: TLS key %s does not match certificate %s: %s", key_file, cert_file,
			tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	tls = calloc(1, sizeof(*tls));
	if (!tls)
		goto fail;
	tls->ctx = ctx;
	tls->server = 1;
	return tls;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Client context: system CAs, verification reported but not enforced. */
struct io_tls *io_tls_client_new(void)
{
	char ebuf[256];
	struct io_tls *tls;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		log_err("io: SSL_CTX_new: %s", tls_err_str(ebuf, sizeof(ebuf)));
		return NULL;
	}
	if (tls_ctx_common(ctx) < 0) {
		log_err("io: TLS client settings: %s", tls_err_str(ebuf, sizeof(ebuf)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warn("io: cannot load the system CA store: %s",
			 tls_err_str(ebuf, sizeof(ebuf)));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	tls = calloc(1, sizeof(*tls));
	if (!tls) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls->ctx = ctx;
	return tls;
}

/* Free a context (connections using it keep their own reference). */
void io_tls_free(struct io_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

/* 1 if s is a numeric IPv4 or IPv6 address. */
static int is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Drop buffered plaintext and stack the TLS filter on c. */
static int tls_start(struct io_conn *c, struct io_tls *tls, enum bufferevent_ssl_state state)
{
	struct bufferevent *f;
	SSL *ssl;

	if (bmx_guard_dead(&c->guard) || c->closing || c->ssl || c->connecting || !tls)
		return -1;
	/* CVE-2011-0411: nothing received in plaintext may survive into TLS. */
	io_conn_drop_input(c);
	ssl = SSL_new(tls->ctx);
	if (!ssl)
		return -1;
	if (state == BUFFEREVENT_SSL_CONNECTING && c->verify_host[0] &&
	    !is_ip_literal(c->verify_host))
		SSL_set_tlsext_host_name(ssl, c->verify_host);
	bmx_guard_enter(&c->guard);
	if (c->direct) {
		/* the filter owns the output from now on: libevent writes it */
		c->direct = 0;
		bufferevent_enable(c->sock_bev, EV_WRITE);
		/* a pause lowered the read watermark (io_conn_pause); the resume
		 * only restores it in direct mode */
		bufferevent_setwatermark(c->sock_bev, EV_READ, 0, IO_CONN_INPUT_MAX);
	}
	f = bufferevent_openssl_filter_new(c->loop->base, c->bev, ssl, state,
					   BEV_OPT_CLOSE_ON_FREE);
	if (!f) {
		io_conn_leave(c);
		SSL_free(ssl);
		log_warn("io: cannot start TLS");
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	/* Keep encrypted output small so io_conn_out_len() shows backpressure. */
	bufferevent_setwatermark(c->sock_bev, EV_WRITE, 0, IO_TLS_OUT_CHUNK);
	c->ssl = ssl;
	c->handshaking = 1;
	c->tls_client = state == BUFFEREVENT_SSL_CONNECTING;
	io_conn_attach_bev(c, f);
	io_conn_leave(c);
	return 0;
}

/* Start TLS as the server (after "220 Ready to start TLS" was queued). */
int io_conn_starttls_server(struct io_conn *c, struct io_tls *tls)
{
	if (!tls || !tls->server)
		return -1;
	c->verify_host[0] = '\0';
	return tls_start(c, tls, BUFFEREVENT_SSL_ACCEPTING);
}

/* Start TLS as the client (after the server's 220 was consumed). */
int io_conn_starttls_client(struct io_conn *c, struct io_tls *tls, const char *verify_host)
{
	if (!tls || tls->server)
		return -1;
	c->verify_host[0] = '\0';
	if (verify_host) {
		if (strlen(verify_host) >= sizeof(c->verify_host))
			return -1;
		strcpy(c->verify_host, verify_host);
	}
	return tls_start(c, tls, BUFFEREVENT_SSL_CONNECTING);
}

/* Copy the common name of an X509 name into buf ("" if none). */
static void tls_name_cn(X509_NAME *name, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!name || X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)len) < 0)
		buf[0] = '\0';
}

/* Facts about an established TLS session. */
int io_conn_tls_info(struct io_conn *c, struct io_tls_info *out)
{
	const SSL_CIPHER *ciph;
	X509 *cert;
	long vr;

	memset(out, 0, sizeof(*out));
	if (bmx_guard_dead(&c->guard) || !c->ssl || c->handshaking)
		return -1;
	out->active = 1;
	snprintf(out->version, sizeof(out->version), "%s", SSL_get_version(c->ssl));
	ciph = SSL_get_current_cipher(c->ssl);
	if (ciph) {
		snprintf(out->cipher, sizeof(out->cipher), "%s", SSL_CIPHER_get_name(ciph));
		out->bits = SSL_CIPHER_get_bits(ciph, NULL);
	}
	if (!c->tls_client)
		return 0;
	cert = SSL_get1_peer_certificate(c->ssl);
	if (!cert) {
		snprintf(out->verify_error, sizeof(out->verify_error), "no peer certificate");
		return 0;
	}
	out->have_cert = 1;
	vr = SSL_get_verify_result(c->ssl);
	out->verified = vr == X509_V_OK;
	if (!out->verified)
		snprintf(out->verify_error, sizeof(out->verify_error), "%s",
			 X509_verify_cert_error_string(vr));
	if (c->verify_host[0]) {
		if (is_ip_literal(c->verify_host))
			out->name_match = X509_check_ip_asc(cert, c->verify_host, 0) == 1;
		else
			out->name_match = X509_check_host(cert, c->verify_host, 0, 0, NULL) == 1;
	}
	tls_name_cn(X509_get_subject_name(cert), out->subject_cn, sizeof(out->subject_cn));
	tls_name_cn(X509_get_issuer_name(cert), out->issuer_cn, sizeof(out->issuer_cn));
	{
		int days = 0, secs = 0;
		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1)
			out->days_left = days;
	}
	X509_free(cert);
	return 0;
}

/* Fill c->err from the filter's OpenSSL errors; 0 if there were none. */
int io_tls_error_text(struct io_conn *c)
{
	unsigned long e, first = 0;

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		if (!first)
			first = e;
	if (!first)
		return 0;
	ERR_error_string_n(first, c->err, sizeof(c->err));
	return 1;
}
