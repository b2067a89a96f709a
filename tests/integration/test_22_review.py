"""Regression tests from the security review of users, realms, JWT and the
KES listener: each one failed before its fix.

  - a non-administrator cannot list every realm through the realm members'
    routes ("GET /v1/admin/realms/", trailing slash);
  - a revoked user's certificate stops working on the KES listener too,
    as on every other listener (ops/users.h: "its identities stop
    authenticating at once");
  - X-Forwarded-For sent as several header lines (HAProxy's forwardfor
    adds its own line after the client's) is read as one list, so the
    client's own line cannot name its address;
  - a 401 carries WWW-Authenticate (RFC 9110 section 15.5.2);
  - an object's realm (x-keyhold-realm) cannot be changed after creation,
    neither by Add/Modify/DeleteAttribute nor through ReKey's attributes,
    so that a CONTRIBUTOR cannot move a realm key's successor into a realm
    of its own, out of the other members' reach;
  - the KES routes of the HTTPS listener that need no store
    (/v1/identity/self/describe, /v1/metrics, ...) authenticate like the
    others: a bad API key is 401, not "admin".
"""
import http.client
import json
import sqlite3
import ssl

import pytest
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core import objects as cobjects
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions as pie_exceptions

import kh_support
import kh_ttlv as ttlv

af = AttributeFactory()
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)

TOKEN = "test-administration-token-review-0123"
AUTH = {"Authorization": "Bearer " + TOKEN}


def start_server(d, certs):
    policy = {"policy": {"app": {"allow": ["/v1/status", "/v1/key/create/app-*",
                                           "/v1/key/describe/app-*"],
                                 "identities": [certs.spki_sha256["alice"],
                                                certs.spki_sha256["bob"]]}}}
    (d / "policy.json").write_text(json.dumps(policy))
    s = kh_support.KeyholdServer(d, certs, extra_args=[
        "--administration-token", TOKEN, "--proxy-trusted-address", "127.0.0.1",
        "--kes-policy-file", str(d / "policy.json")])
    return s.start()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, certs):
    s = start_server(tmp_path_factory.mktemp("review"), certs)
    yield s
    s.stop()


@pytest.fixture
def own_srv(tmp_path, certs):
    """A server of the test's own, for tests that revoke a certificate."""
    s = start_server(tmp_path, certs)
    yield s
    s.stop()


def request(port, stem, method, path, body=None, headers=None, certs=None):
    conn = kh_support.https_connection(port, stem, certs=certs)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, json.dumps(body) if body is not None else None, h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if data else None)


def admin(server, method, path, body=None):
    return request(server.https_port, None, method, "/v1/admin/" + path, body, AUTH)


def kes_request(server, certs, stem, method, path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    ctx.load_cert_chain(certs.cert(stem), certs.key(stem))
    conn = http.client.HTTPSConnection("127.0.0.1", server.kes_port,
                                       timeout=kh_support.scaled(10), context=ctx)
    conn.request(method, path)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if data else None)


def test_realm_list_stays_for_administrators(srv, certs):
    assert admin(srv, "POST", "realms", {"name": "secret-project"})[0] == 201
    for path in ("/v1/admin/realms", "/v1/admin/realms/"):
        status, body = request(srv.https_port, "alice", "GET", path)
        assert status == 403, (path, body)
        assert "secret-project" not in json.dumps(body)
    # the administrator still lists them, with or without the slash
    for path in ("realms", "realms/"):
        status, body = admin(srv, "GET", path)
        assert status == 200 and "secret-project" in [r["name"] for r in body["realms"]]


