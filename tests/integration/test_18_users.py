"""Users, identities, API keys and the admin API, end to end over real
HTTPS (docs/admin-api.md):

  - the admin API's authorization: the administration token (ok, missing,
    wrong), an ADMIN user (by certificate or API key), a STANDARD user and
    an unregistered certificate (403);
  - users with their history, identities, API keys, organizations, grants;
  - API key authentication on KMIP JSON, wrong and revoked keys;
  - one user owning the same objects over KMIP binary (certificate) and
    KMIP JSON (API key), and its revocation on both listeners;
  - the reverse proxy trust, seen through the audit log's client address;
  - the CLI verbs against a live server.
"""
import json
import os
import sqlite3
import subprocess
import time

import pytest
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.pie import exceptions as pie_exceptions

import kh_support

TOKEN = "test-administration-token-0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN}
ALG = enums.CryptographicAlgorithm
RR = enums.ResultReason
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)


@pytest.fixture(scope="module")
def srv(tmp_path_factory, certs):
    s = kh_support.KeyholdServer(tmp_path_factory.mktemp("users"), certs,
                                 extra_args=["--administration-token", TOKEN,
                                             "--proxy-trusted-address", "127.0.0.0/8, ::1"])
    s.start()
    yield s
    s.stop()


def api(server, method, path, body=None, headers=None, who=None):
    """One HTTPS request; returns (status, parsed JSON body)."""
    conn = kh_support.https_connection(server.https_port, who)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, json.dumps(body) if body is not None else None, h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if data else None)


def admin(server, method, path, body=None):
    return api(server, method, "/v1/admin/" + path, body, AUTH)


def new_user(server, label, profile="STANDARD"):
    status, u = admin(server, "POST", "users", {"label": label, "email": label + "@example.com",
                                               "profile": profile})
    assert status == 201, u
    return u["id"]


def new_key(server, user_id, label="test"):
    status, k = admin(server, "POST", "users/%s/api-keys" % user_id, {"label": label})
    assert status == 201, k
    return k


def bearer(key):
    return {"Authorization": "Bearer " + key}


def item(tag, type_, value):
    return {"tag": tag, "type": type_, "value": value}


CREATE = item("Create", "Structure", [
    item("ObjectType", "Enumeration", "SymmetricKey"),
    item("Attributes", "Structure", [
        item("CryptographicAlgorithm", "Enumeration", "AES"),
        item("CryptographicLength", "Integer", 256),
        item("CryptographicUsageMask", "Integer", 12)])])


def get_payload(uid):
    return item("Get", "Structure", [item("UniqueIdentifier", "TextString", uid)])


def uid_of(resp):
    return [k["value"] for k in resp["value"] if k["tag"] == "UniqueIdentifier"][0]


def db_rows(server, sql, *args):
    with sqlite3.connect(str(server.db_path)) as db:
        return db.execute(sql, args).fetchall()


def tls(certs, who):
    return "tls:" + certs.spki_sha256[who]


# ---- authorization of the admin API ----------------------------------------


def test_admin_token_ok_missing_wrong(srv):
    assert admin(srv, "GET", "users")[0] == 200
    status, body = api(srv, "GET", "/v1/admin/users")
    assert status == 401 and "message" in body
    status, body = api(srv, "GET", "/v1/admin/users", headers=bearer("wrong-" + TOKEN))
    assert status == 401
    assert api(srv, "GET", "/v1/admin/users", headers=bearer(TOKEN[:-1]))[0] == 401
    assert api(srv, "GET", "/v1/admin/users", headers={"Authorization": "Basic " + TOKEN})[0] == 401
    # a certificate that is nobody's: authenticated, not an administrator
    assert api(srv, "GET", "/v1/admin/users", who="alice")[0] == 403
    rows = db_rows(srv, "SELECT principal, operation, result FROM audit WHERE operation = 'Admin'")
    assert ("", "Admin", "KH_ERR_AUTH") in rows
    assert (srv.certs.spki_sha256["alice"], "Admin", "KH_ERR_PERMISSION") in rows
    # the token never reaches the log or the database
    assert TOKEN not in srv.log()
    with open(srv.db_path, "rb") as f:
        assert TOKEN.encode() not in f.read()


