"""The KES listener (docs/kes.md): KES's TLS rules (a client certificate
required, no CA list sent, any certificate identified by its public key),
API keys turned into self-signed Ed25519 certificates as KES clients do,
policies with an admin identity, and keys shared by every identity a policy
lets in, also over KMIP."""
import base64
import concurrent.futures
import datetime
import hashlib
import json
import os
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions as pie_exceptions

import kh_support

af = AttributeFactory()
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)
NOT_FOUND = (404, {"message": "key does not exist"})
DENIED = (403, {"message": "not authorized: insufficient permissions"})


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


# ---- clients: certificates and API keys ----------------------------------------


def spki_identity(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def new_api_key():
    return "kes:v1:" + b64(b"\0" + os.urandom(32))


def apikey_certificate(d, api_key, stem):
    """What a KES client does with an API key: a self-signed Ed25519
    certificate for the key's seed. Returns (cert path, key path, identity)."""
    raw = base64.b64decode(api_key[len("kes:v1:"):])
    assert raw[0] == 0 and len(raw) == 33
    sk = Ed25519PrivateKey.from_private_bytes(raw[1:])
    identity = spki_identity(sk.public_key())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(sk.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(sk, None))
    cpath, kpath = d / (stem + ".pem"), d / (stem + ".key")
    cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kpath.write_bytes(sk.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(cpath), str(kpath), identity


class Client:
    """One KES client: a certificate and key on disk."""

    def __init__(self, certs, cert, key, identity):
        self.certs, self.cert, self.key, self.identity = certs, cert, key, identity

    def context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.certs.ca)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def request(self, port, method, path, body=None, raw=False):
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=kh_support.scaled(10),
                                           context=self.context())
        try:
            data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
            conn.request(method, path, data, {"Content-Type": "application/json"})
            r = conn.getresponse()
            payload = r.read()
            headers = dict(r.getheaders())
        finally:
            conn.close()
        if raw:
            return r.status, payload, headers
        return r.status, (json.loads(payload) if payload else None)


@pytest.fixture(scope="module")
def clients(certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("kes-clients")
    out = {}
    for who in ("alice", "bob", "mallory"):
        out[who] = Client(certs, certs.cert(who), certs.key(who), certs.spki_sha256[who])
    for who in ("admin", "minio", "nobody"):
        out[who] = Client(certs, *apikey_certificate(d, new_api_key(), who))
    return out


POLICY_ALLOW = ["/v1/key/create/minio-*", "/v1/key/generate/minio-*",
                "/v1/key/decrypt/minio-*", "/v1/key/encrypt/minio-*", "/v1/key/hmac/minio-*",
                "/v1/key/describe/minio-*", "/v1/key/list/*", "/v1/status", "/v1/ready",
                "/v1/metrics", "/v1/api", "/v1/policy/read/minio", "/v1/identity/describe/*"]


@pytest.fixture(scope="module")
def kes_server(certs, clients, tmp_path_factory):
    d = tmp_path_factory.mktemp("kes-server")
    policy = {
        "admin": {"identity": clients["admin"].identity},
        "policy": {
            "minio": {"allow": POLICY_ALLOW,
                      "deny": ["/v1/key/decrypt/minio-sealed", "/v1/key/hmac/minio-sealed"],
                      "identities": [clients["minio"].identity, clients["alice"].identity]},
            "reader": {"allow": ["/v1/key/describe/*", "/v1/key/list/*"],
                       "identities": [clients["bob"].identity]},
        },
    }
    (d / "policy.json").write_text(json.dumps(policy))
    srv = kh_support.KeyholdServer(d, certs, extra_args=[
        "--kes-policy-file", str(d / "policy.json")])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def port(kes_server):
    assert kes_server.kes_port and kes_server.kes_port != kes_server.https_port
    return kes_server.kes_port


# ---- TLS ----------------------------------------------------------------------


def handshake(port, ctx):
    with socket.create_connection(("127.0.0.1", port), timeout=kh_support.scaled(10)) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return t.recv(4096)


def test_certificate_required_and_no_ca_list_sent(certs, port):
    ctx = certs.context(None)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        handshake(port, ctx)
    # openssl s_client reports the CA names of the CertificateRequest
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-CAfile", certs.ca, "-cert", certs.cert("alice"), "-key",
                        certs.key("alice"), "-tls1_2"],
                       input=b"", capture_output=True, timeout=kh_support.scaled(20))
    out = r.stdout.decode(errors="replace")
    assert "No client certificate CA names sent" in out, out
    assert "Acceptable client certificate CA names" not in out