def test_revoked_user_refused_on_kes_listener(own_srv, certs):
    srv = own_srv
    bob = certs.spki_sha256["bob"]
    assert kes_request(srv, certs, "bob", "GET", "/v1/status")[0] == 200
    status, u = admin(srv, "POST", "users", {"label": "KES Bob"})
    assert status == 201, u
    status, r = admin(srv, "POST", "users/%s/identities" % u["id"], {"identity": "tls:" + bob})
    assert status in (200, 201), r
    assert kes_request(srv, certs, "bob", "GET", "/v1/status")[0] == 200
    assert admin(srv, "POST", "users/%s/revoke" % u["id"])[0] == 200
    # the HTTPS listener refuses bob at once; so must the KES listener
    assert request(srv.https_port, "bob", "POST", "/v1/key/create/app-x")[0] == 401
    for method, path in (("GET", "/v1/status"), ("POST", "/v1/key/create/app-bob"),
                         ("GET", "/v1/identity/self/describe")):
        status, body = kes_request(srv, certs, "bob", method, path)
        assert status == 401, (path, status, body)
        with sqlite3.connect(str(srv.db_path)) as db:  # and each refusal is audited
            row = db.execute("SELECT principal, operation, object_uid, result FROM audit"
                             " ORDER BY id DESC LIMIT 1").fetchone()
        assert row == (bob, "kes_request", path, "KH_ERR_AUTH"), row
    # alice, in the same policy and not revoked, goes on
    assert kes_request(srv, certs, "alice", "GET", "/v1/status")[0] == 200


def last_audit_addr(server):
    with sqlite3.connect(str(server.db_path)) as db:
        return db.execute("SELECT client_addr FROM audit ORDER BY id DESC LIMIT 1").fetchone()[0]


def test_forwarded_for_in_several_lines(srv):
    """The peer (127.0.0.1) is a trusted proxy that appended its own
    X-Forwarded-For line after the client's forged one: the client is the
    last address of the whole list, not of the first line."""
    conn = kh_support.https_connection(srv.https_port, None)
    conn.putrequest("POST", "/v1/admin/users")
    conn.putheader("Authorization", "Bearer " + TOKEN)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("X-Forwarded-For", "198.51.100.66")  # forged by the client
    conn.putheader("X-Forwarded-For", "192.0.2.7")      # added by the proxy
    body = json.dumps({"label": "proxied twice"}).encode()
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 201
    assert last_audit_addr(srv) == "192.0.2.7"


def test_401_names_the_scheme(srv):
    for path, headers in (("/v1/admin/users", {}),
                          ("/kmip/2_1", {"Authorization": "Bearer khk_0.0"}),
                          ("/v1/key/create/x", {"Authorization": "Basic YTpi"})):
        conn = kh_support.https_connection(srv.https_port, None)
        h = {"Content-Type": "application/json"}
        h.update(headers)
        conn.request("POST", path, "{}", h)
        r = conn.getresponse()
        body = json.loads(r.read())
        conn.close()
        assert r.status == 401 and "message" in body, path
        assert r.getheader("WWW-Authenticate", "").startswith("Bearer"), path


@pytest.fixture(scope="module")
def kmip(srv, certs):
    opened = {}
    for who in ("alice", "bob"):
        c = kh_support.make_client(srv.port, who, None, certs)
        c.open()
        opened[who] = c
    yield opened
    for c in opened.values():
        c.close()


def realm_key(client, realm):
    attrs = [af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM,
                                 enums.CryptographicAlgorithm.AES),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
                                 [enums.CryptographicUsageMask.ENCRYPT,
                                  enums.CryptographicUsageMask.DECRYPT]),
             af.create_attribute("x-keyhold-realm", realm)]
    res = client.proxy.create(enums.ObjectType.SYMMETRIC_KEY,
                              cobjects.TemplateAttribute(attributes=attrs))
    assert res.result_status.value == enums.ResultStatus.SUCCESS, res.result_message
    return res.uuid if isinstance(res.uuid, str) else res.uuid.value


def realm_of(client, uid):
    _, attrs = client.get_attributes(uid, ["x-keyhold-realm"])
    return [a.attribute_value.value for a in attrs]


def fails(fn):
    try:
        fn()
    except FAILURES:
        return True
    return False


