"""JWT bearer tokens on the HTTPS listener (docs/authentication.md).

The test is the issuer: it makes RSA and EC P-256 keys with
python3-cryptography, serves their JWKS itself over real HTTPS (and plain
HTTP where that is the point) from a thread, and signs tokens. keyhold
fetches the JWKS with libcurl, verifies RS256/ES256 tokens and acts as
jwt:<iss>#<sub>: two subjects cannot see each other's objects; expired,
wrong audience, wrong issuer, wrong key, alg none and HS256 tokens get
401 with a JSON message that never echoes the token; a key that appears
in the JWKS later (rotation) is picked up.
"""
import base64
import http.server
import json
import math
import sqlite3
import ssl
import threading
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import kh_support
from kh_support import https_connection

ISS = "https://issuer.test/realm"
AUD = "keyhold-tests"
MIN_REFETCH = 1  # --jwks-min-refetch for the module's server


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_int(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwk_of(kid, key):
    pub = key.public_key().public_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": b64url_int(pub.n), "e": b64url_int(pub.e)}
    return {"kty": "EC", "kid": kid, "crv": "P-256",
            "x": b64url(pub.x.to_bytes(32, "big")), "y": b64url(pub.y.to_bytes(32, "big"))}


def sign_token(key, header, claims, alg=None):
    """A compact JWS: RS256 for an RSA key, ES256 (raw r||s) for EC; alg
    "HS256" uses key (bytes) as the HMAC secret, "none" signs nothing."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = (h + "." + p).encode()
    if alg == "none":
        sig = b""
    elif alg == "HS256":
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(signing_input)
        sig = mac.finalize()
    elif isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return h + "." + p + "." + b64url(sig)


class Issuer:
    """Keys, a JWKS served over HTTP(S) from a thread, and token minting."""

    def __init__(self, certs=None):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.jwks = {"keys": [jwk_of("rsa-1", self.rsa), jwk_of("ec-1", self.ec)]}
        self.fetches = 0
        self.mode = "ok"  # "redirect", "error", "huge": how the JWKS is answered
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                issuer.fetches += 1
                if issuer.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/jwks.json")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if issuer.mode == "error":
                    self.send_error(500)
                    return
                body = json.dumps(issuer.jwks).encode()
                if issuer.mode == "huge":  # valid JSON, over keyhold's 256 KiB limit
                    body = body[:-1] + b',"pad":"' + b"x" * (300 * 1024) + b'"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if certs is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certs.cert("server"), certs.key("server"))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d/jwks.json" % (scheme, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def token(self, sub, key=None, kid=None, alg=None, **overrides):
        now = int(time.time())
        claims = {"iss": ISS, "sub": sub, "aud": AUD, "iat": now, "exp": now + 300}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = key if key is not None else self.rsa
        if kid is None:
            kid = "rsa-1" if isinstance(key, rsa.RSAPrivateKey) else "ec-1"
        if alg is None:
            alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return sign_token(key, {"alg": alg, "kid": kid, "typ": "JWT"}, claims, alg)


@pytest.fixture(scope="module")
def issuer(certs):
    i = Issuer(certs)
    yield i
    i.close()


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory, certs, issuer):
    srv = kh_support.KeyholdServer(
        tmp_path_factory.mktemp("jwt"), certs,
        extra_args=["--jwt-issuer", ISS, "--jwks-url", issuer.url, "--jwks-ca", certs.ca,
                    "--jwt-audience", AUD, "--jwks-min-refetch", str(MIN_REFETCH)])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


# ---- KMIP JSON with a token ----------------------------------------------------


def item(tag, type_, value):
    return {"tag": tag, "type": type_, "value": value}


CREATE = item("Create", "Structure", [
    item("ObjectType", "Enumeration", "SymmetricKey"),
    item("Attributes", "Structure", [
        item("CryptographicAlgorithm", "Enumeration", "AES"),
        item("CryptographicLength", "Integer", 256),
        item("CryptographicUsageMask", "Integer", 12),
    ]),
])


def get_payload(uid):
    return item("Get", "Structure", [item("UniqueIdentifier", "TextString", uid)])


def post(port, body, token=None, authorization=None):
    conn = https_connection(port, who=None)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    if authorization is not None:
        headers["Authorization"] = authorization
    try:
        conn.request("POST", "/kmip/2_1", json.dumps(body), headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def create(port, token):
    status, resp = post(port, CREATE, token)
    assert status == 200, resp
    return next(k["value"] for k in resp["value"] if k["tag"] == "UniqueIdentifier")


def owner_of(srv, uid):
    db = sqlite3.connect("file:%s?mode=ro" % srv.db_path, uri=True)
    try:
        return db.execute("SELECT owner FROM object WHERE uid = ?", (uid,)).fetchone()[0]
    finally:
        db.close()


# ---- tests ------------------------------------------------------------------------


def test_startup_says_jwt_is_on(jwt_server, issuer):
    log = jwt_server.log()
    assert "JWT authentication is ON" in log and ISS in log, log
    assert issuer.fetches >= 1  # fetched at start-up


def test_valid_tokens_act_as_jwt_identity(jwt_server, issuer):
    port = jwt_server.https_port
    uid = create(port, issuer.token("alice"))
    assert owner_of(jwt_server, uid) == "jwt:%s#alice" % ISS
    # the same subject with an ES256 token is the same identity
    status, resp = post(port, get_payload(uid), issuer.token("alice", key=issuer.ec))
    assert status == 200 and resp["tag"] == "GetResponse", resp
    # scheme case-insensitive, aud as an array
    status, resp = post(port, get_payload(uid),
                        authorization="bearer " + issuer.token("alice", aud=["x", AUD]))
    assert status == 200, resp


def test_subjects_cannot_see_each_other(jwt_server, issuer):
    port = jwt_server.https_port
    a = create(port, issuer.token("alice"))
    b = create(port, issuer.token("bob", key=issuer.ec))
    assert owner_of(jwt_server, b) == "jwt:%s#bob" % ISS
    for uid, other in ((a, issuer.token("bob")), (b, issuer.token("alice"))):
        status, resp = post(port, get_payload(uid), other)
        assert status == 404 and resp["result_reason"] == "ItemNotFound", resp
    # and single-user "admin" (no token, no certificate) sees neither
    status, resp = post(port, get_payload(a))
    assert status == 404, resp


def refused_tokens(issuer):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_ec = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    pub_pem = issuer.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "expired": (issuer.token("alice", exp=now - 3600), "expired"),
        "no exp": (issuer.token("alice", exp=None), "expired"),
        "not yet valid": (issuer.token("alice", nbf=now + 3600), "not yet valid"),
        "wrong audience": (issuer.token("alice", aud="someone-else"), "audience"),
        "no audience": (issuer.token("alice", aud=None), "audience"),
        "wrong issuer": (issuer.token("alice", iss="https://evil.test"), "issuer"),
        "wrong rsa key, same kid": (issuer.token("alice", key=other), "signature"),
        "wrong ec key, same kid": (issuer.token("alice", key=other_ec), "signature"),
        "unknown kid": (issuer.token("alice", key=other, kid="nope-" + uuid.uuid4().hex),
                        "key"),
        "alg none": (issuer.token("alice", alg="none") + "AAAA", "algorithm"),
        "alg none, empty signature": (issuer.token("alice", alg="none"), "well-formed"),
        "HS256 with the public key": (issuer.token("alice", key=pub_pem, kid="rsa-1",
                                                   alg="HS256"), "algorithm"),
        "RS256 header on the EC key": (issuer.token("alice", key=issuer.rsa, kid="ec-1"),
                                       "key"),
        "garbage": ("abc.def.ghi", "well-formed"),
    }


def test_refused_tokens_get_401(jwt_server, issuer):
    port = jwt_server.https_port
    sent = []
    for name, (token, why) in refused_tokens(issuer).items():
        status, resp = post(port, CREATE, token)
        assert status == 401, (name, resp)
        assert set(resp) == {"message"} and why in resp["message"], (name, resp)
        assert token.split(".")[1] not in resp["message"], name
        sent.append(token)
    # tokens never reach the log either
    log = jwt_server.log()
    for token in sent:
        for part in token.split("."):
            assert len(part) < 8 or part not in log


def test_key_rotation_is_picked_up(jwt_server, issuer):
    port = jwt_server.https_port
    new = ec.generate_private_key(ec.SECP256R1())
    token = issuer.token("carol", key=new, kid="ec-2")
    status, _ = post(port, CREATE, token)
    assert status == 401  # not published yet (this also used up the refetch allowance)
    issuer.jwks = {"keys": issuer.jwks["keys"] + [jwk_of("ec-2", new)]}
    time.sleep(MIN_REFETCH + 0.2)
    uid = create(port, token)
    assert owner_of(jwt_server, uid) == "jwt:%s#carol" % ISS
    # the old keys still work
    create(port, issuer.token("carol"))


def test_unknown_kids_do_not_hammer_the_issuer(jwt_server, issuer):
    port = jwt_server.https_port
    other = ec.generate_private_key(ec.SECP256R1())
    before = issuer.fetches
    start = time.monotonic()
    for i in range(30):
        status, _ = post(port, CREATE, issuer.token("eve", key=other, kid="made-up-%d" % i))
        assert status == 401
    elapsed = time.monotonic() - start
    fetched = issuer.fetches - before
    # at most one fetch per MIN_REFETCH seconds, however many tokens arrive
    assert fetched <= 1 + math.ceil(elapsed / MIN_REFETCH), (fetched, elapsed)


def test_no_token_and_certificates_unchanged(jwt_server, issuer):
    """Without an Authorization header, a client certificate still decides."""
    port = jwt_server.https_port
    conn = https_connection(port, who="alice")
    try:
        conn.request("POST", "/kmip/2_1", json.dumps(CREATE), {"Content-Type": "application/json"})
        r = conn.getresponse()
        resp = json.loads(r.read())
    finally:
        conn.close()
    assert r.status == 200, resp
    uid = next(k["value"] for k in resp["value"] if k["tag"] == "UniqueIdentifier")
    assert owner_of(jwt_server, uid) == jwt_server.certs.spki_sha256["alice"]


def test_jwt_without_issuer_configured_is_refused(server, issuer):
    status, resp = post(server.https_port, CREATE, issuer.token("alice"))
    assert status == 401 and "not configured" in resp["message"], resp
    status, _ = post(server.https_port, CREATE)  # single-user mode as before
    assert status == 200


def test_oversized_authorization_is_refused_not_ignored(server):
    """A header too long to read must not fall back to single-user mode."""
    status, resp = post(server.https_port, CREATE, "a." + "b" * 10000 + ".c")
    assert status == 401 and "too long" in resp["message"], resp


def test_plain_http_jwks_needs_explicit_permission(tmp_path, certs):
    plain = Issuer()  # http://
    try:
        args = ["--jwt-issuer", ISS, "--jwks-url", plain.url]
        srv = kh_support.KeyholdServer(tmp_path / "refused", certs, extra_args=args)
        with pytest.raises(kh_support.ServerError, match="https://"):
            srv.start()
        srv = kh_support.KeyholdServer(tmp_path / "allowed", certs,
                                       extra_args=args + ["--jwks-allow-http", "true"])
        srv.start()
        try:
            assert "plain HTTP" in srv.log()
            status, resp = post(srv.https_port, CREATE, plain.token("dave", key=plain.ec))
            assert status == 200, resp
        finally:
            srv.stop()
    finally:
        plain.close()


def test_jwks_over_https_is_verified(tmp_path, certs, issuer):
    """Without --jwks-ca the test issuer's certificate is not trusted: keys
    cannot be fetched and tokens are refused, never accepted unchecked."""
    srv = kh_support.KeyholdServer(
        tmp_path / "noca", certs,
        extra_args=["--jwt-issuer", ISS, "--jwks-url", issuer.url, "--jwks-timeout", "3"])
    srv.start(timeout=20)
    try:
        status, resp = post(srv.https_port, CREATE, issuer.token("alice"))
        assert status == 401 and "unavailable" in resp["message"], resp
        assert "could not be fetched" in srv.log()
    finally:
        srv.stop()


def test_concurrent_tokens(jwt_server, issuer):
    """Workers share the key cache: many clients at once, RS256 and ES256."""
    port = jwt_server.https_port
    errors = []

    def client(n):
        try:
            for i in range(10):
                key = issuer.rsa if (n + i) % 2 else issuer.ec
                status, resp = post(port, CREATE, issuer.token("worker-%d" % n, key=key))
                if status != 200:
                    errors.append((n, i, status, resp))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


@pytest.mark.parametrize("mode", ["redirect", "error", "huge"])
def test_bad_jwks_answers_keep_the_old_keys(tmp_path, certs, mode):
    """A JWKS answer keyhold refuses (a redirect, an HTTP error, a document
    over the size limit) is not taken; the keys held go on working."""
    issuer = Issuer(certs)
    srv = kh_support.KeyholdServer(
        tmp_path / "srv", certs,
        extra_args=["--jwt-issuer", ISS, "--jwks-url", issuer.url, "--jwks-ca", certs.ca,
                    "--jwks-min-refetch", "0", "--jwt-audience", AUD])
    srv.start()
    try:
        port = srv.https_port
        assert post(port, CREATE, issuer.token("alice"))[0] == 200
        new = ec.generate_private_key(ec.SECP256R1())
        issuer.jwks = {"keys": issuer.jwks["keys"] + [jwk_of("ec-new", new)]}
        issuer.mode = mode
        before = issuer.fetches
        status, resp = post(port, CREATE, issuer.token("alice", key=new, kid="ec-new"))
        assert status == 401 and "key" in resp["message"], resp
        assert issuer.fetches > before  # it did ask, and refused the answer
        assert post(port, CREATE, issuer.token("alice"))[0] == 200
        issuer.mode = "ok"
        assert post(port, CREATE, issuer.token("alice", key=new, kid="ec-new"))[0] == 200
    finally:
        srv.stop()
        issuer.close()
