"""The KES API on the HTTPS listener (docs/kes.md): every route with its
exact status codes and messages, MinIO's start-up sequence, context as
associated data, and one key seen from KES and KMIP alike."""
import base64
import hashlib
import hmac
import json

import pytest
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions as pie_exceptions

from kh_support import https_connection

af = AttributeFactory()
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)

NOT_FOUND = (404, {"message": "key does not exist"})
EXISTS = (400, {"message": "key already exists"})
NOT_AUTHENTIC = (400, {"message": "decryption failed: ciphertext is not authentic"})


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


def kes(port, method, path, body=None, who="alice", raw=False):
    """One request; (status, parsed JSON body or None, headers)."""
    conn = https_connection(port, who)
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
    return r.status, (json.loads(payload) if payload else None), headers


def call(port, method, path, body=None, who="alice"):
    status, data, _ = kes(port, method, path, body, who)
    return status, data


@pytest.fixture(scope="module")
def port(module_server):
    return module_server.https_port


# ---- routes without keys ------------------------------------------------------


def test_version_needs_no_certificate(port):
    for who in ("alice", None):
        status, data, headers = kes(port, "GET", "/version", who=who)
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert set(data) == {"version", "commit"} and data["version"]


def test_ready_and_status(port):
    status, payload, _ = kes(port, "GET", "/v1/ready", raw=True)
    assert status == 200 and payload == b""
    status, data = call(port, "GET", "/v1/status")
    assert status == 200
    for k in ("version", "os", "arch", "uptime", "num_cpu", "num_cpu_used", "mem_heap_used",
              "mem_stack_used", "keystore_latency"):
        assert k in data, k
    assert data["os"] == "linux" and data["num_cpu"] >= 1 and data["num_cpu_used"] >= 1
    assert isinstance(data["keystore_latency"], int) and data["keystore_latency"] >= 0
    assert data["uptime"] % 1000000000 == 0  # Go time.Duration, whole seconds
    assert "keystore_unreachable" not in data and "keystore_unavailable" not in data


def test_api_and_metrics(port):
    status, data = call(port, "GET", "/v1/api")
    assert status == 200
    assert {"method": "PUT", "path": "/v1/key/generate/", "max_body": 1 << 20,
            "timeout": 15} in data
    status, payload, headers = kes(port, "GET", "/v1/metrics", raw=True)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b'operation="kes_api"' in payload


def test_identity_and_policies(certs, port):
    status, data = call(port, "GET", "/v1/identity/self/describe")
    assert status == 200 and data == {"identity": certs.spki_sha256["alice"], "policy": ""}
    status, data = call(port, "GET", "/v1/identity/self/describe", who=None)
    assert status == 200 and data == {"identity": "admin", "policy": "", "admin": True}
    assert call(port, "GET", "/v1/identity/describe/" + certs.spki_sha256["bob"]) == (
        404, {"message": "identity does not exist"})
    assert call(port, "GET", "/v1/identity/describe/" + certs.spki_sha256["alice"]) == (
        200, {"policy": ""})
    for path in ("/v1/policy/describe/my-app", "/v1/policy/read/my-app"):
        assert call(port, "GET", path) == (404, {"message": "policy does not exist"})
    assert call(port, "GET", "/v1/policy/list") == (200, {"names": [], "continue_at": ""})


def test_wrong_method_and_unknown_routes(port):
    status, data, headers = kes(port, "GET", "/v1/key/create/k1")
    assert status == 405 and data == {"message": "received method 'GET' expected 'PUT'"}
    assert headers["Allow"] == "PUT, POST"
    status, data, headers = kes(port, "POST", "/v1/key/describe/k1")
    assert status == 405 and data == {"message": "received method 'POST' expected 'GET'"}
    assert headers["Allow"] == "GET"
    status, data, headers = kes(port, "PUT", "/v1/key/delete/k1")
    assert status == 405 and headers["Allow"] == "DELETE"
    assert call(port, "GET", "/v1/nothing/here") == (501, {"message": "not implemented"})
    # the admin API's prefix is not KES's: the admin API answers (a
    # certificate that is no ADMIN user is refused)
    assert call(port, "GET", "/v1/admin/users")[0] == 403


@pytest.mark.parametrize("name", [
    "", "-", "-k", "k-", "_", "a b", "a.b", "a/b", "%41", "k" * 81, "ключ"])