def test_admin_user_allowed_standard_user_forbidden(srv):
    boss = new_user(srv, "boss", "ADMIN")
    clerk = new_user(srv, "clerk", "STANDARD")
    boss_key, clerk_key = new_key(srv, boss)["api_key"], new_key(srv, clerk)["api_key"]
    assert api(srv, "GET", "/v1/admin/users", headers=bearer(boss_key))[0] == 200
    status, body = api(srv, "POST", "/v1/admin/users", {"label": "by boss"},
                       headers=bearer(boss_key))
    assert status == 201
    by_boss = body["id"]
    assert api(srv, "GET", "/v1/admin/users", headers=bearer(clerk_key))[0] == 403
    assert api(srv, "POST", "/v1/admin/users/%s/revoke" % boss, headers=bearer(clerk_key))[0] == 403
    # the history names the administrator who acted
    status, u = admin(srv, "GET", "users/" + by_boss)
    assert u["history"][0]["actor"] == boss
    # promoting the clerk opens the API to it, at once
    assert admin(srv, "PATCH", "users/" + clerk, {"profile": "ADMIN"})[0] == 200
    assert api(srv, "GET", "/v1/admin/users", headers=bearer(clerk_key))[0] == 200


def test_admin_user_by_certificate(srv, certs, tmp_path):
    # bob's certificate is an ADMIN user's identity: bob may administer
    u = new_user(srv, "bob-admin", "ADMIN")
    assert admin(srv, "POST", "users/%s/identities" % u, {"identity": tls(certs, "bob")})[0] == 201
    assert api(srv, "GET", "/v1/admin/organizations", who="bob")[0] == 200
    assert admin(srv, "DELETE", "users/%s/identities" % u, {"identity": tls(certs, "bob")})[0] == 200
    assert api(srv, "GET", "/v1/admin/organizations", who="bob")[0] == 403


# ---- users, history, identities, organizations -------------------------------


def test_user_lifecycle_and_history(srv, certs):
    status, body = admin(srv, "POST", "users", {"label": "Ann", "email": "ann@example.com"})
    assert status == 201 and body["profile"] == "STANDARD" and body["organization"] == "default"
    uid = body["id"]
    assert len(uid) == 36 and uid.count("-") == 4
    assert admin(srv, "PATCH", "users/" + uid, {"profile": "OUTSIDER"})[1]["profile"] == "OUTSIDER"
    assert admin(srv, "PATCH", "users/" + uid, {"email": "ann@corp.example"})[0] == 200
    status, u = admin(srv, "POST", "users/%s/revoke" % uid)
    assert status == 200 and u["revoked"] and u["revoked_at"]
    assert admin(srv, "POST", "users/%s/revoke" % uid)[0] == 409
    assert admin(srv, "PATCH", "users/" + uid, {"label": "x"})[0] == 409
    status, u = admin(srv, "GET", "users/" + uid)
    assert [h["change"] for h in u["history"]] == ["create", "update", "update", "revoke"]
    assert [h["profile"] for h in u["history"]] == ["STANDARD", "OUTSIDER", "OUTSIDER",
                                                     "OUTSIDER"]
    assert [h["email"] for h in u["history"]][:2] == ["ann@example.com", "ann@example.com"]
    assert all(h["actor"] == "administration-token" for h in u["history"])
    # nothing overwritten: four rows in the table
    assert db_rows(srv, "SELECT count(*) FROM user_history WHERE user_id = ?", uid) == [(4,)]
    ids = [x["id"] for x in admin(srv, "GET", "users")[1]["users"]]
    assert uid in ids
    audit = db_rows(srv, "SELECT operation, object_uid, result FROM audit WHERE object_uid = ?",
                    uid)
    assert [a[0] for a in audit if a[2] == "KH_OK"][:4] == ["CreateUser", "UpdateUser",
                                                            "UpdateUser", "RevokeUser"]
    # identity changes name the user and the identity
    assert admin(srv, "POST", "users/%s/identities" % uid,
                 {"identity": "jwt:https://i.example#ann"})[0] == 201
    assert db_rows(srv, "SELECT object_uid FROM audit WHERE operation = 'AddIdentity'"
                   " ORDER BY id DESC LIMIT 1") == [(uid + " jwt:https://i.example#ann",)]