def test_tls_1_1_refused(certs, port):
    ctx = certs.context("alice")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        handshake(port, ctx)


def test_any_certificate_is_an_identity(clients, port):
    # mallory's CA is unknown and the API key's certificate self-signed:
    # both connect, identified by their public keys, and have no policy
    for who in ("mallory", "nobody"):
        c = clients[who]
        assert c.request(port, "GET", "/version")[0] == 200
        assert c.request(port, "GET", "/v1/identity/self/describe") == (
            200, {"identity": c.identity, "policy": ""})
        assert c.request(port, "GET", "/v1/status") == DENIED
        assert c.request(port, "PUT", "/v1/key/create/minio-x") == DENIED


def test_chain_rules(certs, clients, port, tmp_path):
    alice = clients["alice"]
    # a CA certificate sent along is skipped: the identity is the leaf's
    chain = tmp_path / "alice-chain.pem"
    chain.write_bytes(open(alice.cert, "rb").read() + open(certs.ca, "rb").read())
    c = Client(certs, str(chain), alice.key, alice.identity)
    assert c.request(port, "GET", "/v1/identity/self/describe")[1]["identity"] == alice.identity
    # two leaves: whose identity? refused
    two = tmp_path / "two-leaves.pem"
    two.write_bytes(open(alice.cert, "rb").read() + open(certs.cert("bob"), "rb").read())
    c = Client(certs, str(two), alice.key, alice.identity)
    status, data = c.request(port, "GET", "/v1/identity/self/describe")
    assert status == 401, data
    # a certificate marked CA, whose key the client proves, followed by
    # someone else's leaf (public): refused, never taken for that someone
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sneaky CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(key, hashes.SHA256()))
    sneaky = tmp_path / "sneaky.pem"
    sneaky.write_bytes(ca.public_bytes(serialization.Encoding.PEM) + open(alice.cert, "rb").read())
    (tmp_path / "sneaky.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    c = Client(certs, str(sneaky), str(tmp_path / "sneaky.key"), alice.identity)
    status, data = c.request(port, "GET", "/v1/identity/self/describe")
    assert status == 401, data
    assert c.request(port, "GET", "/v1/key/list")[0] == 401


def test_only_kes_routes(clients, port):
    admin = clients["admin"]
    for method, path in (("GET", "/health"), ("GET", "/metrics"), ("POST", "/kmip/2_1"),
                         ("GET", "/v1/admin/users"), ("GET", "/")):
        status, data = admin.request(port, method, path)
        assert status == 404, (path, data)
    assert admin.request(port, "GET", "/v1/nothing") == (501, {"message": "not implemented"})


def test_wrong_method_has_accept_header(clients, port):
    status, data, headers = clients["admin"].request(port, "GET", "/v1/key/create/k", raw=True)
    assert status == 405
    assert json.loads(data) == {"message": "received method 'GET' expected 'PUT'"}
    assert headers["Accept"] == "PUT" and headers["Allow"] == "PUT, POST"
    status, _, headers = clients["admin"].request(port, "PUT", "/v1/key/delete/k", raw=True)
    assert status == 405 and headers["Accept"] == "DELETE"


# ---- every route, as the admin (API key) and with a CA-issued certificate ---------


@pytest.mark.parametrize("who,prefix", [("admin", "adm"), ("alice", "minio-alice")])
def test_every_route(clients, port, who, prefix):
    c = clients[who]
    name = prefix + "-k"
    assert c.request(port, "GET", "/version")[0] == 200
    status, payload, _ = c.request(port, "GET", "/v1/ready", raw=True)
    assert status == 200 and payload == b""
    status, data = c.request(port, "GET", "/v1/status")
    assert status == 200 and data["os"] == "linux" and "keystore_latency" in data
    assert c.request(port, "GET", "/v1/metrics", raw=True)[0] == 200
    status, data = c.request(port, "GET", "/v1/api")
    assert status == 200 and {"method": "PUT", "path": "/v1/key/generate/", "max_body": 1 << 20,
                              "timeout": 15} in data

    assert c.request(port, "PUT", "/v1/key/create/" + name) == (200, None)
    assert c.request(port, "PUT", "/v1/key/create/" + name) == (
        400, {"message": "key already exists"})
    status, data = c.request(port, "GET", "/v1/key/describe/" + name)
    assert status == 200 and data["name"] == name and data["algorithm"] == "AES256"
    assert data["created_by"] == c.identity  # not the namespace's owner
    assert c.request(port, "GET", "/v1/key/list/" + prefix + "*") == (
        200, {"names": [name], "continue_at": ""})
    ctx = b64(b'{"bucket":"bucket/object"}')
    status, gen = c.request(port, "PUT", "/v1/key/generate/" + name, {"context": ctx})
    assert status == 200 and len(unb64(gen["plaintext"])) == 32
    assert c.request(port, "PUT", "/v1/key/decrypt/" + name,
                     {"ciphertext": gen["ciphertext"], "context": ctx}) == (
        200, {"plaintext": gen["plaintext"]})
    assert c.request(port, "PUT", "/v1/key/decrypt/" + name,
                     {"ciphertext": gen["ciphertext"], "context": b64(b"{}")}) == (
        400, {"message": "decryption failed: ciphertext is not authentic"})
    status, enc = c.request(port, "POST", "/v1/key/encrypt/" + name, {"plaintext": b64(b"hi")})
    assert status == 200
    assert c.request(port, "PUT", "/v1/key/decrypt/" + name, {"ciphertext": enc["ciphertext"]}) == (
        200, {"plaintext": b64(b"hi")})
    status, mac = c.request(port, "PUT", "/v1/key/hmac/" + name, {"message": b64(b"m")})
    assert status == 200 and len(unb64(mac["hmac"])) == 32
    assert c.request(port, "GET", "/v1/key/describe/" + prefix + "-none") == NOT_FOUND
    assert c.request(port, "GET", "/v1/key/describe/-bad")[0] == 400
    if who == "admin":
        assert c.request(port, "PUT", "/v1/key/import/" + prefix + "-imp",
                         {"key": b64(bytes(32)), "cipher": "ChaCha20"}) == (200, None)
        assert c.request(port, "DELETE", "/v1/key/delete/" + name) == (200, None)
        assert c.request(port, "GET", "/v1/key/describe/" + name) == NOT_FOUND
    else:  # the policy does not allow these
        assert c.request(port, "PUT", "/v1/key/import/" + prefix + "-imp",
                         {"key": b64(bytes(32)), "cipher": "AES256"}) == DENIED
        assert c.request(port, "DELETE", "/v1/key/delete/" + name) == DENIED


def test_identity_and_policy_routes(clients, port):
    admin, minio, alice, bob = (clients[w] for w in ("admin", "minio", "alice", "bob"))
    assert admin.request(port, "GET", "/v1/identity/self/describe") == (
        200, {"identity": admin.identity, "policy": "", "admin": True})
    status, data = minio.request(port, "GET", "/v1/identity/self/describe")
    assert status == 200 and data["identity"] == minio.identity and data["policy"] == "minio"
    assert data["allow"] == POLICY_ALLOW and "/v1/key/decrypt/minio-sealed" in data["deny"]
    assert admin.request(port, "GET", "/v1/identity/describe/" + bob.identity) == (
        200, {"policy": "reader"})
    assert admin.request(port, "GET", "/v1/identity/describe/" + admin.identity) == (
        200, {"policy": "", "admin": True})
    assert admin.request(port, "GET", "/v1/identity/describe/" + clients["nobody"].identity) == (
        404, {"message": "identity does not exist"})
    status, data = admin.request(port, "GET", "/v1/identity/list/*")
    want = sorted([admin.identity, minio.identity, alice.identity, bob.identity])
    assert status == 200 and data == {"identities": want, "continue_at": ""}
    assert admin.request(port, "GET", "/v1/identity/list/" + bob.identity[:10] + "*")[1][
        "identities"] == [bob.identity]

    assert admin.request(port, "GET", "/v1/policy/list") == (
        200, {"names": ["minio", "reader"], "continue_at": ""})
    assert admin.request(port, "GET", "/v1/policy/list/mi*")[1]["names"] == ["minio"]
    status, data = admin.request(port, "GET", "/v1/policy/describe/reader")
    assert status == 200 and data["name"] == "reader" and set(data) == {
        "name", "created_at", "created_by"}
    status, data = minio.request(port, "GET", "/v1/policy/read/minio")
    assert status == 200 and data["allow"] == POLICY_ALLOW
    assert admin.request(port, "GET", "/v1/policy/read/nope") == (
        404, {"message": "policy does not exist"})
    # minio may read its own policy only
    assert minio.request(port, "GET", "/v1/policy/read/reader") == DENIED
    assert minio.request(port, "GET", "/v1/policy/list") == DENIED


# ---- policies -------------------------------------------------------------------


def test_policy_allow_and_deny(clients, port):
    admin, minio, bob = clients["admin"], clients["minio"], clients["bob"]
    assert minio.request(port, "PUT", "/v1/key/create/minio-sealed") == (200, None)
    status, gen = minio.request(port, "PUT", "/v1/key/generate/minio-sealed", {})
    assert status == 200
    # deny beats allow ("/v1/key/decrypt/minio-*")
    assert minio.request(port, "PUT", "/v1/key/decrypt/minio-sealed",
                         {"ciphertext": gen["ciphertext"]}) == DENIED
    assert minio.request(port, "PUT", "/v1/key/hmac/minio-sealed", {"message": ""}) == DENIED
    # the admin is not bound by any policy
    assert admin.request(port, "PUT", "/v1/key/decrypt/minio-sealed",
                         {"ciphertext": gen["ciphertext"]}) == (200, {"plaintext": gen["plaintext"]})
    # outside the prefix
    assert minio.request(port, "PUT", "/v1/key/create/other") == DENIED
    assert minio.request(port, "GET", "/v1/key/describe/other") == DENIED
    # bob reads metadata and nothing else; keys are shared by the namespace
    status, data = bob.request(port, "GET", "/v1/key/describe/minio-sealed")
    assert status == 200 and data["name"] == "minio-sealed"
    assert "minio-sealed" in bob.request(port, "GET", "/v1/key/list/*")[1]["names"]
    assert bob.request(port, "PUT", "/v1/key/generate/minio-sealed", {}) == DENIED
    assert bob.request(port, "GET", "/v1/status") == DENIED


def test_policy_decisions_are_audited(kes_server, clients, port):
    nobody = clients["nobody"]
    assert nobody.request(port, "PUT", "/v1/key/generate/audited-denial", {}) == DENIED
    minio = clients["minio"]
    assert minio.request(port, "PUT", "/v1/key/create/minio-audited") == (200, None)
    import sqlite3
    with sqlite3.connect(str(kes_server.db_path)) as db:
        cols = [r[1] for r in db.execute("PRAGMA table_info(audit)")]
        rows = [dict(zip(cols, r)) for r in db.execute("SELECT * FROM audit")]
    text = [" ".join(str(v) for v in r.values()) for r in rows]
    assert any(nobody.identity in t and "/v1/key/generate/audited-denial" in t for t in text)
    assert any(minio.identity in t and "kes_key_create" in t for t in text)


def test_minio_startup_with_api_key(clients, port):
    """MinIO with MINIO_KMS_KES_API_KEY: generate on its missing default key,
    create it, generate, decrypt, then the HMAC of its root credentials."""
    minio = clients["minio"]
    name = "minio-default-key"
    ctx = b64(json.dumps({"bucket": "b/o"}, separators=(",", ":")).encode())
    assert minio.request(port, "POST", "/v1/key/generate/" + name, {"context": ctx}) == NOT_FOUND
    assert minio.request(port, "POST", "/v1/key/create/" + name) == (200, None)
    status, gen = minio.request(port, "POST", "/v1/key/generate/" + name, {"context": ctx})
    assert status == 200
    assert minio.request(port, "POST", "/v1/key/decrypt/" + name,
                         {"ciphertext": gen["ciphertext"], "context": ctx}) == (
        200, {"plaintext": gen["plaintext"]})
    macs = {minio.request(port, "PUT", "/v1/key/hmac/" + name,
                          {"message": b64(b"root access key")})[1]["hmac"] for _ in range(2)}
    assert len(macs) == 1 and len(unb64(macs.pop())) == 32


# ---- the same key over KMIP ---------------------------------------------------------


def test_kes_key_over_kmip_follows_policy(kes_server, clients, client, port):
    minio = clients["minio"]
    assert minio.request(port, "PUT", "/v1/key/create/minio-cross") == (200, None)
    name = af.create_attribute(enums.AttributeType.NAME, "minio-cross")
    # alice holds the "minio" policy: she finds the key by name over KMIP
    # and encrypts and decrypts with it, as her policy allows over KES
    a = client(kes_server, "alice")
    uids = a.locate(attributes=[name])
    assert len(uids) == 1
    ct, iv = a.encrypt(b"over kmip", uid=uids[0])
    assert a.decrypt(ct, uid=uids[0], iv_counter_nonce=iv) == b"over kmip"
    # no policy route hands out key material
    with pytest.raises(FAILURES) as ei:
        a.get(uids[0])
    assert ei.value.reason == enums.ResultReason.PERMISSION_DENIED
    # bob ("reader": describe and list) finds it but may not use it
    b = client(kes_server, "bob")
    assert b.locate(attributes=[name]) == uids
    with pytest.raises(FAILURES) as ei:
        b.encrypt(b"x", uid=uids[0])
    assert ei.value.reason == enums.ResultReason.PERMISSION_DENIED
    # a key outside alice's prefix, made by the admin, is invisible to her
    assert clients["admin"].request(port, "PUT", "/v1/key/create/private-cross") == (200, None)
    assert a.locate(attributes=[af.create_attribute(enums.AttributeType.NAME,
                                                    "private-cross")]) == []


def test_grants_follow_the_policy_file_at_start(kes_server, clients, client, port, tmp_path):
    """A key made before a policy change: after a restart with the new file,
    its KMIP grants are the new policy's."""
    admin = clients["admin"]
    assert admin.request(port, "PUT", "/v1/key/create/minio-restart") == (200, None)
    name = af.create_attribute(enums.AttributeType.NAME, "minio-restart")
    a = client(kes_server, "alice")
    assert len(a.locate(attributes=[name])) == 1
    path = kes_server.extra_args[kes_server.extra_args.index("--kes-policy-file") + 1]
    policy = json.loads(open(path).read())
    saved = json.dumps(policy)
    policy["policy"]["minio"]["identities"].remove(clients["alice"].identity)
    open(path, "w").write(json.dumps(policy))
    try:
        kes_server.restart()
        a = client(kes_server, "alice")
        assert a.locate(attributes=[name]) == []
        assert clients["alice"].request(kes_server.kes_port, "GET",
                                        "/v1/key/describe/minio-restart") == DENIED
    finally:
        open(path, "w").write(saved)
        kes_server.restart()


# ---- log streams ------------------------------------------------------------------


def open_stream(client, port, path):
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=kh_support.scaled(10),
                                       context=client.context())
    conn.request("GET", path)
    r = conn.getresponse()
    return conn, r