def test_realm_attribute_is_fixed(srv, certs, kmip):
    alice, bob = kmip["alice"], kmip["bob"]
    a, b = certs.spki_sha256["alice"], certs.spki_sha256["bob"]
    assert admin(srv, "POST", "realms", {"name": "shared", "owner": a})[0] == 201
    assert admin(srv, "POST", "realms", {"name": "bobs-own", "owner": b})[0] == 201
    assert admin(srv, "PUT", "realms/shared/members/" + b, {"role": "CONTRIBUTOR"})[0] == 200
    uid = realm_key(alice, "shared")
    alice.activate(uid)
    moved = cobjects.Attribute(
        attribute_name=cobjects.Attribute.AttributeName("x-keyhold-realm"),
        attribute_index=cobjects.Attribute.AttributeIndex(0),
        attribute_value=af.create_attribute("x-keyhold-realm", "bobs-own").attribute_value)
    # bob, a CONTRIBUTOR (modify_attributes), and alice, the owner, alike
    for c in (bob, alice):
        assert fails(lambda: c.modify_attribute(unique_identifier=uid, attribute=moved))
        assert fails(lambda: c.delete_attribute(unique_identifier=uid,
                                                attribute_name="x-keyhold-realm",
                                                attribute_index=0))
    r = kh_support.call(srv.port, ttlv.Op.ADD_ATTRIBUTE, ttlv.T(ttlv.Tag.UNIQUE_IDENTIFIER, uid),
                        ttlv.attribute_v1("x-keyhold-realm", ttlv.T(0, "bobs-own")), who="bob")
    assert r.status != ttlv.STATUS_SUCCESS, r
    assert realm_of(alice, uid) == ["shared"]
    # ReKey with a realm among its attributes is refused too
    tmpl = cobjects.TemplateAttribute(attributes=[af.create_attribute("x-keyhold-realm",
                                                                      "bobs-own")])
    res = bob.proxy.rekey(uuid=uid, template_attribute=tmpl)
    status = getattr(res["result_status"], "value", res["result_status"])
    assert status != enums.ResultStatus.SUCCESS, res
    # a plain ReKey keeps the realm: alice, its OWNER, reaches the successor
    new_uid = bob.rekey(uid=uid)
    assert realm_of(alice, new_uid) == ["shared"]
    assert alice.get(new_uid) is not None


def test_rekey_successor_keeps_the_owner(srv, certs, kmip):
    """A grantee allowed to Rekey makes the successor, but alice keeps owning
    it: bob gets no Get, Export or Destroy on it from having re-keyed."""
    alice, bob = kmip["alice"], kmip["bob"]
    a, b = certs.spki_sha256["alice"], certs.spki_sha256["bob"]
    uid = alice.create(enums.CryptographicAlgorithm.AES, 256)
    alice.activate(uid)
    status, g = admin(srv, "POST", "grants/" + a, {"object": uid, "grantee": b,
                                                    "permissions": ["rekey"]})
    assert status == 201, g
    new_uid = bob.rekey(uid=uid)
    assert new_uid != uid
    assert alice.get(new_uid) is not None  # the owner reaches it
    assert fails(lambda: bob.get(new_uid))
    assert fails(lambda: bob.destroy(new_uid))
    assert alice.get(new_uid) is not None  # still there


def test_kes_light_routes_authenticate(srv):
    status, u = admin(srv, "POST", "users", {"label": "KES light"})
    assert status == 201, u
    status, k = admin(srv, "POST", "users/%s/api-keys" % u["id"], {"label": "k"})
    assert status == 201, k
    good = {"Authorization": "Bearer " + k["api_key"]}
    bad = {"Authorization": "Bearer " + k["api_key"][:-1] + ("0" if k["api_key"][-1] != "0"
                                                                else "1")}
    for path in ("/v1/identity/self/describe", "/v1/metrics", "/v1/api",
                 "/v1/identity/describe/x", "/v1/policy/list/*"):
        status, _ = request(srv.https_port, None, "GET", path, headers=bad) \
            if path != "/v1/metrics" else (raw_status(srv, path, bad), None)
        assert status == 401, path
    status, body = request(srv.https_port, None, "GET", "/v1/identity/self/describe",
                           headers=good)
    assert status == 200 and body["identity"] == u["id"] and not body.get("admin"), body


def raw_status(server, path, headers):
    conn = kh_support.https_connection(server.https_port, None)
    conn.request("GET", path, None, headers)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status