@pytest.mark.parametrize("body", [
    {}, {"label": ""}, {"label": 7}, {"label": "x", "profile": "ROOT"},
    {"label": "x", "organization": "nope"}, {"label": "x", "email": ["a"]},
])
def test_user_create_refuses_bad_input(srv, body):
    status, r = admin(srv, "POST", "users", body)
    assert status in (400, 404) and "message" in r


def test_bad_requests(srv):
    assert admin(srv, "GET", "users/no-such-user")[0] == 404
    assert admin(srv, "GET", "nothing")[0] == 404
    status, _ = admin(srv, "PUT", "users")
    assert status == 405
    conn = kh_support.https_connection(srv.https_port, None)
    conn.request("POST", "/v1/admin/users", "{not json", dict(AUTH))
    assert conn.getresponse().status == 400
    conn.close()
    u = new_user(srv, "idtest")
    assert admin(srv, "PATCH", "users/" + u, {})[0] == 400  # nothing to record
    for bad in ("alice", "tls:XYZ", "tls:" + "A" * 64, "apikey:0011", "jwt:no-subject"):
        assert admin(srv, "POST", "users/%s/identities" % u, {"identity": bad})[0] == 400, bad
    ok = "jwt:https://issuer.example#user-42"
    assert admin(srv, "POST", "users/%s/identities" % u, {"identity": ok})[0] == 201
    other = new_user(srv, "idtest2")
    assert admin(srv, "POST", "users/%s/identities" % other, {"identity": ok})[0] == 409
    assert admin(srv, "DELETE", "users/%s/identities" % other, {"identity": ok})[0] == 404
    status, ids = admin(srv, "GET", "users/%s/identities" % u)
    assert [i["identity"] for i in ids["identities"]] == [ok]


def test_organizations(srv):
    status, orgs = admin(srv, "GET", "organizations")
    assert status == 200 and "default" in [o["id"] for o in orgs["organizations"]]
    assert admin(srv, "POST", "organizations", {"id": "acme"})[0] == 201
    assert admin(srv, "POST", "organizations", {"id": "acme"})[0] == 409
    assert admin(srv, "POST", "organizations", {"id": "bad id!"})[0] == 400
    status, u = admin(srv, "POST", "users", {"label": "wile", "organization": "acme"})
    assert status == 201 and u["organization"] == "acme"
    status, lst = admin(srv, "GET", "organizations/acme/users")
    assert status == 200 and [x["id"] for x in lst["users"]] == [u["id"]]
    assert admin(srv, "GET", "organizations/nobody/users") == (200, {"users": []})
    assert admin(srv, "POST", "organizations/acme/users", {})[0] == 405
    r = cli(srv, "user", "list", "--organization", "acme")
    assert r.returncode == 0 and [x["id"] for x in json.loads(r.stdout)["users"]] == [u["id"]]


# ---- API keys --------------------------------------------------------------