def test_invalid_names(port, name):
    from urllib.parse import quote
    path = quote(name, safe="-_.%/")
    for method, route in (("PUT", "create"), ("POST", "generate"), ("GET", "describe"),
                          ("DELETE", "delete")):
        status, data = call(port, method, "/v1/key/%s/%s" % (route, path))
        assert status == 400, (route, name, data)
        assert data["message"].startswith("key name '") and data["message"].endswith(
            "' is empty, too long or contains invalid characters"), data


@pytest.mark.parametrize("name", ["k", "_k", "k_", "a-b", "A9_z", "k" * 80, "__"])
def test_valid_names(port, name):
    assert call(port, "GET", "/v1/key/describe/" + name) == NOT_FOUND


# ---- keys ---------------------------------------------------------------------


def test_create_describe_list_delete(certs, port):
    assert call(port, "PUT", "/v1/key/create/lifecycle-1") == (200, None)
    assert call(port, "POST", "/v1/key/create/lifecycle-2") == (200, None)  # POST = PUT
    assert call(port, "PUT", "/v1/key/create/lifecycle-1") == EXISTS
    status, data = call(port, "GET", "/v1/key/describe/lifecycle-1")
    assert status == 200
    assert set(data) == {"name", "algorithm", "created_at", "created_by"}
    assert data["name"] == "lifecycle-1" and data["algorithm"] == "AES256"
    assert data["created_by"] == certs.spki_sha256["alice"]
    assert data["created_at"].endswith("Z") and "T" in data["created_at"]

    status, data = call(port, "GET", "/v1/key/list/lifecycle-*")
    assert status == 200 and data == {"names": ["lifecycle-1", "lifecycle-2"], "continue_at": ""}
    assert call(port, "GET", "/v1/key/list/lifecycle-2")[1]["names"] == ["lifecycle-2"]
    assert call(port, "GET", "/v1/key/list/nomatch*")[1]["names"] == []
    for path in ("/v1/key/list", "/v1/key/list/", "/v1/key/list/*"):
        names = call(port, "GET", path)[1]["names"]
        assert {"lifecycle-1", "lifecycle-2"} <= set(names) and names == sorted(names)
    assert call(port, "GET", "/v1/key/list/bad*pattern")[0] == 400

    assert call(port, "DELETE", "/v1/key/delete/lifecycle-1") == (200, None)
    assert call(port, "DELETE", "/v1/key/delete/lifecycle-1") == NOT_FOUND
    assert call(port, "GET", "/v1/key/describe/lifecycle-1") == NOT_FOUND
    assert call(port, "POST", "/v1/key/generate/lifecycle-1", {}) == NOT_FOUND
    assert call(port, "GET", "/v1/key/list/lifecycle-*")[1]["names"] == ["lifecycle-2"]
    # the name is free again
    assert call(port, "PUT", "/v1/key/create/lifecycle-1") == (200, None)
    assert call(port, "GET", "/v1/key/list/lifecycle-*")[1]["names"] == [
        "lifecycle-1", "lifecycle-2"]


def test_minio_startup(port):
    """What MinIO does at start: generate on its default key, create it when
    missing, then round-trip, then derive its root credentials by HMAC."""
    body = {"context": b64(b"")}
    assert call(port, "POST", "/v1/key/generate/minio-default-key", body) == NOT_FOUND
    assert call(port, "POST", "/v1/key/create/minio-default-key") == (200, None)
    status, gen = call(port, "POST", "/v1/key/generate/minio-default-key", body)
    assert status == 200 and set(gen) == {"plaintext", "ciphertext"}
    dek = unb64(gen["plaintext"])
    ct = unb64(gen["ciphertext"])
    assert len(dek) == 32
    assert len(ct) == 1 + 4 + 12 + 32 + 16 and ct[0] == 1 and ct[1:5] == b"\0\0\0\1"
    status, dec = call(port, "POST", "/v1/key/decrypt/minio-default-key",
                       {"ciphertext": gen["ciphertext"], "context": b64(b"")})
    assert status == 200 and unb64(dec["plaintext"]) == dek

    macs = set()
    for _ in range(3):
        status, data = call(port, "PUT", "/v1/key/hmac/minio-default-key",
                            {"message": b64(b"root access key")})
        assert status == 200
        macs.add(data["hmac"])
    assert len(macs) == 1 and len(unb64(macs.pop())) == 32
    other = call(port, "PUT", "/v1/key/hmac/minio-default-key", {"message": b64(b"x")})[1]
    assert other["hmac"] != data["hmac"]


def test_generate_is_fresh_each_time(port):
    call(port, "PUT", "/v1/key/create/fresh")
    a = call(port, "PUT", "/v1/key/generate/fresh", {})[1]
    b = call(port, "PUT", "/v1/key/generate/fresh", {})[1]
    assert a["plaintext"] != b["plaintext"] and a["ciphertext"] != b["ciphertext"]