def test_audit_and_error_streams(clients, port):
    admin, minio, nobody = clients["admin"], clients["minio"], clients["nobody"]
    conn, r = open_stream(admin, port, "/v1/log/audit")
    econn, er = open_stream(admin, port, "/v1/log/error")
    try:
        assert r.status == 200 and r.getheader("Content-Type") == "application/x-ndjson"
        assert er.status == 200
        assert minio.request(port, "PUT", "/v1/key/create/minio-streamed") == (200, None)
        assert nobody.request(port, "GET", "/v1/status") == DENIED
        events = [json.loads(r.readline()) for _ in range(2)]
        assert events[0]["request"]["path"] == "/v1/key/create/minio-streamed"
        assert events[0]["request"]["identity"] == minio.identity
        assert events[0]["request"]["ip"] == "127.0.0.1"
        assert events[0]["response"]["code"] == 200 and events[0]["response"]["time"] > 0
        assert events[0]["time"].endswith("Z")
        assert events[1]["request"]["identity"] == nobody.identity
        assert events[1]["response"]["code"] == 403
        # a warning in the server's log reaches the error stream: an
        # unusable client certificate (two leaves) is one
        line = None
        two = kh_support.CERTS.dir / "stream-two-leaves.pem"
        two.write_bytes(open(clients["alice"].cert, "rb").read() +
                        open(clients["bob"].cert, "rb").read())
        Client(kh_support.CERTS, str(two), clients["alice"].key, "").request(
            port, "GET", "/v1/status")
        line = json.loads(er.readline())
        assert set(line) == {"message"} and "client certificate" in line["message"]
    finally:
        conn.close()
        econn.close()
    # a policy that does not allow the stream refuses it
    c2, r2 = open_stream(minio, port, "/v1/log/audit")
    try:
        assert r2.status == 403
    finally:
        c2.close()