def test_api_key_authenticates_kmip_json(srv):
    u = new_user(srv, "keyed")
    k = new_key(srv, u, "ci")
    key = k["api_key"]
    assert key.startswith("khk_") and key.count(".") == 1 and k["id"] in key
    status, resp = api(srv, "POST", "/kmip/2_1", CREATE, bearer(key))
    assert status == 200, resp
    uid = uid_of(resp)
    assert db_rows(srv, "SELECT owner FROM object WHERE uid = ?", uid) == [(u,)]
    audit = db_rows(srv, "SELECT principal FROM audit WHERE object_uid = ? AND operation = 'Create'",
                    uid)
    assert audit == [("%s (apikey:%s)" % (u, k["id"]),)]
    # the secret is stored hashed only, and not listed again
    assert key.split(".")[1] not in json.dumps(admin(srv, "GET", "users/%s/api-keys" % u)[1])
    with open(srv.db_path, "rb") as f:
        assert key.split(".")[1].encode() not in f.read()
    # wrong secret, unknown id, malformed, JWT-shaped: 401
    secret = key.split(".")[1]
    wrong = key[:-1] + ("0" if key[-1] != "0" else "1")
    for bad in (wrong, "khk_0000000000000000." + secret, "khk_x", key + ".x", "a.b.c"):
        assert api(srv, "POST", "/kmip/2_1", CREATE, bearer(bad))[0] == 401, bad
    # revoked: 401 at once
    assert admin(srv, "DELETE", "api-keys/" + k["id"])[0] == 200
    assert admin(srv, "DELETE", "api-keys/" + k["id"])[0] == 404
    assert api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(key))[0] == 401
    keys = admin(srv, "GET", "users/%s/api-keys" % u)[1]["api_keys"]
    assert [x["revoked"] for x in keys] == [True]


def test_same_user_on_both_listeners_and_revocation(srv, certs, client):
    u = new_user(srv, "alice-the-user")
    assert admin(srv, "POST", "users/%s/identities" % u, {"identity": tls(certs, "alice")})[0] == 201
    key = new_key(srv, u)["api_key"]
    try:
        kmip = client(srv, "alice")
        uid = kmip.create(ALG.AES, 256)
        assert db_rows(srv, "SELECT owner FROM object WHERE uid = ?", uid) == [(u,)]
        # the same user, by API key over KMIP JSON, sees the object
        status, resp = api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(key))
        assert status == 200, resp
        # and by certificate over KMIP JSON
        assert api(srv, "POST", "/kmip/2_1", get_payload(uid), who="alice")[0] == 200
        # an object made over HTTPS is the user's over binary KMIP
        status, resp = api(srv, "POST", "/kmip/2_1", CREATE, bearer(key))
        assert kmip.get(uid_of(resp)) is not None
        # someone else does not see it
        assert api(srv, "POST", "/kmip/2_1", get_payload(uid), who="bob")[0] == 404
        audit = db_rows(srv, "SELECT principal FROM audit WHERE object_uid = ? ORDER BY id", uid)
        assert audit[0] == ("%s (%s)" % (u, tls(certs, "alice")),)

        assert admin(srv, "POST", "users/%s/revoke" % u)[0] == 200
        with pytest.raises(FAILURES) as e:
            client(srv, "alice").get(uid)
        assert e.value.reason == RR.AUTHENTICATION_NOT_SUCCESSFUL
        assert api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(key))[0] == 401
        assert api(srv, "POST", "/kmip/2_1", get_payload(uid), who="alice")[0] == 401
        rows = db_rows(srv, "SELECT operation, result FROM audit ORDER BY id DESC LIMIT 5")
        assert ("RequestMessage", "KH_ERR_AUTH") in rows
    finally:
        # free alice's certificate for the other tests: a revoked user keeps
        # its identities, so unmap it
        admin(srv, "DELETE", "users/%s/identities" % u, {"identity": tls(certs, "alice")})
    # unmapped, alice is her certificate again (the hex principal)
    assert api(srv, "POST", "/kmip/2_1", CREATE, who="alice")[0] == 200