def test_context_is_associated_data(port):
    call(port, "PUT", "/v1/key/create/ctx-key")
    # MinIO's context: canonical JSON from Go's json.Marshal of a map
    ctx = b64(json.dumps({"bucket": "bucket/object"}, separators=(",", ":")).encode())
    other = b64(b'{"bucket":"other"}')
    status, gen = call(port, "PUT", "/v1/key/generate/ctx-key", {"context": ctx})
    assert status == 200
    assert call(port, "PUT", "/v1/key/decrypt/ctx-key",
                {"ciphertext": gen["ciphertext"], "context": ctx}) == (
        200, {"plaintext": gen["plaintext"]})
    assert call(port, "PUT", "/v1/key/decrypt/ctx-key",
                {"ciphertext": gen["ciphertext"], "context": other}) == NOT_AUTHENTIC
    assert call(port, "PUT", "/v1/key/decrypt/ctx-key",
                {"ciphertext": gen["ciphertext"]}) == NOT_AUTHENTIC
    # absent, null and empty context are the same
    status, enc = call(port, "PUT", "/v1/key/encrypt/ctx-key", {"plaintext": b64(b"hello")})
    assert status == 200
    for c in (None, "", b64(b"")):
        body = {"ciphertext": enc["ciphertext"]}
        if c is not None:
            body["context"] = c
        assert call(port, "PUT", "/v1/key/decrypt/ctx-key", body) == (
            200, {"plaintext": b64(b"hello")})


def test_tampered_ciphertexts(port):
    call(port, "PUT", "/v1/key/create/tamper")
    call(port, "PUT", "/v1/key/create/tamper-other")
    status, enc = call(port, "PUT", "/v1/key/encrypt/tamper", {"plaintext": b64(b"secret data")})
    assert status == 200
    ct = unb64(enc["ciphertext"])
    variants = [ct[:-1], ct[:20], b"", bytes([2]) + ct[1:], ct[:4] + b"\2" + ct[5:]]
    for i in range(len(ct)):
        variants.append(ct[:i] + bytes([ct[i] ^ 1]) + ct[i + 1:])
    for v in variants:
        assert call(port, "PUT", "/v1/key/decrypt/tamper", {"ciphertext": b64(v)}) == NOT_AUTHENTIC
    # another key's ciphertext
    assert call(port, "PUT", "/v1/key/decrypt/tamper-other",
                {"ciphertext": enc["ciphertext"]}) == NOT_AUTHENTIC


def test_bad_bodies(port):
    call(port, "PUT", "/v1/key/create/bodies")
    for body in ("not json", "[1]", json.dumps({"plaintext": "***"}),
                 json.dumps({"plaintext": 5}), json.dumps({"plaintext": "QQ"})):
        assert call(port, "PUT", "/v1/key/encrypt/bodies", body) == (
            400, {"message": "invalid request body"}), body
    # an empty body is {}: empty plaintext
    status, enc = call(port, "PUT", "/v1/key/encrypt/bodies", b"")
    assert status == 200
    assert call(port, "PUT", "/v1/key/decrypt/bodies", {"ciphertext": enc["ciphertext"]}) == (
        200, {"plaintext": ""})


def test_import(port, module_server, client):
    key = bytes(range(32))
    assert call(port, "PUT", "/v1/key/import/imported-aes",
                {"key": b64(key), "cipher": "AES256"}) == (200, None)
    assert call(port, "PUT", "/v1/key/import/imported-aes",
                {"key": b64(key), "cipher": "AES256"}) == EXISTS
    assert call(port, "PUT", "/v1/key/import/imported-cc",
                {"key": b64(key), "cipher": "ChaCha20"}) == (200, None)
    assert call(port, "GET", "/v1/key/describe/imported-cc")[1]["algorithm"] == "ChaCha20"
    assert call(port, "PUT", "/v1/key/import/short", {"key": b64(key[:16]), "cipher": "AES256"}) == (
        400, {"message": "invalid key size"})
    assert call(port, "PUT", "/v1/key/import/nocipher", {"key": b64(key), "cipher": "DES"})[0] == 400

    # decrypt the ciphertext ourselves: the format is documented
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    for name, aead in (("imported-aes", AESGCM(key)), ("imported-cc", ChaCha20Poly1305(key))):
        status, enc = call(port, "PUT", "/v1/key/encrypt/" + name,
                           {"plaintext": b64(b"msg"), "context": b64(b"ctx")})
        assert status == 200
        ct = unb64(enc["ciphertext"])
        hdr, nonce, body = ct[:5], ct[5:17], ct[17:]
        assert aead.decrypt(nonce, body, hdr + b"ctx") == b"msg"
        # and the other way round
        nonce = bytes(12)
        mine = b"\1\0\0\0\1" + nonce + aead.encrypt(nonce, b"theirs", b"\1\0\0\0\1")
        assert call(port, "PUT", "/v1/key/decrypt/" + name, {"ciphertext": b64(mine)}) == (
            200, {"plaintext": b64(b"theirs")})

    # HMAC is HMAC-SHA-256 under HKDF-Expand(key, "keyhold/kes/hmac/v1", 32)
    sub = hmac.new(key, b"keyhold/kes/hmac/v1\x01", hashlib.sha256).digest()
    want = hmac.new(sub, b"root access key", hashlib.sha256).digest()
    assert call(port, "PUT", "/v1/key/hmac/imported-aes", {"message": b64(b"root access key")}) == (
        200, {"hmac": b64(want)})