def test_stream_subscriber_that_stops_reading_is_cut_off(clients, port):
    """A subscriber that never reads is disconnected once about 1 MiB waits
    for it, instead of the server buffering its stream without bound."""
    import http.client
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window
    sock.settimeout(kh_support.scaled(10))
    sock.connect(("127.0.0.1", port))
    sub = clients["admin"].context().wrap_socket(sock, server_hostname="127.0.0.1")
    sub.sendall(b"GET /v1/log/audit HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    # refusals: one audit line of ~200 bytes each, from four connections at
    # once; ~2 MB in all
    path = "/v1/status"

    def flood(n):
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=kh_support.scaled(10),
                                           context=clients["nobody"].context())
        try:
            for _ in range(n):
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                assert r.status == 403
        finally:
            conn.close()

    sent = 4 * 2500
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(flood, sent // 4) for _ in range(4)]:
                f.result()
        got = 0
        sub.settimeout(kh_support.scaled(5))
        with pytest.raises((ConnectionError, ssl.SSLError, OSError)) as ended:
            while True:
                data = sub.recv(65536)
                if not data:
                    raise ConnectionResetError("end of stream")
                got += len(data)
        assert not isinstance(ended.value, socket.timeout), ("the stream was never cut off", got)
        assert got < 150 * sent, (got, sent)  # far from all of it arrived
    finally:
        sub.close()
    assert clients["admin"].request(port, "GET", "/v1/status")[0] == 200  # still serving


def test_server_stops_with_streams_open(certs, clients, tmp_path):
    admin = clients["admin"]
    srv = kh_support.KeyholdServer(tmp_path / "srv", certs, extra_args=[
        "--kes-admin-identity", admin.identity])
    srv.start()
    try:
        streams = [open_stream(admin, srv.kes_port, p) for p in ("/v1/log/audit",
                                                                 "/v1/log/error")]
        assert all(r.status == 200 for _, r in streams)
        assert admin.request(srv.kes_port, "PUT", "/v1/key/create/k") == (200, None)
        assert json.loads(streams[0][1].readline())["request"]["path"] == "/v1/key/create/k"
        srv.stop()  # exit 0, sanitizer-clean, with both streams still open
        import http.client
        for conn, r in streams:  # the streams end (cut short: the server is gone)
            with pytest.raises(http.client.IncompleteRead):
                r.read()
            conn.close()
    finally:
        srv.kill()


# ---- configuration ------------------------------------------------------------------


def test_kes_tls_auth_on(certs, clients, tmp_path):
    """--kes-tls-auth on: certificates must chain to --tls-ca; a self-signed
    API key certificate or another CA's is refused in the handshake."""
    alice = clients["alice"]
    srv = kh_support.KeyholdServer(tmp_path / "srv", certs, extra_args=[
        "--kes-tls-auth", "on", "--kes-admin-identity", alice.identity])
    srv.start()
    try:
        assert alice.request(srv.kes_port, "GET", "/v1/status")[0] == 200
        for who in ("nobody", "mallory"):
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                handshake(srv.kes_port, clients[who].context())
    finally:
        srv.stop()


def test_no_kes_listener_and_bad_configuration(certs, clients, tmp_path):
    srv = kh_support.KeyholdServer(tmp_path / "off", certs, extra_args=["--kes-port", "-1"])
    srv.start()
    try:
        assert srv.kes_port == 0
    finally:
        srv.stop()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"policy": {"p": {"allow": ["no-slash"]}}}))
    for args in (["--kes-policy-file", str(bad)],
                 ["--kes-policy-file", str(tmp_path / "missing.json")],
                 ["--kes-admin-identity", "not-an-identity"],
                 ["--kes-tls-auth", "maybe"]):
        srv = kh_support.KeyholdServer(tmp_path / "bad", certs, extra_args=args)
        with pytest.raises(kh_support.ServerError):
            srv.start()


