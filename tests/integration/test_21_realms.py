"""Realms and roles end to end (docs/authorization.md, docs/admin-api.md):
the admin API and the `keyhold realm` verbs over real HTTPS, and what each
role allows over KMIP binary (PyKMIP) and KMIP JSON:

  - a READER can Get but not Destroy or Encrypt with a realm's object;
  - a CONTRIBUTOR can Encrypt and create objects in the realm;
  - a removed member loses access, and the role history keeps every row;
  - a non-member sees nothing: ItemNotFound, exactly as for an absent uid,
    and Locate returns none of the realm's objects;
  - objects of a realm are sealed under that realm's key;
  - a realm grant of named permissions, to a principal or to "*";
  - a matrix: each role (and a grant) x each KMIP operation, for a member
    and a non-member.
"""
import json
import os
import sqlite3
import subprocess
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core import objects as cobjects
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions as pie_exceptions

import kh_support

TOKEN = "test-administration-token-realms-0123"
AUTH = {"Authorization": "Bearer " + TOKEN}
ALG = enums.CryptographicAlgorithm
RR = enums.ResultReason
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)
af = AttributeFactory()


def principal_of(cert_path):
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return digest.finalize().hex()


PG = os.environ.get("KH_TEST_PG_URL")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request, tmp_path_factory, certs):
    """One server per backend (PostgreSQL when KH_TEST_PG_URL is set), each
    on an empty database."""
    url = schema = None
    if request.param == "postgresql":
        if not PG:
            pytest.skip("KH_TEST_PG_URL is not set")
        schema = "it_realms_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", PG, "-q", "-c", "CREATE SCHEMA " + schema], check=True,
                       capture_output=True)
        url = PG + ("&" if "?" in PG else "?") + "options=-csearch_path%3D" + schema
    s = kh_support.KeyholdServer(tmp_path_factory.mktemp("realms"), certs,
                                 extra_args=["--administration-token", TOKEN], db_url=url)
    s.start()
    yield s
    s.stop()
    if schema:
        subprocess.run(["psql", PG, "-q", "-c", "DROP SCHEMA %s CASCADE" % schema],
                       capture_output=True)


def sql(server, query):
    """Rows of query on server's database, every value as text."""
    if not server.db_url:
        with sqlite3.connect(str(server.db_path)) as db:
            return [tuple(str(v) for v in row) for row in db.execute(query).fetchall()]
    r = subprocess.run(["psql", server.db_url, "-At", "-F", "\t", "-c", query], check=True,
                       capture_output=True, text=True)
    return [tuple(line.split("\t")) for line in r.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def who(certs):
    """alice, bob and dave (a third valid certificate): name -> (stem, principal)."""
    d = certs.dir
    ca = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = kh_support._issue("dave-realms", key, ca, ca_key,
                             eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    certs._write("dave-realms", cert, key)
    return {name: (stem, principal_of(certs.cert(stem)))
            for name, stem in (("alice", "alice"), ("bob", "bob"), ("dave", "dave-realms"))}


@pytest.fixture(scope="module")
def clients(srv, certs, who):
    opened = {}
    for name, (stem, _) in who.items():
        c = kh_support.make_client(srv.port, stem, None, certs)
        c.open()
        opened[name] = c
    yield opened
    for c in opened.values():
        c.close()


def admin(server, method, path, body=None):
    conn = kh_support.https_connection(server.https_port, None)
    h = {"Content-Type": "application/json"}
    h.update(AUTH)
    conn.request(method, "/v1/admin/" + path, json.dumps(body) if body is not None else None, h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if data else None)


def set_role(server, realm, member, role):
    status, body = admin(server, "PUT", "realms/%s/members/%s" % (realm, member), {"role": role})
    assert status == 200, body


def outcome(fn):
    """'ok', or the ResultReason of the failure."""
    try:
        fn()
        return "ok"
    except FAILURES as e:
        return e.reason


MASK = enums.CryptographicUsageMask


def create_in(client, realm, alg=ALG.AES, length=256, mask=(MASK.ENCRYPT, MASK.DECRYPT),
              activate=True, name=None):
    """A key created by client in realm (KMIP 1.2 Create with the
    x-keyhold-realm custom attribute), activated unless told otherwise."""
    attrs = [af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, alg),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, length),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK, list(mask)),
             af.create_attribute("x-keyhold-realm", realm)]
    if name:
        attrs.append(af.create_attribute(enums.AttributeType.NAME, name))
    res = client.proxy.create(enums.ObjectType.SYMMETRIC_KEY,
                              cobjects.TemplateAttribute(attributes=attrs))
    if res.result_status.value != enums.ResultStatus.SUCCESS:
        raise pie_exceptions.KmipOperationFailure(res.result_status.value,
                                                  res.result_reason.value,
                                                  res.result_message.value)
    uid = res.uuid if isinstance(res.uuid, str) else res.uuid.value
    if activate:
        client.activate(uid)
    return uid


