"""The HTTPS listener: /health, /metrics, KMIP JSON TTLV at /kmip/2_1 (both
forms), one key reachable from both listeners, HTTP errors, keep-alive, and
slow or oversized clients that must not stop anyone else."""
import json
import re
import socket
import ssl
import threading
import time
import http.client

import pytest

import kh_support
from kh_support import https_connection, scaled

JSON = {"Content-Type": "application/json"}


def item(tag, type_, value):
    return {"tag": tag, "type": type_, "value": value}


def create_payload(length=256):
    return item("Create", "Structure", [
        item("ObjectType", "Enumeration", "SymmetricKey"),
        item("Attributes", "Structure", [
            item("CryptographicAlgorithm", "Enumeration", "AES"),
            item("CryptographicLength", "Integer", length),
            item("CryptographicUsageMask", "Integer", 12),
        ]),
    ])


def get_payload(uid):
    return item("Get", "Structure", [item("UniqueIdentifier", "TextString", uid)])


def kid(node, tag):
    for k in node["value"]:
        if k["tag"] == tag:
            return k
    raise KeyError(tag)


def find(node, tag):
    """Depth-first search for the first item with tag."""
    if node["tag"] == tag:
        return node
    if node["type"] == "Structure":
        for k in node["value"]:
            hit = find(k, tag)
            if hit is not None:
                return hit
    return None


def request(conn, method, path, body=None, headers=None):
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    conn.request(method, path, data, headers or {})
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def post_kmip(port, body, who="alice"):
    conn = https_connection(port, who)
    try:
        status, headers, data = request(conn, "POST", "/kmip/2_1", body, JSON)
    finally:
        conn.close()
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(data)


def create_json(port, who="alice"):
    status, resp = post_kmip(port, create_payload(), who)
    assert status == 200, resp
    assert resp["tag"] == "CreateResponse" and resp["type"] == "Structure"
    return kid(resp, "UniqueIdentifier")["value"]


def key_bytes_json(port, uid, who="alice"):
    status, resp = post_kmip(port, get_payload(uid), who)
    assert status == 200, resp
    assert resp["tag"] == "GetResponse"
    material = find(resp, "KeyMaterial")
    assert material["type"] == "ByteString"
    assert material["value"] == material["value"].upper()
    return bytes.fromhex(material["value"])


# ---- health and metrics ------------------------------------------------------


def test_health_without_client_certificate(module_server):
    for who in ("alice", None):
        conn = https_connection(module_server.https_port, who)
        status, headers, data = request(conn, "GET", "/health")
        conn.close()
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert json.loads(data) == {"status": "ok"}


def test_metrics_count_both_listeners(module_server):
    kh_support.assert_alive(module_server.port)  # a binary Query
    create_json(module_server.https_port)
    conn = https_connection(module_server.https_port)
    status, headers, data = request(conn, "GET", "/metrics")
    conn.close()
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = data.decode()
    for line in (
            'keyhold_requests_total{protocol="kmip",operation="Query",result="success"}',
            'keyhold_requests_total{protocol="kmip_json",operation="Create",result="success"}',
            'keyhold_requests_total{protocol="http",operation="kmip_2_1",result="success"}',
            'keyhold_request_duration_seconds_bucket{protocol="kmip",le="+Inf"}',
            'keyhold_request_duration_seconds_bucket{protocol="kmip_json",le="0.005"}',
            'keyhold_request_duration_seconds_count{protocol="http"}',
            "# TYPE keyhold_request_duration_seconds histogram",
            'keyhold_open_connections{listener="kmip"}',
            'keyhold_worker_queue_depth '):
        assert line in text, line
    m = re.search(r'^keyhold_open_connections\{listener="https"\} (\d+)$', text, re.M)
    assert m and int(m.group(1)) >= 1  # this very connection
    # Every sample line is "name{labels} number" or "name number".
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            assert re.fullmatch(r'[a-z_]+(\{[^}]*\})? [0-9.e+-]+', ln), ln


# ---- one key, two listeners --------------------------------------------------


def test_key_created_over_binary_is_gettable_over_json(module_server, client):
    from kmip.core import enums
    c = client(module_server, "alice")
    uid = c.create(enums.CryptographicAlgorithm.AES, 256)
    key = c.get(uid).value
    assert key_bytes_json(module_server.https_port, uid, "alice") == key
    # Another certificate is another principal, over HTTPS as over KMIP.
    status, resp = post_kmip(module_server.https_port, get_payload(uid), "bob")
    assert status == 404, resp
    assert resp["result_reason"] == "ItemNotFound" and resp["message"]