def test_admin_grants(srv, certs, client):
    owner, reader = new_user(srv, "owner"), new_user(srv, "reader")
    okey, rkey = new_key(srv, owner)["api_key"], new_key(srv, reader)["api_key"]
    status, resp = api(srv, "POST", "/kmip/2_1", CREATE, bearer(okey))
    uid = uid_of(resp)
    assert api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(rkey))[0] == 404
    status, g = admin(srv, "POST", "grants/" + owner,
                      {"object": uid, "grantee": reader, "permissions": ["get"]})
    assert status == 201 and g["permissions"] == "get"
    assert api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(rkey))[0] == 200
    status, lst = admin(srv, "GET", "grants/" + owner)
    assert lst["grants"] == [{"owner": owner, "object": uid, "grantee": reader,
                              "permissions": "get"}]
    # only the owner grants: the reader, who may Get, may not grant
    assert admin(srv, "POST", "grants/" + reader,
                 {"object": uid, "grantee": reader, "permissions": "get"})[0] == 403
    assert admin(srv, "POST", "grants/" + owner,
                 {"object": uid, "grantee": reader, "permissions": "fly"})[0] == 400
    assert admin(srv, "DELETE", "grants/" + owner,
                 {"object": uid, "grantee": reader, "permissions": "all"})[0] == 200
    assert api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(rkey))[0] == 404
    # percent-encoded owners reach principals with any characters
    assert admin(srv, "GET", "grants/jwt%3Ahttps%3A%2F%2Fi.example%23s")[1] == {"grants": []}
    # but no principal has bytes outside printable ASCII (found by fuzz_admin)
    for bad in ("grants/%96%88", "grants/a%00b", "grants/a%2", "grants/"):
        status, body = admin(srv, "GET", bad)
        assert status == 400 and "message" in body, bad


# ---- reverse proxy trust ------------------------------------------------------


def last_audit_addr(server):
    return db_rows(server, "SELECT client_addr FROM audit ORDER BY id DESC LIMIT 1")[0][0]


def test_forwarded_for_from_trusted_proxy(srv):
    h = {"X-Forwarded-For": "198.51.100.7, 127.0.0.5", "X-Forwarded-Proto": "https"}
    h.update(AUTH)
    assert api(srv, "POST", "/v1/admin/users", {"label": "proxied"}, h)[0] == 201
    # 127.0.0.5 is itself a trusted proxy: the client is the one before it
    assert last_audit_addr(srv) == "198.51.100.7"
    assert api(srv, "POST", "/kmip/2_1", CREATE,
               {"X-Forwarded-For": "2001:db8::1"}, who="bob")[0] == 200
    assert last_audit_addr(srv) == "2001:db8::1"
    # the KES routes too
    assert api(srv, "POST", "/v1/key/create/proxied-key", None,
               {"X-Forwarded-For": "192.0.2.44"}, who="bob")[0] == 200
    assert last_audit_addr(srv) == "192.0.2.44"
    # garbage in the header: the peer, which we know
    assert api(srv, "POST", "/kmip/2_1", CREATE,
               {"X-Forwarded-For": "not-an-address"}, who="bob")[0] == 200
    assert last_audit_addr(srv).startswith("127.0.0.1:")


def test_forwarded_for_from_untrusted_peer(tmp_path, certs):
    s = kh_support.KeyholdServer(tmp_path / "untrusted", certs,
                                 extra_args=["--proxy-trusted-address", "10.0.0.0/8"])
    s.start()
    try:
        assert api(s, "POST", "/kmip/2_1", CREATE, {"X-Forwarded-For": "198.51.100.7"},
                   who="bob")[0] == 200
        assert last_audit_addr(s).startswith("127.0.0.1:")
    finally:
        s.stop()


def test_bad_proxy_list_and_short_token_refused(tmp_path, certs):
    for extra in (["--proxy-trusted-address", "10.0.0.0/33"],
                  ["--proxy-trusted-address", "example.com"],
                  ["--administration-token", "short"]):
        s = kh_support.KeyholdServer(tmp_path / ("bad%d" % len(extra[1])), certs,
                                     extra_args=extra)
        with pytest.raises(kh_support.ServerError):
            s.start(timeout=5)
        s.kill()


# ---- the CLI -------------------------------------------------------------------