def encrypt(client, uid):
    return client.encrypt(b"sixteen byte msg", uid, cryptographic_parameters={
        "block_cipher_mode": enums.BlockCipherMode.GCM, "tag_length": 16,
        "cryptographic_algorithm": ALG.AES}, iv_counter_nonce=b"\0" * 12)


def test_admin_api_realms(srv, who):
    assert admin(srv, "GET", "realms")[0] == 200
    status, r = admin(srv, "POST", "realms", {"name": "api-team", "owner": who["alice"][1]})
    assert status == 201 and r["name"] == "api-team" and r["owner"] == who["alice"][1], r
    assert admin(srv, "POST", "realms", {"name": "api-team"})[0] == 409
    assert admin(srv, "POST", "realms", {"name": "bad name"})[0] == 400
    assert admin(srv, "POST", "realms", {"name": "x", "owner": "*"})[0] == 400
    assert admin(srv, "POST", "realms", {})[0] == 400
    names = [x["name"] for x in admin(srv, "GET", "realms")[1]["realms"]]
    assert "default" in names and "api-team" in names
    set_role(srv, "api-team", who["bob"][1], "READER")
    set_role(srv, "api-team", who["bob"][1], "CONTRIBUTOR")
    set_role(srv, "api-team", "%2A", "READER")  # "*", percent-encoded
    assert admin(srv, "PUT", "realms/api-team/members/x", {"role": "KING"})[0] == 400
    assert admin(srv, "PUT", "realms/api-team/members/%2A", {"role": "OWNER"})[0] == 400
    assert admin(srv, "PUT", "realms/api-team/members/x", {})[0] == 400
    assert admin(srv, "PUT", "realms/api-team/members/x", {"permissions": "fly"})[0] == 400
    assert admin(srv, "PUT", "realms/api-team/members/x",
                 {"role": "READER", "permissions": "get"})[0] == 400
    status, r = admin(srv, "PUT", "realms/api-team/members/x", {"permissions": ["get", "mac"]})
    assert status == 200 and r["role"] == "GRANT" and r["permissions"] == "get,mac", r
    assert admin(srv, "PUT", "realms/nope/members/x", {"role": "READER"})[0] == 404
    assert admin(srv, "DELETE", "realms/api-team/members/nobody")[0] == 404
    assert admin(srv, "POST", "realms/api-team/members/x", {"role": "READER"})[0] == 405
    assert admin(srv, "GET", "realms/nope")[0] == 404
    assert admin(srv, "DELETE", "realms/api-team/members/" + who["bob"][1])[0] == 200
    status, r = admin(srv, "GET", "realms/api-team")
    assert status == 200
    assert sorted(m["member"] for m in r["members"]) == sorted([who["alice"][1], "*", "x"])
    bob_rows = [h for h in r["history"] if h["member"] == who["bob"][1]]
    assert [h["role"] for h in bob_rows] == ["READER", "CONTRIBUTOR"]
    assert all(not h["active"] and h["removed_by"] == "administration-token" for h in bob_rows)
    assert "get" in bob_rows[0]["permissions"] and "encrypt" not in bob_rows[0]["permissions"]
    # changes are in the audit log, with the realm and member as the object
    ops = sql(srv, "SELECT operation, object_uid, result FROM audit"
                   " WHERE operation LIKE 'Realm%'")
    assert ("RealmCreate", "api-team", "KH_OK") in ops
    assert ("RealmMemberRemove", "realm:api-team/" + who["bob"][1], "KH_OK") in ops
    assert ("RealmMemberSet", "realm:api-team/x", "KH_ERR_INVALID_FIELD") in ops