def test_cli_identity_matches_the_certificate(clients, tmp_path):
    key = new_api_key()
    _, _, identity = apikey_certificate(tmp_path, key, "cli")
    bin_ = str(kh_support.keyhold_bin())
    r = subprocess.run([bin_, "kes", "identity", key], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == identity
    r = subprocess.run([bin_, "kes", "identity", "-"], input=key + "\n", capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.strip() == identity
    r = subprocess.run([bin_, "kes", "apikey"], capture_output=True, text=True)
    assert r.returncode == 0
    out = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
    assert apikey_certificate(tmp_path, out["api_key"], "new")[2] == out["identity"]
    r = subprocess.run([bin_, "kes", "identity", "kes:v1:nope"], capture_output=True, text=True)
    assert r.returncode != 0 and "kes:v1:nope" not in r.stderr
    # a certificate file: the identity the KES listener gives it
    alice = clients["alice"]
    r = subprocess.run([bin_, "kes", "identity", alice.cert], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == alice.identity
    r = subprocess.run([bin_, "kes", "identity", alice.key], capture_output=True, text=True)
    assert r.returncode != 0


def test_oversized_body_on_kes_listener(clients, port):
    status, _, _ = clients["admin"].request(port, "PUT", "/v1/key/encrypt/k",
                                            b"x" * ((1 << 20) + 1), raw=True)
    assert status == 413


def test_a_granted_key_never_stands_in_for_a_namespace_key(kes_server, clients, client, port):
    """alice makes a key called like MinIO's over KMIP and grants it to
    everyone: the KES namespace must not use it (alice can read its
    material), so MinIO still sees 404, creates its own key and uses it."""
    a = client(kes_server, "alice")
    uid = a.create(enums.CryptographicAlgorithm.AES, 256, name="minio-planted")
    r = subprocess.run([str(kh_support.keyhold_bin()), "grant", "add", "--db",
                        "sqlite://" + str(kes_server.db_path), "--owner", clients["alice"].identity,
                        "--object", uid, "--to", "*", "--permissions", "all"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    minio = clients["minio"]
    assert minio.request(port, "PUT", "/v1/key/generate/minio-planted", {}) == NOT_FOUND
    assert "minio-planted" not in minio.request(port, "GET", "/v1/key/list/*")[1]["names"]
    assert minio.request(port, "PUT", "/v1/key/create/minio-planted") == (200, None)
    status, gen = minio.request(port, "PUT", "/v1/key/generate/minio-planted", {})
    assert status == 200
    key = a.get(uid).value  # alice's key cannot open what the namespace's key sealed
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    ct = unb64(gen["ciphertext"])
    with pytest.raises(Exception):
        AESGCM(key).decrypt(ct[5:17], ct[17:], ct[:5])


# ---- Go's TLS stack, as MinIO's KES client uses it -------------------------------------


@pytest.fixture(scope="module")
def go_client(tmp_path_factory):
    """tests/integration/go_kes_client built with the Go toolchain (Debian's
    golang-go, standard library only, no network)."""
    import shutil
    if not shutil.which("go"):
        pytest.skip("go (Debian golang-go) is not installed")
    out = tmp_path_factory.mktemp("go") / "go_kes_client"
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go_kes_client")
    env = dict(os.environ, GOPROXY="off", GOFLAGS="-mod=mod", CGO_ENABLED="0")
    r = subprocess.run(["go", "build", "-o", str(out), "."], cwd=src, env=env,
                       capture_output=True, text=True, timeout=kh_support.scaled(300))
    assert r.returncode == 0, r.stderr
    return str(out)


def go_requests(go_client, certs, port, credentials, lines, tls_max=None):
    env = dict(os.environ)
    if tls_max:
        env["KES_TLS_MAX"] = tls_max
    r = subprocess.run([go_client, certs.ca, "https://127.0.0.1:%d" % port, *credentials],
                       input="\n".join(lines) + "\n", capture_output=True, text=True, env=env,
                       timeout=kh_support.scaled(60))
    answers = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(answers) == len(lines), (r.stdout, r.stderr)
    return [(a.get("status"), json.loads(a["body"]) if a.get("body") else a.get("error"))
            for a in answers]


@pytest.mark.parametrize("tls_max", ["1.2", None])
def test_go_client_with_api_key_and_certificate(go_client, certs, clients, kes_server, port,
                                                tls_max):
    """MinIO's start-up over Go's TLS: with an API key (Ed25519, self-signed)
    and with a certificate from another CA; both are sent because no CA
    list restricts them, and both are identified by their keys."""
    key = new_api_key()  # an identity without a policy: it may describe itself
    ident = go_requests(go_client, certs, port, [key],
                        ["GET /v1/identity/self/describe"], tls_max)
    raw = base64.b64decode(key[len("kes:v1:"):])
    want = spki_identity(Ed25519PrivateKey.from_private_bytes(raw[1:]).public_key())
    assert ident == [(200, {"identity": want, "policy": ""})]
    # alice's certificate holds the "minio" policy
    name = "minio-go-" + (tls_max or "13").replace(".", "")
    ctx = b64(b'{"bucket":"b/o"}')
    alice = [clients["alice"].cert, clients["alice"].key]  # policy "minio"
    answers = go_requests(go_client, certs, port, alice, [
        "POST /v1/key/generate/%s {\"context\":\"%s\"}" % (name, ctx),
        "POST /v1/key/create/%s" % name,
        "POST /v1/key/generate/%s {\"context\":\"%s\"}" % (name, ctx),
        "PUT /v1/key/hmac/%s {\"message\":\"%s\"}" % (name, b64(b"root access key")),
    ], tls_max)
    assert answers[0] == NOT_FOUND and answers[1] == (200, None), answers
    status, gen = answers[2]
    assert status == 200 and answers[3][0] == 200
    dec = go_requests(go_client, certs, port, alice, [
        "POST /v1/key/decrypt/%s {\"ciphertext\":\"%s\",\"context\":\"%s\"}" % (
            name, gen["ciphertext"], ctx)], tls_max)
    assert dec == [(200, {"plaintext": gen["plaintext"]})]
    # mallory's CA is unknown to keyhold: Go sends the certificate anyway
    mallory = [clients["mallory"].cert, clients["mallory"].key]
    assert go_requests(go_client, certs, port, mallory, ["GET /v1/identity/self/describe"],
                       tls_max) == [(200, {"identity": clients["mallory"].identity,
                                           "policy": ""})]


def test_go_withholds_its_certificate_when_a_ca_list_is_sent(go_client, certs, clients,
                                                             kes_server):
    """Why the KES listener sends no CA list: on the HTTPS listener, which
    names --tls-ca, Go keeps mallory's certificate to itself (the request
    then acts without one)."""
    mallory = [clients["mallory"].cert, clients["mallory"].key]
    answers = go_requests(go_client, certs, kes_server.https_port, mallory,
                          ["GET /v1/identity/self/describe"])
    assert answers == [(200, {"identity": "admin", "policy": "", "admin": True})]


def test_name_claims(kes_server, clients, port):
    """The store's KES name table: a creation under way elsewhere (a recent
    pending claim) makes 'key already exists'; one whose creator died (an
    old pending claim) or whose key was deleted frees the name."""
    import sqlite3
    import time
    admin = clients["admin"]
    now = int(time.time())
    with sqlite3.connect(str(kes_server.db_path)) as db:
        db.execute("INSERT INTO kes_name(owner, name, holder, claimed_at) VALUES"
                   " ('kes', 'claimed-now', ?, ?), ('kes', 'claimed-long-ago', ?, ?)",
                   ("pending:%d:aa" % now, now, "pending:%d:bb" % (now - 3600), now - 3600))
    assert admin.request(port, "PUT", "/v1/key/create/claimed-now") == (
        400, {"message": "key already exists"})
    assert admin.request(port, "GET", "/v1/key/describe/claimed-now") == NOT_FOUND
    assert admin.request(port, "PUT", "/v1/key/create/claimed-long-ago") == (200, None)
    assert admin.request(port, "DELETE", "/v1/key/delete/claimed-long-ago") == (200, None)
    assert admin.request(port, "PUT", "/v1/key/create/claimed-long-ago") == (200, None)
    with sqlite3.connect(str(kes_server.db_path)) as db:
        holder = db.execute("SELECT holder FROM kes_name WHERE owner = 'kes' AND"
                            " name = 'claimed-long-ago'").fetchone()[0]
    status, data = admin.request(port, "GET", "/v1/key/describe/claimed-long-ago")
    assert status == 200 and not holder.startswith("pending:")