# ---- one key, two protocols, two identities ------------------------------------


def test_kes_key_is_a_kmip_key(port, module_server, client):
    assert call(port, "PUT", "/v1/key/create/cross-proto") == (200, None)
    c = client(module_server)
    name = af.create_attribute(enums.AttributeType.NAME, "cross-proto")
    uids = c.locate(attributes=[name])
    assert len(uids) == 1
    got_uid, attrs = c.get_attributes(uids[0], ["State", "Cryptographic Usage Mask",
                                                 "Cryptographic Algorithm",
                                                 "Cryptographic Length"])
    values = {a.attribute_name.value: a.attribute_value.value for a in attrs}
    assert values["State"] == enums.State.ACTIVE
    assert values["Cryptographic Algorithm"] == enums.CryptographicAlgorithm.AES
    assert values["Cryptographic Length"] == 256
    mask = values["Cryptographic Usage Mask"]
    for bit in (enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT,
                enums.CryptographicUsageMask.MAC_GENERATE):
        assert mask & bit.value

    # KES ciphertext decrypts with the KMIP key's bytes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    key = c.get(uids[0]).value
    status, enc = call(port, "PUT", "/v1/key/encrypt/cross-proto", {"plaintext": b64(b"both")})
    ct = unb64(enc["ciphertext"])
    assert AESGCM(key).decrypt(ct[5:17], ct[17:], ct[:5]) == b"both"

    # bob sees nothing, over either protocol
    assert call(port, "GET", "/v1/key/describe/cross-proto", who="bob") == NOT_FOUND
    assert call(port, "PUT", "/v1/key/encrypt/cross-proto", {"plaintext": ""}, who="bob") == (
        NOT_FOUND)
    assert "cross-proto" not in call(port, "GET", "/v1/key/list", who="bob")[1]["names"]
    b = client(module_server, "bob")
    assert b.locate(attributes=[name]) == []
    with pytest.raises(FAILURES) as ei:
        b.get(uids[0])
    assert ei.value.reason == enums.ResultReason.ITEM_NOT_FOUND
    # bob's own key of the same name is his alone
    assert call(port, "PUT", "/v1/key/create/cross-proto", who="bob") == (200, None)
    assert call(port, "GET", "/v1/key/describe/cross-proto", who="bob")[1]["created_by"] != (
        call(port, "GET", "/v1/key/describe/cross-proto")[1]["created_by"])


def test_kmip_deactivated_key_refuses_generate(port, module_server, client):
    call(port, "PUT", "/v1/key/create/revoked-by-kmip")
    c = client(module_server)
    uid = c.locate(attributes=[af.create_attribute(enums.AttributeType.NAME,
                                                   "revoked-by-kmip")])[0]
    enc = call(port, "PUT", "/v1/key/encrypt/revoked-by-kmip", {"plaintext": b64(b"old")})[1]
    c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
    status, data = call(port, "PUT", "/v1/key/generate/revoked-by-kmip", {})
    assert status == 409, data
    # old data stays readable, as KMIP allows for a deactivated key
    assert call(port, "PUT", "/v1/key/decrypt/revoked-by-kmip",
                {"ciphertext": enc["ciphertext"]}) == (200, {"plaintext": b64(b"old")})
    assert call(port, "DELETE", "/v1/key/delete/revoked-by-kmip") == (200, None)
    assert call(port, "GET", "/v1/key/describe/revoked-by-kmip") == NOT_FOUND


def test_oversized_body(port):
    status, _, _ = kes(port, "PUT", "/v1/key/encrypt/k", b"x" * ((1 << 20) + 1), raw=True)
    assert status == 413