def test_users_get_a_personal_realm(srv):
    status, u = admin(srv, "POST", "users", {"label": "Realm Person"})
    assert status == 201, u
    status, r = admin(srv, "GET", "realms/user-" + u["id"])
    assert status == 200, r
    assert [(m["member"], m["role"]) for m in r["members"]] == [(u["id"], "OWNER")]


def as_cert(server, stem, method, path, body=None):
    """A request to the admin API with stem's client certificate, no token."""
    conn = kh_support.https_connection(server.https_port, stem)
    conn.request(method, "/v1/admin/" + path, json.dumps(body) if body is not None else None,
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if data else None)


def test_members_manage_their_realm(srv, clients, who):
    """A realm's OWNERs and MANAGERs manage its members themselves, with
    their own credentials; others cannot, and non-members see nothing."""
    alice, bob, dave = who["alice"], who["bob"], who["dave"]
    assert admin(srv, "POST", "realms", {"name": "self", "owner": alice[1]})[0] == 201
    # not an administrator: no realm creation, no list
    assert as_cert(srv, alice[0], "POST", "realms", {"name": "mine"})[0] == 403
    assert as_cert(srv, alice[0], "GET", "realms")[0] == 403
    assert as_cert(srv, alice[0], "GET", "users")[0] == 403
    # the OWNER makes bob a MANAGER; bob adds dave as READER, not as OWNER
    status, r = as_cert(srv, alice[0], "PUT", "realms/self/members/" + bob[1],
                        {"role": "MANAGER"})
    assert status == 200, r
    assert as_cert(srv, bob[0], "PUT", "realms/self/members/" + dave[1],
                   {"role": "OWNER"})[0] == 403
    assert as_cert(srv, bob[0], "PUT", "realms/self/members/" + alice[1],
                   {"role": "READER"})[0] == 403
    assert as_cert(srv, bob[0], "PUT", "realms/self/members/" + dave[1],
                   {"role": "READER"})[0] == 200
    # a READER manages nobody but may look at its realm
    assert as_cert(srv, dave[0], "DELETE", "realms/self/members/" + bob[1])[0] == 403
    status, r = as_cert(srv, dave[0], "GET", "realms/self")
    assert status == 200 and len(r["members"]) == 3, r
    assert [h["granted_by"] for h in r["history"] if h["member"] == dave[1]] == [bob[1]]
    # removed: the realm disappears for dave, as one that does not exist
    assert as_cert(srv, alice[0], "DELETE", "realms/self/members/" + dave[1])[0] == 200
    assert as_cert(srv, dave[0], "GET", "realms/self")[0] == 404
    assert as_cert(srv, dave[0], "GET", "realms/absent")[0] == 404
    assert as_cert(srv, dave[0], "PUT", "realms/self/members/" + dave[1],
                   {"role": "OWNER"})[0] == 404
    rows = sql(srv, "SELECT principal, operation, result FROM audit"
                    " WHERE operation = 'RealmMemberSet' AND principal = '%s'" % bob[1])
    assert (bob[1], "RealmMemberSet", "KH_OK") in rows
    assert (bob[1], "RealmMemberSet", "KH_ERR_PERMISSION") in rows


