"""
kh_support.py - what the integration tests need besides pytest itself:
a throwaway PKI, the keyhold process, PyKMIP clients and raw TLS sockets.

Nothing here is mocked: the server is the real binary on a loopback port,
the database a real SQLite file, TLS real mutual TLS. The fixtures in
conftest.py wrap these helpers; test modules may import them directly.
"""
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import kh_ttlv as ttlv

REPO_ROOT = Path(__file__).resolve().parents[2]

# Timeouts are written for a release build; an ASan build is ~3x slower.
_default_scale = "3" if "asan" in os.environ.get("KEYHOLD_BIN", "") else "1"
TIMEOUT_SCALE = float(os.environ.get("KEYHOLD_TEST_TIMEOUT_SCALE", _default_scale))


def scaled(seconds):
    return seconds * TIMEOUT_SCALE


def keyhold_bin():
    b = os.environ.get("KEYHOLD_BIN")
    return Path(b).resolve() if b else REPO_ROOT / "build" / "release" / "keyhold"


def run_keyhold(*args):
    """One `keyhold ...` command (the CLI), its output captured as text."""
    return subprocess.run([str(keyhold_bin()), *args], capture_output=True, text=True,
                          timeout=60)


# ---- certificates -----------------------------------------------------------


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keyhold tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _issue(subject_cn, key, issuer_cert, issuer_key, *, ca=False, eku=None, san=None,
           expired=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        not_before, not_after = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject_cn))
               .issuer_name(issuer_cert.subject if issuer_cert else _name(subject_cn))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=True,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False), critical=True)
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),
            critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Certs:
    """A test PKI in directory d: ca.pem, server.{pem,key}, <who>.{pem,key}.

    alice and bob are clients of the CA the server trusts; carol's
    certificate from that CA has expired; mallory's certificate is issued by
    another CA (other-ca.pem) the server does not know.
    """

    CLIENTS = ("alice", "bob")

    def __init__(self, d):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue("keyhold test CA", ca_key, None, ca_key, ca=True)
        self._write("ca", ca, ca_key)
        self.ca = str(self.dir / "ca.pem")

        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue("localhost", key, ca, ca_key, eku=[ExtendedKeyUsageOID.SERVER_AUTH],
                      san=[x509.DNSName("localhost"),
                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        self._write("server", cert, key)

        self.spki_sha256 = {}
        for who in self.CLIENTS:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _issue(who, key, ca, ca_key, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
            self._write(who, cert, key)
            self._principal(who, cert)

        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue("carol", key, ca, ca_key, eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
                      expired=True)
        self._write("carol", cert, key)

        other_key = ec.generate_private_key(ec.SECP256R1())
        other = _issue("some other CA", other_key, None, other_key, ca=True)
        self._write("other-ca", other, other_key)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue("mallory", key, other, other_key, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
        self._write("mallory", cert, key)
        self._principal("mallory", cert)

    def _principal(self, who, cert):
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = hashes.Hash(hashes.SHA256())
        digest.update(spki)
        self.spki_sha256[who] = digest.finalize().hex()

    def _write(self, stem, cert, key):
        (self.dir / (stem + ".pem")).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self.dir / (stem + ".key"), key)

    def cert(self, who):
        return str(self.dir / (who + ".pem"))

    def key(self, who):
        return str(self.dir / (who + ".key"))

    def context(self, who="alice"):
        """Client-side SSLContext presenting who's certificate (None: no certificate)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca)
        if who is not None:
            ctx.load_cert_chain(self.cert(who), self.key(who))
        return ctx


# Set by the session fixture, so helpers can be called as raw_request(port, who, data).
CERTS = None


# ---- the server process -----------------------------------------------------

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer")


class ServerError(AssertionError):
    pass


class KeyholdServer:
    """One keyhold instance on a SQLite file (or db_url); restartable on the
    same data."""

    def __init__(self, workdir, certs, extra_args=(), log_level=None, db_url=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.certs = certs
        self.db_path = self.workdir / "keyhold.db"
        self.db_url = db_url
        self.master_key = self.workdir / "master.key"
        self.ready_file = self.workdir / "ready.json"
        self.extra_args = list(extra_args)
        self.log_level = log_level or os.environ.get("KEYHOLD_LOG_LEVEL", "info")
        self.proc = None
        self.port = None
        self.https_port = None
        self.kes_port = None
        self.runs = 0
        self.log_path = None
        self.preexec = None  # run in the child before exec (resource limits)

    def args(self, db=None, master_key=None):
        return [str(keyhold_bin()), "serve",
                "--db", self.db_url or "sqlite://" + str(db or self.db_path),
                "--master-key-file", str(master_key or self.master_key),
                "--tls-cert", self.certs.cert("server"),
                "--tls-key", self.certs.key("server"),
                "--tls-ca", self.certs.ca,
                "--kmip-host", "127.0.0.1", "--kmip-port", "0",
                "--https-host", "127.0.0.1", "--https-port", "0",
                "--kes-host", "127.0.0.1", "--kes-port", "0",
                "--ready-file", str(self.ready_file),
                "--workers", "4",
                "--log-level", self.log_level] + self.extra_args

    def log(self):
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def _fail(self, what):
        tail = self.log()[-6000:]
        raise ServerError("%s\n---- keyhold output (%s) ----\n%s" % (what, self.log_path, tail))

    def start(self, timeout=10):
        b = keyhold_bin()
        if not os.access(b, os.X_OK):
            raise ServerError("keyhold binary not found at %s (set KEYHOLD_BIN or run "
                              "scripts/build release)" % b)
        assert self.proc is None, "server already running"
        self.runs += 1
        self.log_path = self.workdir / ("keyhold.%d.log" % self.runs)
        if self.ready_file.exists():
            self.ready_file.unlink()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=str(self.workdir),
                                         preexec_fn=self.preexec)
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                self._fail("keyhold exited with %s before it was ready" % rc)
            try:
                ready = json.loads(self.ready_file.read_text())
                self.port = int(ready["kmip_port"])
                self.https_port = ready.get("https_port")
                self.kes_port = ready.get("kes_port")
                return self
            except (OSError, ValueError, KeyError):
                time.sleep(0.02)
        self.kill()
        self._fail("keyhold did not write %s within %ss" % (self.ready_file, scaled(timeout)))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self, timeout=10):
        """SIGTERM; the server must exit 0 and its output must be sanitizer-clean."""
        if self.proc is None:
            return
        proc = self.proc
        already = proc.poll()
        if already is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                self.kill()
                self._fail("keyhold did not exit within %ss of SIGTERM" % scaled(timeout))
        self.proc = None
        rc = proc.returncode
        if already is not None:
            self._fail("keyhold died before it was asked to stop (exit status %s%s)" % (
                rc, ", signal %s" % signal.Signals(-rc).name if rc < 0 else ""))
        if rc != 0:
            self._fail("keyhold exited with status %s on SIGTERM%s" % (
                rc, " (signal %s)" % signal.Signals(-rc).name if rc < 0 else ""))
        self.check_log()

    def check_log(self):
        out = self.log()
        for marker in SANITIZER_MARKERS:
            if marker in out:
                self._fail("keyhold output contains %r" % marker)

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


# ---- PyKMIP clients ---------------------------------------------------------


def make_client(port, who="alice", version=None, certs=None):
    """An unopened ProxyKmipClient for who (a name from Certs)."""
    from kmip.core import enums
    from kmip.pie.client import ProxyKmipClient

    certs = certs or CERTS
    # PyKMIP 0.10 builds its socket with ssl.wrap_socket(ssl_version=...):
    # PROTOCOL_TLS_CLIENT would turn on hostname checking without a server
    # name and fail, so PROTOCOL_SSLv23 (= PROTOCOL_TLS, negotiates 1.2/1.3)
    # is the one that works; the server certificate is still verified
    # against ca (cert_reqs defaults to CERT_REQUIRED).
    return ProxyKmipClient(hostname="127.0.0.1", port=port, cert=certs.cert(who),
                           key=certs.key(who), ca=certs.ca, ssl_version="PROTOCOL_SSLv23",
                           kmip_version=version or enums.KMIPVersion.KMIP_1_2,
                           config_file=os.devnull)


# ---- raw TLS ----------------------------------------------------------------


class Closed(ConnectionError):
    """The peer closed the connection before a whole message arrived."""


def tls_connect(port, who="alice", timeout=10, certs=None):
    """A connected, handshaken TLS socket presenting who's certificate."""
    certs = certs or CERTS
    sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    try:
        return certs.context(who).wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Closed("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def read_message(sock, max_len=64 << 20):
    """One whole TTLV message: the 8-byte header, then its length."""
    hdr = recv_exact(sock, ttlv.HEADER_LEN)
    total = ttlv.frame_length(hdr)
    assert total <= max_len, "reply claims %d bytes" % total
    return hdr + recv_exact(sock, total - ttlv.HEADER_LEN)


def send_recv(sock, data):
    sock.sendall(data)
    return read_message(sock)


def raw_request(port, who, data, timeout=10):
    """Send data on a new TLS connection as who; return one whole response."""
    with tls_connect(port, who, timeout) as s:
        return send_recv(s, data)


# ---- HTTPS ------------------------------------------------------------------


def https_connection(port, who="alice", timeout=10, certs=None):
    """An http.client.HTTPSConnection to the HTTPS listener presenting who's
    certificate (who=None: no client certificate)."""
    import http.client

    certs = certs or CERTS
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=scaled(timeout),
                                       context=certs.context(who))


def query(port, who="alice", version=(1, 2)):
    """A Query on a new connection; returns the parsed Response."""
    return ttlv.parse_response(raw_request(port, who, ttlv.query_request(version)))


def assert_alive(port, who="alice"):
    """The server answers a normal Query on a new connection."""
    r = query(port, who)
    assert len(r.items) == 1 and r.items[0].status == ttlv.STATUS_SUCCESS, r
    ops = [k.value for k in r.items[0].payload.find_all(ttlv.Tag.OPERATION)]
    assert ttlv.Op.CREATE in ops and ttlv.Op.GET in ops, ops


def call(port, operation, *payload, who="alice", version=(1, 2)):
    """One raw operation on a new connection; returns its kh_ttlv.Result."""
    r = ttlv.parse_response(raw_request(port, who, ttlv.request(
        ttlv.batch_item(operation, *payload), version=version)))
    assert len(r.items) == 1 and r.batch_count == 1, r
    assert r.version == tuple(version), r
    return r.items[0]