def test_key_created_over_json_is_gettable_over_binary(module_server, client):
    uid = create_json(module_server.https_port, "alice")
    key = key_bytes_json(module_server.https_port, uid, "alice")
    assert len(key) == 32
    assert client(module_server, "alice").get(uid).value == key


def test_no_certificate_is_single_user_admin(module_server):
    uid = create_json(module_server.https_port, who=None)
    assert len(key_bytes_json(module_server.https_port, uid, who=None)) == 32
    status, resp = post_kmip(module_server.https_port, get_payload(uid), "alice")
    assert status == 404 and resp["result_reason"] == "ItemNotFound"
    assert "SINGLE-USER MODE" in module_server.log()


# ---- the two forms -----------------------------------------------------------


def test_whole_request_message_with_batch(module_server):
    req = item("RequestMessage", "Structure", [
        item("RequestHeader", "Structure", [
            item("ProtocolVersion", "Structure", [
                item("ProtocolVersionMajor", "Integer", 2),
                item("ProtocolVersionMinor", "Integer", 1)]),
            item("BatchCount", "Integer", 2)]),
        item("BatchItem", "Structure", [
            item("Operation", "Enumeration", "Create"),
            item("UniqueBatchItemID", "ByteString", "0A0B"),
            dict(create_payload(), tag="RequestPayload")]),
        item("BatchItem", "Structure", [
            item("Operation", "Enumeration", "0x0000000A"),  # Get, by value
            item("RequestPayload", "Structure", [])]),  # the ID placeholder
    ])
    status, resp = post_kmip(module_server.https_port, req)
    assert status == 200, resp
    assert resp["tag"] == "ResponseMessage"
    hdr = kid(resp, "ResponseHeader")
    assert kid(hdr, "BatchCount")["value"] == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", kid(hdr, "TimeStamp")["value"])
    items = [k for k in resp["value"] if k["tag"] == "BatchItem"]
    assert [kid(i, "ResultStatus")["value"] for i in items] == ["Success", "Success"]
    assert [kid(i, "Operation")["value"] for i in items] == ["Create", "Get"]
    assert kid(items[0], "UniqueBatchItemId")["value"] == "0A0B"  # the generated spelling
    uid = find(items[0], "UniqueIdentifier")["value"]
    assert find(items[1], "UniqueIdentifier")["value"] == uid
    assert len(bytes.fromhex(find(items[1], "KeyMaterial")["value"])) == 32


def test_bare_payload_failure_maps_to_http_status(module_server):
    status, resp = post_kmip(module_server.https_port, get_payload("no-such-uid"))
    assert status == 404
    assert resp == {"message": resp["message"], "result_status": "OperationFailed",
                    "result_reason": "ItemNotFound"}
    bad = create_payload()
    bad["value"][1]["value"][1]["value"] = 100  # not an AES key length
    status, resp = post_kmip(module_server.https_port, bad)
    assert 400 <= status < 500 and resp["result_status"] == "OperationFailed", resp


@pytest.mark.parametrize("body, why", [
    ("{not json", "not JSON"),
    ("", "not JSON"),
    ('{"tag":"Create","type":"Structure","value":[],"tag":"Get"}', "duplicate key"),
    ('{"tag":"Frobnicate","type":"Structure","value":[]}', "unknown operation"),
    (json.dumps(item("Get", "Structure", [item("UniqueIdentifier", "Integer", "x")])),
     "wrong value type"),
    (json.dumps(item("Get", "Structure", [item("NoSuchTag", "TextString", "x")])),
     "unknown tag"),
    (json.dumps(item("Get", "Structure", [item("UniqueIdentifier", "Text", "x")])),
     "unknown type"),
    ("[" * 100 + "]" * 100, "not an item"),
])
def test_malformed_body_gets_invalid_message(module_server, body, why):
    status, resp = post_kmip(module_server.https_port, body)
    assert status == 400, why
    assert resp["tag"] == "ResponseMessage", why
    bi = kid(resp, "BatchItem")
    assert kid(bi, "ResultStatus")["value"] == "OperationFailed"
    assert kid(bi, "ResultReason")["value"] == "InvalidMessage"


def test_depth_bomb_is_refused(module_server):
    inner = item("Attributes", "Structure", [])
    for _ in range(200):
        inner = item("Attributes", "Structure", [inner])
    status, resp = post_kmip(module_server.https_port, dict(inner, tag="Create"))
    assert status == 400 and resp["tag"] == "ResponseMessage"
    kh_support.assert_alive(module_server.port)