def test_admin_api_needs_an_admin(srv, certs):
    conn = kh_support.https_connection(srv.https_port, "bob")
    conn.request("POST", "/v1/admin/realms", json.dumps({"name": "sneaky"}),
                 {"Content-Type": "application/json"})
    assert conn.getresponse().status == 403
    conn.close()


def test_roles_over_kmip(srv, clients, who):
    alice, bob, dave = clients["alice"], clients["bob"], clients["dave"]
    status, _ = admin(srv, "POST", "realms", {"name": "team", "owner": who["alice"][1]})
    assert status == 201
    uid = create_in(alice, "team")
    # a non-member: the object looks exactly like one that does not exist
    assert outcome(lambda: bob.get(uid)) == RR.ITEM_NOT_FOUND
    assert outcome(lambda: bob.get("00000000-0000-4000-8000-000000000000")) == RR.ITEM_NOT_FOUND
    assert uid not in bob.locate()
    assert outcome(lambda: create_in(bob, "team")) == RR.ITEM_NOT_FOUND

    set_role(srv, "team", who["bob"][1], "READER")
    assert bob.get(uid).value
    assert uid in bob.locate()
    assert outcome(lambda: encrypt(bob, uid)) == RR.PERMISSION_DENIED
    assert outcome(lambda: bob.destroy(uid)) == RR.PERMISSION_DENIED
    assert outcome(lambda: create_in(bob, "team")) == RR.PERMISSION_DENIED
    assert outcome(lambda: dave.get(uid)) == RR.ITEM_NOT_FOUND

    set_role(srv, "team", who["bob"][1], "CONTRIBUTOR")
    ct, _ = encrypt(bob, uid)
    assert ct
    assert outcome(lambda: bob.destroy(uid)) == RR.PERMISSION_DENIED
    bobs = create_in(bob, "team")  # bob owns it, alice (OWNER of the realm) may use it
    ct, _ = encrypt(alice, bobs)
    assert ct

    status, _ = admin(srv, "DELETE", "realms/team/members/" + who["bob"][1])
    assert status == 200
    assert outcome(lambda: bob.get(uid)) == RR.ITEM_NOT_FOUND
    assert outcome(lambda: encrypt(bob, uid)) == RR.ITEM_NOT_FOUND
    assert uid not in bob.locate()
    assert bob.get(bobs).value  # still the owner of its own object
    history = admin(srv, "GET", "realms/team")[1]["history"]
    assert [h["role"] for h in history if h["member"] == who["bob"][1]] == [
        "READER", "CONTRIBUTOR"]

    # sealed under the realm's own key
    (rid,), = sql(srv, "SELECT id FROM realm WHERE name = 'team'")
    assert sql(srv, "SELECT realm_id FROM object WHERE uid = '%s'" % uid) == [(rid,)]
    assert sql(srv, "SELECT COUNT(*) FROM realm_key WHERE realm_id = %s" % rid) == [("1",)]


def test_realm_grant_over_kmip(srv, clients, who):
    alice, bob, dave = clients["alice"], clients["bob"], clients["dave"]
    assert admin(srv, "POST", "realms", {"name": "grants", "owner": who["alice"][1]})[0] == 201
    uid = create_in(alice, "grants")
    status, _ = admin(srv, "PUT", "realms/grants/members/" + who["bob"][1],
                      {"permissions": "encrypt,get_attributes"})
    assert status == 200
    ct, _ = encrypt(bob, uid)
    assert ct
    assert outcome(lambda: bob.get(uid)) == RR.PERMISSION_DENIED
    assert uid not in bob.locate()  # no locate in the grant
    assert outcome(lambda: dave.get(uid)) == RR.ITEM_NOT_FOUND
    assert admin(srv, "PUT", "realms/grants/members/%2A", {"permissions": "locate"})[0] == 200
    assert uid in dave.locate() and uid in bob.locate()
    assert outcome(lambda: dave.get(uid)) == RR.PERMISSION_DENIED


