"""Identities, grants and the audit log, end to end.

  - the audit log: every operation on both listeners (binary KMIP and KMIP
    JSON over HTTPS), allowed or denied, lands in the audit table with the
    caller's principal and address; `keyhold audit verify` says OK, and
    finds the exact row after one row is edited or deleted with sqlite3;
  - grants: `keyhold grant add|remove|list`, and the authorization matrix:
    alice owns the objects, bob is granted one permission at a time, carol
    nothing; every KMIP operation that names an object is tried by each,
    and must succeed exactly when its permission was granted (bob without
    it: PermissionDenied; carol: ItemNotFound, as for a missing object).
"""
import json
import sqlite3

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.pie import exceptions as pie_exceptions

import kh_support

RR = enums.ResultReason
ALG = enums.CryptographicAlgorithm
MASK = enums.CryptographicUsageMask
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)

PERMISSIONS = ("create", "get", "export", "encrypt", "decrypt", "sign", "verify", "mac",
               "import", "revoke", "locate", "rekey", "destroy", "get_attributes",
               "modify_attributes")


keyhold = kh_support.run_keyhold


def principal_of(cert_path):
    """The server's principal for a certificate: hex SHA-256 of its DER SPKI."""
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return digest.finalize().hex()


@pytest.fixture(scope="module")
def users(certs):
    """alice, bob, and a third client with a valid certificate (the session's
    carol has an expired one), as name -> (cert-file stem, principal)."""
    d = certs.dir
    ca = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = kh_support._issue("carol-valid", key, ca, ca_key,
                             eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    certs._write("carol-valid", cert, key)
    out = {}
    for name, stem in (("alice", "alice"), ("bob", "bob"), ("carol", "carol-valid")):
        p = principal_of(certs.cert(stem))
        if stem in certs.spki_sha256:
            assert p == certs.spki_sha256[stem]
        out[name] = (stem, p)
    return out


@pytest.fixture(scope="module")
def clients(module_server, certs, users):
    opened = {}
    for name, (stem, _) in users.items():
        c = kh_support.make_client(module_server.port, stem, None, certs)
        c.open()
        opened[name] = c
    yield opened
    for c in opened.values():
        c.close()


def db_url(server):
    return "sqlite://" + str(server.db_path)


def grant(server, users, op, obj, to, perms):
    r = keyhold("grant", op, "--db", db_url(server), "--owner", users["alice"][1],
                "--object", obj, "--to", users[to][1] if to in users else to,
                "--permissions", perms)
    assert r.returncode == 0, r.stderr
    return r


def outcome(fn):
    """'ok', or the ResultReason of the failure."""
    try:
        fn()
        return "ok"
    except FAILURES as e:
        return e.reason


# ---- the audit log ---------------------------------------------------------


def audit_rows(path):
    with sqlite3.connect(str(path)) as db:
        return db.execute("SELECT id, principal, client_addr, operation, object_uid, result"
                          " FROM audit ORDER BY id").fetchall()


def test_audit_records_both_listeners_and_verifies(module_server, clients, users):
    alice, bob = clients["alice"], clients["bob"]
    uid = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT])
    alice.get(uid)
    assert outcome(lambda: bob.get(uid)) == RR.ITEM_NOT_FOUND
    conn = kh_support.https_connection(module_server.https_port, "bob")
    body = json.dumps({"tag": "Get", "type": "Structure", "value": [
        {"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]})
    conn.request("POST", "/kmip/2_1", body, {"Content-Type": "application/json"})
    assert conn.getresponse().status == 404
    conn.close()

    rows = audit_rows(module_server.db_path)
    mine = [r for r in rows if r[4] == uid]
    a, b = users["alice"][1], users["bob"][1]
    assert [(r[1], r[3], r[5]) for r in mine] == [
        (a, "Create", "KH_OK"), (a, "Get", "KH_OK"), (b, "Get", "KH_ERR_NOT_FOUND"),
        (b, "Get", "KH_ERR_NOT_FOUND")]
    assert all(r[2].startswith("127.0.0.1:") for r in mine), mine
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    # no key material: the Get's response never reaches the log
    with sqlite3.connect(str(module_server.db_path)) as db:
        cols = [c[1] for c in db.execute("PRAGMA table_info(audit)")]
    assert cols == ["id", "time_us", "principal", "client_addr", "operation", "object_uid",
                    "result", "hash"]

    r = keyhold("audit", "verify", "--db", db_url(module_server))  # next to the live server
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "OK: %d rows" % len(rows), r.stdout


def test_audit_reads_synced_later_survive_a_crash(tmp_path, certs, client):
    """--audit-sync-reads=false: read rows are committed before the reply
    (only their fsync may come later), so a kill -9 right after the replies
    loses none of them and the chain still verifies."""
    srv = kh_support.KeyholdServer(tmp_path / "lazy", certs,
                                   extra_args=["--audit-sync-reads", "false"])
    srv.start()
    try:
        alice = client(srv, "alice")
        uid = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT])
        for _ in range(5):
            alice.get(uid)
        alice.locate()
    finally:
        srv.kill()  # SIGKILL: no clean shutdown, no final checkpoint
    rows = audit_rows(srv.db_path)
    # Locate found one object, so its row names it too
    assert [r[3] for r in rows if r[4] == uid] == ["Create"] + ["Get"] * 5 + ["Locate"]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    r = keyhold("audit", "verify", "--db", db_url(srv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "OK: %d rows" % len(rows), r.stdout


def test_process_durability_survives_kill_9(tmp_path, certs, client):
    """--durability=process: what was acknowledged survives a kill -9 of
    keyhold (no fsync per commit, but the WAL is written before the reply):
    keys, their material and an audit chain that verifies."""
    srv = kh_support.KeyholdServer(tmp_path / "process", certs,
                                   extra_args=["--durability", "process"])
    srv.start()
    assert "--durability=process" in srv.log()
    try:
        alice = client(srv, "alice")
        uids = [alice.create(ALG.AES, 256) for _ in range(20)]
        material = {u: alice.get(u).value for u in uids}
    finally:
        srv.kill()  # SIGKILL right after the last reply
    srv.start()
    try:
        alice = client(srv, "alice")
        assert {u: alice.get(u).value for u in uids} == material
    finally:
        srv.stop()
    r = keyhold("audit", "verify", "--db", db_url(srv))
    assert r.returncode == 0, r.stdout + r.stderr


def test_bad_durability_refused(tmp_path, certs):
    srv = kh_support.KeyholdServer(tmp_path / "bad", certs, extra_args=["--durability", "disk"])
    with pytest.raises(kh_support.ServerError) as e:
        srv.start()
    assert "--durability must be power or process" in str(e.value)


def tampered_copy(server, tmp_path, name, sql):
    """A copy of the server's database (with its WAL) with sql applied."""
    dst = tmp_path / name
    with sqlite3.connect(str(server.db_path)) as src, sqlite3.connect(str(dst)) as out:
        src.backup(out)
    with sqlite3.connect(str(dst)) as db:
        db.execute(sql)
    return "sqlite://" + str(dst)


@pytest.mark.parametrize("sql", [
    "UPDATE audit SET principal = 'someone else' WHERE id = 3",
    "UPDATE audit SET result = result || 'x' WHERE id = 3",
    "UPDATE audit SET object_uid = object_uid || 'x' WHERE id = 3",
    "UPDATE audit SET time_us = time_us + 1 WHERE id = 3",
    "DELETE FROM audit WHERE id = 3",
])
def test_audit_verify_finds_the_tampered_row(module_server, clients, tmp_path, sql):
    alice = clients["alice"]
    for _ in range(3):
        alice.create(ALG.AES, 128)
    assert len(audit_rows(module_server.db_path)) >= 5
    r = keyhold("audit", "verify", "--db", tampered_copy(module_server, tmp_path, "t.db", sql))
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("BROKEN: row 3:"), r.stdout


def test_audit_verify_finds_a_cut_tail(module_server, clients, tmp_path):
    clients["alice"].create(ALG.AES, 128)
    last = audit_rows(module_server.db_path)[-1][0]
    url = tampered_copy(module_server, tmp_path, "cut.db", "DELETE FROM audit WHERE id = %d" % last)
    r = keyhold("audit", "verify", "--db", url)
    assert r.returncode == 1
    assert r.stdout.startswith("BROKEN: row %d:" % last), r.stdout


def test_audit_one_row_per_operation(tmp_path, certs, client, users):
    """A write and its audit row share one commit (docs/audit.md); still
    exactly one row per operation, allowed, refused or failed, with the same
    object as before, and the chain verifies."""
    from kmip.pie import objects as pobjects
    import os
    srv = kh_support.KeyholdServer(tmp_path / "once", certs)
    srv.start()
    try:
        alice, bob = client(srv, "alice"), client(srv, "bob")
        uid = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT])
        reg = alice.register(pobjects.SymmetricKey(ALG.AES, 128, os.urandom(16)))
        alice.activate(uid)
        new = alice.rekey(uid=uid)
        alice.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        alice.destroy(uid)
        pub, priv = alice.create_key_pair(ALG.RSA, 2048)
        assert outcome(lambda: bob.activate(reg)) == RR.ITEM_NOT_FOUND  # refused
        assert outcome(lambda: alice.destroy(new)) == RR.ILLEGAL_OPERATION  # failed: Active
    finally:
        srv.stop()
    rows = audit_rows(srv.db_path)
    a, b = users["alice"][1], users["bob"][1]
    got = [(r[1], r[3], r[4], r[5]) for r in rows]
    assert got == [
        (a, "Create", uid, "KH_OK"), (a, "Register", reg, "KH_OK"),
        (a, "Activate", uid, "KH_OK"), (a, "Rekey", uid, "KH_OK"),
        (a, "Revoke", uid, "KH_OK"), (a, "Destroy", uid, "KH_OK"),
        (a, "CreateKeyPair", "", "KH_OK"), (b, "Activate", reg, "KH_ERR_NOT_FOUND"),
        (a, "Destroy", new, got[-1][3])], got
    assert got[-1][3] != "KH_OK"
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    with sqlite3.connect(str(srv.db_path)) as db:  # the objects are there too
        for u in (uid, reg, new, pub, priv):
            assert db.execute("SELECT count(*) FROM object WHERE uid = ?", (u,)).fetchone() == (1,)
    r = keyhold("audit", "verify", "--db", db_url(srv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "OK: %d rows" % len(rows), r.stdout


def test_audit_one_row_per_kes_write(tmp_path, certs):
    """KES create, import and delete carry their row on their last write:
    still one row each (and one for a refused create of a taken name)."""
    import base64
    import os
    srv = kh_support.KeyholdServer(tmp_path / "kes-once", certs)
    srv.start()
    try:
        def call(method, path, body=None):
            conn = kh_support.https_connection(srv.https_port, "alice")
            conn.request(method, path, json.dumps(body) if body is not None else None,
                         {"Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
            return status
        assert call("POST", "/v1/key/create/once-a") == 200
        assert call("POST", "/v1/key/create/once-a") == 400  # taken
        key = base64.b64encode(os.urandom(32)).decode()
        assert call("POST", "/v1/key/import/once-b", {"key": key, "cipher": "AES256"}) == 200
        assert call("DELETE", "/v1/key/delete/once-a") == 200
        assert call("DELETE", "/v1/key/delete/once-a") == 404  # gone
    finally:
        srv.stop()
    rows = audit_rows(srv.db_path)
    ops = [(r[3], r[5]) for r in rows]
    assert ops == [("kes_key_create", "KH_OK"), ("kes_key_create", "KH_ERR_EXISTS"),
                   ("kes_key_import", "KH_OK"), ("kes_key_delete", "KH_OK"),
                   ("kes_key_delete", "KH_ERR_NOT_FOUND")], ops
    assert rows[0][4] and rows[0][4] == rows[3][4]  # the key's uid, created then deleted
    assert rows[2][4] and rows[2][4] != rows[0][4]
    r = keyhold("audit", "verify", "--db", db_url(srv))
    assert r.returncode == 0, r.stdout + r.stderr


# ---- grants ---------------------------------------------------------------


def test_grant_cli_add_list_remove(module_server, users):
    uid = "no-such-object"
    r = keyhold("grant", "add", "--db", db_url(module_server), "--owner", users["alice"][1],
                "--object", uid, "--to", "*", "--permissions", "get")
    assert r.returncode == 1 and "not found" in r.stderr
    grant(module_server, users, "add", "*", "bob", "get,locate")
    grant(module_server, users, "add", "*", "bob", "encrypt")
    r = keyhold("grant", "list", "--db", db_url(module_server), "--owner", users["alice"][1])
    assert r.returncode == 0
    assert "*\t%s\tget,encrypt,locate\n" % users["bob"][1] in r.stdout
    grant(module_server, users, "remove", "*", "bob", "all")
    r = keyhold("grant", "list", "--db", db_url(module_server), "--owner", users["alice"][1],
                "--object", "*")
    assert r.stdout == ""
    r = keyhold("grant", "add", "--db", db_url(module_server), "--owner", "x", "--object", "*",
                "--to", "*", "--permissions", "fly")
    assert r.returncode == 2 and "unknown permission" in r.stderr


class Round:
    """alice's objects for one row of the matrix, fresh so that state
    changes (Activate, Revoke, Destroy) of one row never affect another."""

    def __init__(self, alice, tag):
        self.name = "matrix-" + tag
        self.key = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT],
                                name=self.name)
        alice.activate(self.key)
        self.ct, self.iv = alice.encrypt(b"matrix", uid=self.key)
        self.hmac = alice.create(ALG.HMAC_SHA256, 256,
                                 cryptographic_usage_mask=[MASK.MAC_GENERATE])
        alice.activate(self.hmac)
        self.pub, self.priv = alice.create_key_pair(ALG.EC, 256)
        alice.activate(self.pub)
        alice.activate(self.priv)
        self.sig = alice.sign(b"matrix", uid=self.priv)
        self.pre = alice.create(ALG.AES, 128)  # PreActive: for Activate
        self.doomed = alice.create(ALG.AES, 128)  # PreActive: Destroy may take it

    def objects(self):
        return [self.key, self.hmac, self.pub, self.priv, self.pre, self.doomed]


# (name, permission needed, action(client, round)); Revoke and Destroy come
# last since they end the key's useful life.
OPS = [
    ("Get", "get", lambda c, r: c.get(r.key)),
    ("GetAttributes", "get_attributes", lambda c, r: c.get_attributes(r.key, ["State"])),
    ("GetAttributeList", "get_attributes", lambda c, r: c.get_attribute_list(r.key)),
    ("Activate", "modify_attributes", lambda c, r: c.activate(r.pre)),
    ("Encrypt", "encrypt", lambda c, r: c.encrypt(b"hello", uid=r.key)),
    ("Decrypt", "decrypt", lambda c, r: c.decrypt(r.ct, uid=r.key, iv_counter_nonce=r.iv)),
    ("MAC", "mac", lambda c, r: c.mac(b"hello", uid=r.hmac, algorithm=ALG.HMAC_SHA256)),
    ("Sign", "sign", lambda c, r: c.sign(b"hello", uid=r.priv)),
    ("SignatureVerify", "verify", lambda c, r: c.signature_verify(b"matrix", r.sig, uid=r.pub)),
    ("Revoke", "revoke",
     lambda c, r: c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, r.key)),
    ("Destroy", "destroy", lambda c, r: c.destroy(r.doomed)),
]


def locate_sees(client, rnd):
    attr = client.attribute_factory.create_attribute(enums.AttributeType.NAME, rnd.name)
    return rnd.key in client.locate(attributes=[attr])


def test_authorization_matrix(module_server, clients, users):
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    checked = 0
    size = len(PERMISSIONS) * (len(OPS) + 1) * 2
    print("\nauthorization matrix: %d permissions x %d operations x 2 users (bob granted, "
          "carol not) = %d cases" % (len(PERMISSIONS), len(OPS) + 1, size))
    for perm in PERMISSIONS:
        rnd = Round(alice, perm)
        for uid in rnd.objects():
            grant(module_server, users, "add", uid, "bob", perm)
        assert locate_sees(bob, rnd) == (perm == "locate"), perm
        assert not locate_sees(carol, rnd)
        checked += 2
        for name, needed, action in OPS:
            got = outcome(lambda: action(carol, rnd))
            assert got == RR.ITEM_NOT_FOUND, (perm, name, "carol", got)
            want = "ok" if needed == perm else RR.PERMISSION_DENIED
            got = outcome(lambda: action(bob, rnd))
            assert got == want, (perm, name, "bob", got)
            checked += 2
    assert checked == size
    print("authorization matrix: %d of %d cases checked" % (checked, size))


def test_owner_holds_everything_and_removal_hides(module_server, clients, users):
    alice, bob = clients["alice"], clients["bob"]
    rnd = Round(alice, "owner")
    assert locate_sees(alice, rnd)
    for name, _, action in OPS:
        assert outcome(lambda: action(alice, rnd)) == "ok", name
    # a grant taken back: the object disappears again, as if it never was
    other = Round(alice, "removal")
    grant(module_server, users, "add", other.key, "bob", "get")
    assert outcome(lambda: bob.get(other.key)) == "ok"
    grant(module_server, users, "remove", other.key, "bob", "get")
    assert outcome(lambda: bob.get(other.key)) == RR.ITEM_NOT_FOUND


def test_wildcard_grants(module_server, clients, users):
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    rnd = Round(alice, "wildcard")
    assert outcome(lambda: carol.get(rnd.key)) == RR.ITEM_NOT_FOUND
    grant(module_server, users, "add", "*", "*", "get_attributes")  # all of alice's, everyone
    try:
        for c in (bob, carol):
            assert outcome(lambda: c.get_attribute_list(rnd.key)) == "ok"
            assert outcome(lambda: c.get(rnd.key)) == RR.PERMISSION_DENIED
    finally:
        grant(module_server, users, "remove", "*", "*", "get_attributes")
    assert outcome(lambda: carol.get_attribute_list(rnd.key)) == RR.ITEM_NOT_FOUND


def test_kmip_json_follows_grants(module_server, clients, users):
    alice = clients["alice"]
    rnd = Round(alice, "json")
    grant(module_server, users, "add", rnd.key, "bob", "get_attributes")
    body = json.dumps({"tag": "Get", "type": "Structure", "value": [
        {"tag": "UniqueIdentifier", "type": "TextString", "value": rnd.key}]})
    cases = [("bob", 403), ("carol-valid", 404), ("alice", 200)]
    for who, status in cases:
        conn = kh_support.https_connection(module_server.https_port, who)
        conn.request("POST", "/kmip/2_1", body, {"Content-Type": "application/json"})
        assert conn.getresponse().status == status, who
        conn.close()
    r = keyhold("audit", "verify", "--db", db_url(module_server))
    assert r.returncode == 0 and r.stdout.startswith("OK: "), r.stdout


def test_audit_holds_no_key_material(module_server, clients):
    alice = clients["alice"]
    uid = alice.create(ALG.AES, 256)
    key = alice.get(uid).value
    with sqlite3.connect(str(module_server.db_path)) as db:
        for row in db.execute("SELECT principal, client_addr, operation, object_uid, result"
                              " FROM audit"):
            for field in row:
                assert key.hex() not in field and key.hex().upper() not in field


# ---- the same matrix over KMIP JSON (POST /kmip/2_1) -------------------------


def jitem(tag, type_, value):
    return {"tag": tag, "type": type_, "value": value}


def juid(uid):
    return jitem("UniqueIdentifier", "TextString", uid)


def jpost(port, who, body):
    """HTTP status and JSON reply of one KMIP JSON operation."""
    conn = kh_support.https_connection(port, who)
    try:
        conn.request("POST", "/kmip/2_1", json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def jvalues(resp):
    return {k["tag"]: k["value"] for k in resp["value"]}


def json_outcome(port, who, body):
    """'ok', or the ResultReason name of the failure."""
    status, resp = jpost(port, who, body)
    return "ok" if status == 200 else resp.get("result_reason", status)


def json_encrypted(port, stem, uid):
    """Data, IV and tag (when any) of an Encrypt by the owner, over JSON."""
    status, resp = jpost(port, stem, jitem("Encrypt", "Structure", [
        juid(uid), jitem("Data", "ByteString", b"matrix".hex().upper())]))
    assert status == 200, resp
    v = jvalues(resp)
    out = [jitem("Data", "ByteString", v["Data"])]
    for tag in ("IvCounterNonce", "AuthenticatedEncryptionTag"):
        if tag in v:
            out.append(jitem(tag, "ByteString", v[tag]))
    return out


JSON_OPS = [
    ("Get", "get", lambda r: jitem("Get", "Structure", [juid(r.key)])),
    ("GetAttributes", "get_attributes", lambda r: jitem("GetAttributes", "Structure",
                                                        [juid(r.key)])),
    ("GetAttributeList", "get_attributes",
     lambda r: jitem("GetAttributeList", "Structure", [juid(r.key)])),
    ("Activate", "modify_attributes", lambda r: jitem("Activate", "Structure", [juid(r.pre)])),
    ("Encrypt", "encrypt", lambda r: jitem("Encrypt", "Structure", [
        juid(r.key), jitem("Data", "ByteString", "68656C6C6F")])),
    ("Decrypt", "decrypt", lambda r: jitem("Decrypt", "Structure", [juid(r.key)] + r.jct)),
    ("MAC", "mac", lambda r: jitem("MAC", "Structure", [
        juid(r.hmac),
        jitem("CryptographicParameters", "Structure",
              [jitem("CryptographicAlgorithm", "Enumeration", "HMACSHA256")]),
        jitem("Data", "ByteString", "68656C6C6F")])),
    ("Sign", "sign", lambda r: jitem("Sign", "Structure", [
        juid(r.priv), jitem("Data", "ByteString", "68656C6C6F")])),
    ("SignatureVerify", "verify", lambda r: jitem("SignatureVerify", "Structure", [
        juid(r.pub), jitem("Data", "ByteString", b"matrix".hex().upper()),
        jitem("SignatureData", "ByteString", r.sig.hex().upper())])),
    ("Revoke", "revoke", lambda r: jitem("Revoke", "Structure", [
        juid(r.key), jitem("RevocationReason", "Structure", [
            jitem("RevocationReasonCode", "Enumeration", "CessationOfOperation")])])),
    ("Destroy", "destroy", lambda r: jitem("Destroy", "Structure", [juid(r.doomed)])),
]


def json_locate_sees(port, who, rnd):
    status, resp = jpost(port, who, jitem("Locate", "Structure", [
        jitem("Attributes", "Structure", [jitem("Name", "Structure", [
            jitem("NameValue", "TextString", rnd.name),
            jitem("NameType", "Enumeration", "UninterpretedTextString")])])]))
    assert status == 200, resp
    return any(k["tag"] == "UniqueIdentifier" and k["value"] == rnd.key for k in resp["value"])


def test_authorization_matrix_over_kmip_json(module_server, clients, users):
    """The matrix of test_authorization_matrix, every operation sent as KMIP
    JSON over the HTTPS listener by bob (granted one permission per row) and
    carol (granted nothing), with the same client certificates."""
    port = module_server.https_port
    bob, carol = users["bob"][0], users["carol"][0]
    checked = 0
    size = len(PERMISSIONS) * (len(JSON_OPS) + 1) * 2
    print("\nauthorization matrix over KMIP JSON: %d permissions x %d operations x 2 users = %d "
          "cases" % (len(PERMISSIONS), len(JSON_OPS) + 1, size))
    for perm in PERMISSIONS:
        rnd = Round(clients["alice"], "json-" + perm)
        rnd.jct = json_encrypted(port, users["alice"][0], rnd.key)
        for uid in rnd.objects():
            grant(module_server, users, "add", uid, "bob", perm)
        assert json_locate_sees(port, bob, rnd) == (perm == "locate"), perm
        assert not json_locate_sees(port, carol, rnd)
        checked += 2
        for name, needed, body in JSON_OPS:
            got = json_outcome(port, carol, body(rnd))
            assert got == "ItemNotFound", (perm, name, "carol", got)
            want = "ok" if needed == perm else "PermissionDenied"
            got = json_outcome(port, bob, body(rnd))
            assert got == want, (perm, name, "bob", got)
            checked += 2
    assert checked == size
    print("authorization matrix over KMIP JSON: %d of %d cases checked" % (checked, size))