# ---- HTTP errors -------------------------------------------------------------


def test_http_errors_are_json(module_server):
    conn = https_connection(module_server.https_port)
    status, headers, data = request(conn, "GET", "/no/such/route")
    assert status == 404 and "message" in json.loads(data)
    status, headers, data = request(conn, "GET", "/kmip/2_1")
    assert status == 405 and headers["Allow"] == "POST" and "message" in json.loads(data)
    status, headers, data = request(conn, "DELETE", "/health")
    assert status == 405 and "GET" in headers["Allow"] and "message" in json.loads(data)
    status, headers, data = request(conn, "POST", "/kmip/2_1", "{}", {"Content-Type": "text/plain"})
    assert status == 415 and "message" in json.loads(data)
    status, headers, data = request(conn, "POST", "/kmip/2_1", "{}")
    assert status == 415
    conn.close()


def test_oversized_body_gets_413_and_others_go_on(module_server):
    results = {}

    def big():
        conn = https_connection(module_server.https_port, timeout=30)
        try:
            status, _, _ = request(conn, "POST", "/kmip/2_1", "x" * (3 << 20), JSON)
            results["big"] = status
        except (ConnectionError, ssl.SSLError, http.client.HTTPException) as e:
            results["big"] = e
        finally:
            conn.close()

    t = threading.Thread(target=big)
    t.start()
    for _ in range(5):
        uid = create_json(module_server.https_port)
        assert key_bytes_json(module_server.https_port, uid)
    t.join(scaled(30))
    assert results["big"] == 413, results


# ---- keep-alive and slow clients ---------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(module_server):
    conn = https_connection(module_server.https_port)
    request(conn, "GET", "/health")
    sock = conn.sock
    uid = None
    for i in range(6):
        if i % 2 == 0:
            status, _, data = request(conn, "POST", "/kmip/2_1", create_payload(), JSON)
            uid = kid(json.loads(data), "UniqueIdentifier")["value"]
        else:
            status, _, data = request(conn, "POST", "/kmip/2_1", get_payload(uid), JSON)
        assert status == 200
        assert conn.sock is sock  # the same TCP connection throughout
    conn.close()


def _tls_raw(port, who="alice"):
    sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
    return kh_support.CERTS.context(who).wrap_socket(sock, server_hostname="127.0.0.1")


def test_slow_client_does_not_stop_others(module_server, certs):
    slow = _tls_raw(module_server.https_port)
    slow.sendall(b"POST /kmip/2_1 HTTP/1.1\r\nHost: x\r\n")  # ... and then nothing
    idle = socket.create_connection(("127.0.0.1", module_server.https_port))  # no TLS at all
    try:
        for _ in range(3):
            uid = create_json(module_server.https_port)
            assert key_bytes_json(module_server.https_port, uid)
            conn = https_connection(module_server.https_port)
            assert request(conn, "GET", "/health")[0] == 200
            conn.close()
        kh_support.assert_alive(module_server.port)
    finally:
        slow.close()
        idle.close()


def _closed_within(sock, seconds):
    """True when the peer closes sock within seconds."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def test_slow_requests_are_cut_off(tmp_path, certs):
    srv = kh_support.KeyholdServer(tmp_path, certs, extra_args=["--read-timeout", "1"])
    srv.start()
    try:
        slow = _tls_raw(srv.https_port)
        slow.sendall(b"GET /health HTTP/1.1\r\n")
        plain = socket.create_connection(("127.0.0.1", srv.https_port))
        t0 = time.monotonic()
        # A byte every half second does not restart the deadline.
        for _ in range(3):
            time.sleep(0.5)
            try:
                slow.sendall(b"X")
            except (ConnectionError, ssl.SSLError):
                break
        assert _closed_within(slow, scaled(3))
        assert _closed_within(plain, scaled(3))
        assert time.monotonic() - t0 < scaled(6)
        conn = https_connection(srv.https_port)
        assert request(conn, "GET", "/health")[0] == 200
        conn.close()
        slow.close()
        plain.close()
    finally:
        srv.stop()


def test_client_certificate_can_be_required(tmp_path, certs):
    srv = kh_support.KeyholdServer(tmp_path, certs,
                                   extra_args=["--https-require-client-cert", "true"])
    srv.start()
    try:
        conn = https_connection(srv.https_port, who=None)
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            request(conn, "GET", "/health")
        conn.close()
        conn = https_connection(srv.https_port, "alice")
        assert request(conn, "GET", "/health")[0] == 200
        conn.close()
        assert "SINGLE-USER MODE" not in srv.log()
    finally:
        srv.stop()