def test_roles_over_kmip_json(srv, clients, who):
    alice = clients["alice"]
    status, _ = admin(srv, "POST", "realms", {"name": "json-team", "owner": who["alice"][1]})
    assert status == 201
    uid = create_in(alice, "json-team")
    body = json.dumps({"tag": "Get", "type": "Structure", "value": [
        {"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]})

    def status_of(stem):
        conn = kh_support.https_connection(srv.https_port, stem)
        conn.request("POST", "/kmip/2_1", body, {"Content-Type": "application/json"})
        s = conn.getresponse().status
        conn.close()
        return s

    assert status_of(who["dave"][0]) == 404
    set_role(srv, "json-team", who["dave"][1], "READER")
    assert status_of(who["dave"][0]) == 200


def cli(server, *args, token=True):
    env = dict(os.environ)
    env.pop("KEYHOLD_ADMINISTRATION_TOKEN", None)
    if token:
        env["KEYHOLD_ADMINISTRATION_TOKEN"] = TOKEN
    cmd = [str(kh_support.keyhold_bin()), *args]
    if server is not None:
        cmd += ["--server", "https://127.0.0.1:%d" % server.https_port,
                "--ca", kh_support.CERTS.ca]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env,
                          cwd=str(server.workdir) if server else None)


def test_cli_realm_verbs(srv, who):
    r = cli(None, "realm", "--help")
    assert r.returncode == 0 and "member-add" in r.stdout and "--role" in r.stdout
    assert cli(None, "realm", "fly").returncode == 2
    r = cli(srv, "realm", "create", "cli-team", "--owner", who["alice"][1])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "cli-team"
    assert "cli-team" in cli(srv, "realm", "list").stdout
    r = cli(srv, "realm", "member-add", "cli-team", "*", "--role", "READER")
    assert r.returncode == 0, r.stderr
    r = cli(srv, "realm", "member-add", "cli-team", who["bob"][1], "--role", "MANAGER")
    assert r.returncode == 0, r.stderr
    r = cli(srv, "realm", "member-add", "cli-team", who["dave"][1], "--permissions", "mac,sign")
    assert r.returncode == 0 and json.loads(r.stdout)["role"] == "GRANT", r.stderr
    assert cli(srv, "realm", "member-add", "cli-team", "x").returncode == 2
    r = cli(srv, "realm", "member-remove", "cli-team", who["bob"][1])
    assert r.returncode == 0, r.stderr
    r = cli(srv, "realm", "member-remove", "cli-team", who["bob"][1])
    assert r.returncode == 1 and "no such realm or member" in r.stderr
    # alice, the realm's OWNER, with her certificate and no token
    stem = who["alice"][0]
    r = cli(srv, "realm", "member-add", "cli-team", who["bob"][1], "--role", "READER",
            "--cert", kh_support.CERTS.cert(stem), "--key", kh_support.CERTS.key(stem),
            token=False)
    assert r.returncode == 0, r.stderr
    r = cli(srv, "realm", "member-remove", "cli-team", who["bob"][1],
            "--cert", kh_support.CERTS.cert(stem), "--key", kh_support.CERTS.key(stem),
            token=False)
    assert r.returncode == 0, r.stderr
    r = cli(srv, "realm", "list", "--cert", kh_support.CERTS.cert(stem),
            "--key", kh_support.CERTS.key(stem), token=False)
    assert r.returncode == 1 and "HTTP 403" in r.stderr
    shown = json.loads(cli(srv, "realm", "show", "cli-team").stdout)
    assert sorted(m["member"] for m in shown["members"]) == sorted(
        [who["alice"][1], "*", who["dave"][1]])
    assert len(shown["history"]) == 5


# What each role gives (docs/authorization.md), and a realm grant.
ROLE_PERMS = {
    "READER": {"get", "get_attributes", "locate", "verify"},
}
ROLE_PERMS["CONTRIBUTOR"] = ROLE_PERMS["READER"] | {
    "create", "encrypt", "decrypt", "sign", "mac", "import", "rekey", "modify_attributes"}
ROLE_PERMS["MANAGER"] = ROLE_PERMS["CONTRIBUTOR"] | {"export", "revoke", "destroy"}
ROLE_PERMS["OWNER"] = ROLE_PERMS["MANAGER"]
ROLE_PERMS["GRANT:mac,destroy"] = {"mac", "destroy"}

# (name, permission needed, action(client, objects)); Revoke and Destroy last.
OPS = [
    ("Get", "get", lambda c, o: c.get(o["key"])),
    ("GetAttributes", "get_attributes", lambda c, o: c.get_attributes(o["key"], ["State"])),
    ("GetAttributeList", "get_attributes", lambda c, o: c.get_attribute_list(o["key"])),
    ("Activate", "modify_attributes", lambda c, o: c.activate(o["pre"])),
    ("Encrypt", "encrypt", lambda c, o: encrypt(c, o["key"])),
    ("Decrypt", "decrypt", lambda c, o: c.decrypt(o["ct"], uid=o["key"], iv_counter_nonce=o["iv"],
                                                  cryptographic_parameters=o["params"])),
    ("MAC", "mac", lambda c, o: c.mac(b"hello", uid=o["hmac"], algorithm=ALG.HMAC_SHA256)),
    ("Create", "create", lambda c, o: create_in(c, o["realm"], activate=False)),
    ("Revoke", "revoke",
     lambda c, o: c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, o["key"])),
    ("Destroy", "destroy", lambda c, o: c.destroy(o["doomed"])),
]


def test_role_matrix(srv, clients, who):
    """bob with each role (and a realm grant) x each operation over KMIP;
    dave, no member, sees nothing."""
    alice, bob, dave = clients["alice"], clients["bob"], clients["dave"]
    size = len(ROLE_PERMS) * (len(OPS) + 1) * 2
    checked = 0
    for role, perms in ROLE_PERMS.items():
        realm = "matrix-" + role.split(":")[0].lower()
        assert admin(srv, "POST", "realms", {"name": realm, "owner": who["alice"][1]})[0] == 201
        body = ({"permissions": role.split(":")[1]} if role.startswith("GRANT:")
                else {"role": role})
        status, _ = admin(srv, "PUT", "realms/%s/members/%s" % (realm, who["bob"][1]), body)
        assert status == 200
        params = {"block_cipher_mode": enums.BlockCipherMode.GCM, "tag_length": 16,
                  "cryptographic_algorithm": ALG.AES}
        o = {"realm": realm, "params": params,
             "key": create_in(alice, realm, name=realm + "-key"),
             "hmac": create_in(alice, realm, ALG.HMAC_SHA256, 256, (MASK.MAC_GENERATE,)),
             "pre": create_in(alice, realm, activate=False),
             "doomed": create_in(alice, realm, activate=False)}
        o["iv"] = b"\1" * 12
        o["ct"], _ = alice.encrypt(b"matrix", uid=o["key"], cryptographic_parameters=params,
                                   iv_counter_nonce=o["iv"])
        name = af.create_attribute(enums.AttributeType.NAME, realm + "-key")
        assert (o["key"] in bob.locate(attributes=[name])) == ("locate" in perms), role
        assert o["key"] not in dave.locate(attributes=[name])
        checked += 2
        for op, needed, action in OPS:
            got = outcome(lambda: action(dave, o))
            assert got == RR.ITEM_NOT_FOUND, (role, op, "dave", got)
            want = "ok" if needed in perms else RR.PERMISSION_DENIED
            got = outcome(lambda: action(bob, o))
            assert got == want, (role, op, "bob", got)
            checked += 2
    assert checked == size
    print("\nrealm role matrix: %d of %d cases checked" % (checked, size))