def cli(server, *args, env_token=True, certs=None):
    env = dict(os.environ)
    env.pop("KEYHOLD_ADMINISTRATION_TOKEN", None)
    if env_token:
        env["KEYHOLD_ADMINISTRATION_TOKEN"] = TOKEN
    cmd = [str(kh_support.keyhold_bin()), *args]
    if server is not None:
        cmd += ["--server", "https://127.0.0.1:%d" % server.https_port,
                "--ca", kh_support.CERTS.ca]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env,
                          cwd=str(server.workdir) if server else None)


def test_cli_verbs(srv, certs):
    for verb in ("user", "identity", "apikey", "org"):
        r = cli(None, verb, "--help")
        assert r.returncode == 0 and "--server" in r.stdout and "--administration-token" in r.stdout
    r = cli(srv, "user", "create", "--label", "Cli User", "--email", "cli@example.com")
    assert r.returncode == 0, r.stderr
    uid = json.loads(r.stdout)["id"]
    r = cli(srv, "user", "update", uid, "--profile", "ADMIN")
    assert r.returncode == 0 and json.loads(r.stdout)["profile"] == "ADMIN"
    assert uid in [u["id"] for u in json.loads(cli(srv, "user", "list").stdout)["users"]]
    r = cli(srv, "identity", "add", uid, tls(certs, "bob"))
    assert r.returncode == 0, r.stderr
    r = cli(srv, "identity", "add", uid, "nonsense")
    assert r.returncode == 1 and "identity must be" in r.stderr
    r = cli(srv, "apikey", "create", uid, "--label", "deploy")
    assert r.returncode == 0, r.stderr
    key = json.loads(r.stdout)
    # the new ADMIN user's key works in place of the token
    r = cli(srv, "org", "create", "cli-org", "--api-key", key["api_key"], env_token=False)
    assert r.returncode == 0, r.stderr
    assert "cli-org" in cli(srv, "org", "list").stdout
    r = cli(srv, "apikey", "list", uid)
    assert r.returncode == 0 and key["api_key"] not in r.stdout and key["id"] in r.stdout
    assert cli(srv, "apikey", "revoke", key["id"]).returncode == 0
    r = cli(srv, "org", "list", "--api-key", key["api_key"], env_token=False)
    assert r.returncode == 1 and "401" in r.stderr
    r = cli(srv, "identity", "remove", uid, tls(certs, "bob"))
    assert r.returncode == 0, r.stderr
    r = cli(srv, "user", "show", uid)
    shown = json.loads(r.stdout)
    assert [h["change"] for h in shown["history"]] == ["create", "update"]
    # bob's certificate, then the key's identity: both unmapped now
    assert [i["identity"] for i in shown["identities"]] == [tls(certs, "bob"),
                                                            "apikey:" + key["id"]]
    assert [i["active"] for i in shown["identities"]] == [False, False]
    assert cli(srv, "user", "revoke", uid).returncode == 0
    # no token: 401; usage errors: 2
    r = cli(srv, "user", "list", env_token=False)
    assert r.returncode == 1 and "401" in r.stderr
    assert cli(srv, "user", "show").returncode == 2
    assert cli(srv, "user", "frobnicate", uid).returncode == 2


# ---- PostgreSQL: users shared by several nodes ----------------------------------

PG = os.environ.get("KH_TEST_PG_URL")


@pytest.mark.skipif(not PG, reason="KH_TEST_PG_URL is not set")
def test_users_shared_by_two_nodes_on_postgresql(tmp_path, certs, client):
    import shutil
    import uuid
    schema = "it_users_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", PG, "-q", "-c", "CREATE SCHEMA " + schema], check=True,
                   capture_output=True)
    url = PG + ("&" if "?" in PG else "?") + "options=-csearch_path%3D" + schema
    # node a reads identities from the database on every request (a
    # revocation on b is refused on a at once); node b caches them for the
    # default --identity-cache-ttl (a revocation on a is refused on b
    # within that time)
    a = kh_support.KeyholdServer(tmp_path / "a", certs, db_url=url,
                                 extra_args=["--administration-token", TOKEN,
                                             "--identity-cache-ttl", "0"])
    b = kh_support.KeyholdServer(tmp_path / "b", certs, db_url=url,
                                 extra_args=["--administration-token", TOKEN])
    try:
        a.start()
        b.workdir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.master_key, b.master_key)
        os.chmod(b.master_key, 0o600)
        b.start()
        u = new_user(a, "pg-user", "ADMIN")
        assert admin(a, "POST", "users/%s/identities" % u, {"identity": tls(certs, "alice")})[0] \
            == 201
        key = new_key(a, u)["api_key"]
        # node b knows the user, its key and its certificate
        assert api(b, "GET", "/v1/admin/users/" + u, headers=bearer(key))[0] == 200
        uid = client(b, "alice").create(ALG.AES, 128)
        status, resp = api(a, "POST", "/kmip/2_1", get_payload(uid), bearer(key))
        assert status == 200, resp
        status, u_shown = admin(b, "GET", "users/" + u)
        assert [h["change"] for h in u_shown["history"]] == ["create"]
        # revoked on b, refused on a at once
        assert admin(b, "POST", "users/%s/revoke" % u)[0] == 200
        assert api(a, "POST", "/kmip/2_1", get_payload(uid), bearer(key))[0] == 401
        with pytest.raises(FAILURES) as e:
            client(a, "alice").get(uid)
        assert e.value.reason == RR.AUTHENTICATION_NOT_SUCCESSFUL
        # revoked on a, refused on b within b's cache TTL (1 s; 10 s bound)
        v = new_user(a, "pg-user-2")
        assert admin(a, "POST", "users/%s/identities" % v, {"identity": tls(certs, "bob")})[0] \
            == 201
        client(b, "bob").create(ALG.AES, 128)
        assert admin(a, "POST", "users/%s/revoke" % v)[0] == 200
        deadline = time.monotonic() + 10
        while True:
            try:
                client(b, "bob").create(ALG.AES, 128)
            except FAILURES as err:
                assert err.reason == RR.AUTHENTICATION_NOT_SUCCESSFUL
                break
            assert time.monotonic() < deadline, "node b still serves a user revoked on node a"
            time.sleep(0.1)
    finally:
        for s in (b, a):
            try:
                s.stop()
            finally:
                s.kill()
        subprocess.run(["psql", PG, "-q", "-c", "DROP SCHEMA %s CASCADE" % schema],
                       capture_output=True)


def test_cli_grant_through_the_admin_api(srv):
    owner, reader = new_user(srv, "cli-owner"), new_user(srv, "cli-reader")
    okey, rkey = new_key(srv, owner)["api_key"], new_key(srv, reader)["api_key"]
    uid = uid_of(api(srv, "POST", "/kmip/2_1", CREATE, bearer(okey))[1])
    r = cli(srv, "grant", "add", "--owner", owner, "--object", uid, "--to", reader,
            "--permissions", "get,get_attributes")
    assert r.returncode == 0, r.stderr
    assert api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(rkey))[0] == 200
    r = cli(srv, "grant", "list", "--owner", owner)
    assert r.returncode == 0
    assert json.loads(r.stdout)["grants"][0]["permissions"] == "get,get_attributes"
    r = cli(srv, "grant", "remove", "--owner", owner, "--object", uid, "--to", reader,
            "--permissions", "all")
    assert r.returncode == 0, r.stderr
    assert api(srv, "POST", "/kmip/2_1", get_payload(uid), bearer(rkey))[0] == 404
    r = cli(srv, "grant", "add", "--owner", owner, "--object", uid, "--to", reader,
            "--permissions", "get", env_token=False)
    assert r.returncode == 1 and "401" in r.stderr
    # the audit log names the administrator, not the owner
    rows = db_rows(srv, "SELECT principal, operation FROM audit WHERE object_uid = ?"
                   " AND operation IN ('Grant', 'RevokeGrant') ORDER BY id", uid)
    assert rows[:2] == [("administration-token", "Grant"), ("administration-token", "RevokeGrant")]
