"""KES policies through the admin API (docs/kes.md, "Policies in the
database"; docs/admin-api.md, "KES policies"): a policy put over HTTPS
changes what a KES client (API-key certificate on the KES listener) may do
without a restart; assignments survive restarts; two nodes on one
PostgreSQL database see each other's changes; malformed input gets 400,
a STANDARD user 403; the KMIP grants of KES keys follow; the CLI verbs."""
import datetime
import hashlib
import http.client
import json
import os
import sqlite3
import ssl
import subprocess
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import kh_support

TOKEN = "test-administration-token-0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN}
DENIED = (403, {"message": "not authorized: insufficient permissions"})
PG = os.environ.get("KH_TEST_PG_URL")


# ---- KES clients: API keys as KES clients use them ------------------------------


def apikey_client(d, stem):
    """A self-signed Ed25519 certificate for a fresh API key's seed, as a
    KES client makes one. Returns (cert path, key path, identity)."""
    sk = Ed25519PrivateKey.generate()
    der = sk.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    identity = hashlib.sha256(der).hexdigest()
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(sk.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(sk, None))
    cpath, kpath = d / (stem + ".pem"), d / (stem + ".key")
    cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kpath.write_bytes(sk.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(cpath), str(kpath), identity


class KesClient:
    def __init__(self, certs, cert, key, identity):
        self.certs, self.cert, self.key, self.identity = certs, cert, key, identity

    def request(self, port, method, path, body=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.certs.ca)
        ctx.load_cert_chain(self.cert, self.key)
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=kh_support.scaled(10),
                                           context=ctx)
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            payload = r.read()
        finally:
            conn.close()
        return r.status, (json.loads(payload) if payload else None)


@pytest.fixture(scope="module")
def kes(certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("kes-admin-clients")
    return {who: KesClient(certs, *apikey_client(d, who)) for who in ("boss", "app", "other")}


# ---- the admin API --------------------------------------------------------------


def api(server, method, path, body=None, headers=None, raw=None):
    conn = kh_support.https_connection(server.https_port, None)
    h = {"Content-Type": "application/json"}
    h.update(headers if headers is not None else AUTH)
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    conn.request(method, "/v1/admin/" + path, data, h)
    r = conn.getresponse()
    out = r.read()
    conn.close()
    return r.status, (json.loads(out) if out else None)


def start(workdir, certs, kes, db_url=None, policy=None):
    policy = policy or {"admin": {"identity": kes["boss"].identity}, "policy": {}}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "policy.json").write_text(json.dumps(policy))
    srv = kh_support.KeyholdServer(workdir, certs, db_url=db_url, extra_args=[
        "--administration-token", TOKEN, "--kes-policy-file", str(workdir / "policy.json"),
        "--kes-policy-refresh", "0"])
    return srv.start()


@pytest.fixture(scope="module")
def srv(certs, kes, tmp_path_factory):
    s = start(tmp_path_factory.mktemp("kes-admin"), certs, kes)
    yield s
    s.stop()


def db_rows(server, sql, *args):
    with sqlite3.connect(str(server.db_path)) as db:
        return db.execute(sql, args).fetchall()


APP_RULES = ["/v1/key/create/app-*", "/v1/key/describe/app-*", "/v1/key/generate/app-*"]


# ---- policies change what KES clients may do, at once --------------------------


def test_policy_put_takes_effect_without_restart(srv, kes):
    app, port = kes["app"], srv.kes_port
    assert app.request(port, "POST", "/v1/key/create/app-now") == DENIED
    status, body = api(srv, "PUT", "kes/policies/app-now", {"allow": APP_RULES})
    assert status == 200, body
    assert body["name"] == "app-now" and body["allow"] == APP_RULES and body["deny"] == []
    assert body["created_by"] == "administration-token" and body["identities"] == []
    status, body = api(srv, "PUT", "kes/identities/" + app.identity, {"policy": "app-now"})
    assert status == 200, body
    assert body == {"identity": app.identity, "policy": "app-now",
                    "assigned_at": body["assigned_at"], "assigned_by": "administration-token"}
    assert app.request(port, "POST", "/v1/key/create/app-now") == (200, None)
    assert app.request(port, "POST", "/v1/key/create/elsewhere") == DENIED
    assert kes["other"].request(port, "POST", "/v1/key/create/app-other") == DENIED
    # a deny rule added later wins over the allow rule
    status, _ = api(srv, "PUT", "kes/policies/app-now",
                    {"allow": APP_RULES, "deny": ["/v1/key/describe/app-now"]})
    assert status == 200
    assert app.request(port, "GET", "/v1/key/describe/app-now") == DENIED
    # what the KES listener itself reports follows too
    status, me = app.request(port, "GET", "/v1/identity/self/describe")
    assert status == 200 and me["policy"] == "app-now", me
    # unassigned: nothing but the identity's own description
    assert api(srv, "DELETE", "kes/identities/" + app.identity)[0] == 200
    assert app.request(port, "POST", "/v1/key/create/app-later") == DENIED
    assert api(srv, "DELETE", "kes/identities/" + app.identity)[0] == 404
    # deleting a policy takes its assignments away
    assert api(srv, "PUT", "kes/identities/" + app.identity, {"policy": "app-now"})[0] == 200
    status, body = api(srv, "GET", "kes/policies/app-now")
    assert status == 200 and body["identities"] == [app.identity]
    assert api(srv, "DELETE", "kes/policies/app-now") == (200, {"name": "app-now",
                                                                "deleted": True})
    assert app.request(port, "POST", "/v1/key/create/app-gone") == DENIED
    assert api(srv, "GET", "kes/policies/app-now")[0] == 404
    assert app.identity not in [i["identity"] for i in api(srv, "GET", "kes/identities")[1][
        "identities"]]


def test_changes_are_audited(srv, kes):
    ident = kes["other"].identity
    assert api(srv, "PUT", "kes/policies/audited", {"allow": ["/v1/status"]})[0] == 200
    assert api(srv, "PUT", "kes/identities/" + ident, {"policy": "audited"})[0] == 200
    assert api(srv, "DELETE", "kes/identities/" + ident)[0] == 200
    assert api(srv, "DELETE", "kes/policies/audited")[0] == 200
    assert api(srv, "PUT", "kes/policies/audited", {"allow": ["no-slash"]})[0] == 400
    rows = db_rows(srv, "SELECT principal, operation, object_uid, result FROM audit"
                   " WHERE operation LIKE 'Kes%' AND object_uid IN (?, ?) ORDER BY id",
                   "audited", ident)
    assert rows == [("administration-token", "KesPolicyPut", "audited", "KH_OK"),
                    ("administration-token", "KesAssign", ident, "KH_OK"),
                    ("administration-token", "KesUnassign", ident, "KH_OK"),
                    ("administration-token", "KesPolicyDelete", "audited", "KH_OK"),
                    ("administration-token", "KesPolicyPut", "audited",
                     "KH_ERR_INVALID_FIELD")]


def test_kmip_grants_follow_a_policy_change(srv, kes):
    """The KES keys' KMIP grants mirror the policies (ops/kes_grants.h) and
    are recomputed after a change through the admin API."""
    boss, app = kes["boss"], kes["app"]
    assert boss.request(srv.kes_port, "POST", "/v1/key/create/app-grants") == (200, None)
    assert api(srv, "PUT", "kes/policies/grants", {"allow": APP_RULES})[0] == 200
    assert api(srv, "PUT", "kes/identities/" + app.identity, {"policy": "grants"})[0] == 200

    def perms():
        status, body = api(srv, "GET", "grants/kes")
        assert status == 200, body
        return sorted(g["permissions"] for g in body["grants"] if g["grantee"] == app.identity)

    got = perms()
    assert got and all("encrypt" in p and "get_attributes" in p for p in got), got
    assert api(srv, "PUT", "kes/policies/grants", {"allow": ["/v1/key/describe/app-*"]})[0] == 200
    got = perms()
    assert got and all("encrypt" not in p and "get_attributes" in p for p in got), got
    assert api(srv, "DELETE", "kes/policies/grants")[0] == 200
    assert perms() == []


def test_assignment_survives_restart(certs, kes, tmp_path):
    s = start(tmp_path / "node", certs, kes)
    try:
        app = kes["app"]
        assert api(s, "PUT", "kes/policies/durable", {"allow": APP_RULES})[0] == 200
        assert api(s, "PUT", "kes/identities/" + app.identity, {"policy": "durable"})[0] == 200
        s.restart()
        assert app.request(s.kes_port, "POST", "/v1/key/create/app-durable") == (200, None)
        status, body = api(s, "GET", "kes/identities/" + app.identity)
        assert status == 200 and body["policy"] == "durable"
    finally:
        s.stop()


def test_policy_file_is_the_bootstrap(certs, kes, tmp_path):
    """At start the file's policies overwrite same-named ones of the
    database; policies only the database has stay."""
    app, other = kes["app"], kes["other"]
    policy = {"admin": {"identity": kes["boss"].identity},
              "policy": {"from-file": {"allow": ["/v1/key/describe/*"],
                                       "identities": [other.identity]}}}
    s = start(tmp_path / "node", certs, kes, policy=policy)
    try:
        status, body = api(s, "GET", "kes/policies/from-file")
        assert status == 200 and body["created_by"] == "config"
        assert body["identities"] == [other.identity]
        # changed at run time, and a policy the file does not know
        assert api(s, "PUT", "kes/policies/from-file", {"allow": ["/v1/status"]})[0] == 200
        assert api(s, "PUT", "kes/policies/db-only", {"allow": APP_RULES})[0] == 200
        assert api(s, "PUT", "kes/identities/" + app.identity, {"policy": "db-only"})[0] == 200
        s.restart()
        assert api(s, "GET", "kes/policies/from-file")[1]["allow"] == ["/v1/key/describe/*"]
        assert api(s, "GET", "kes/policies/db-only")[1]["allow"] == APP_RULES
        assert app.request(s.kes_port, "POST", "/v1/key/create/app-boot") == (200, None)
    finally:
        s.stop()


# ---- refusals -------------------------------------------------------------------


@pytest.mark.parametrize("body,words", [
    ({"allow": "/v1/status"}, "must be an array"),
    ({"allow": ["v1/status"]}, "allow[0]"),
    ({"allow": ["/v1/status", "/v1/key /x"]}, "allow[1]"),
    ({"deny": [7]}, "deny[0]"),
    ({"allow": ["/" + "a" * 600]}, "allow[0]"),
    ({"allow": ["/v1/x"] * 300}, "at most 256"),
    ({"allow": [], "identities": []}, "unknown member"),
    (None, "the body must be"),
])
def test_bad_policy_is_400(srv, body, words):
    status, reply = api(srv, "PUT", "kes/policies/bad", body)
    assert status == 400 and words in reply["message"], reply
    assert api(srv, "GET", "kes/policies/bad")[0] == 404


def test_bad_requests_are_400_or_404(srv, kes):
    assert api(srv, "PUT", "kes/policies/bad", raw="{not json")[0] == 400
    status, reply = api(srv, "PUT", "kes/policies/bad.name", {"allow": []})
    assert status == 400 and "policy name" in reply["message"]
    status, reply = api(srv, "PUT", "kes/identities/ABC", {"policy": "x"})
    assert status == 400 and "64 lower-case hex" in reply["message"]
    ident = kes["other"].identity
    status, reply = api(srv, "PUT", "kes/identities/" + ident, {"policy": "missing"})
    assert status == 404 and reply["message"] == "no such KES policy"
    status, reply = api(srv, "PUT", "kes/identities/" + ident, {"policy": 3})
    assert status == 400 and "{\"policy\": NAME}" in reply["message"]
    assert api(srv, "PUT", "kes/policies/p-admin", {"allow": []})[0] == 200
    status, reply = api(srv, "PUT", "kes/identities/" + kes["boss"].identity,
                        {"policy": "p-admin"})
    assert status == 400 and "admin" in reply["message"]
    assert api(srv, "POST", "kes/policies/p-admin", {"allow": []})[0] == 405
    assert api(srv, "PUT", "kes/policies", {"allow": []})[0] == 405
    assert api(srv, "GET", "kes/nothing")[0] == 404
    assert api(srv, "DELETE", "kes/policies/never-was")[0] == 404


def test_standard_user_is_403(srv, kes):
    status, u = api(srv, "POST", "users", {"label": "clerk", "profile": "STANDARD"})
    assert status == 201, u
    status, k = api(srv, "POST", "users/%s/api-keys" % u["id"], {"label": "t"})
    assert status == 201, k
    bearer = {"Authorization": "Bearer " + k["api_key"]}
    assert api(srv, "GET", "kes/policies", headers=bearer)[0] == 403
    assert api(srv, "PUT", "kes/policies/sneaky", {"allow": ["/v1/*"]}, headers=bearer)[0] == 403
    assert api(srv, "PUT", "kes/identities/" + kes["app"].identity, {"policy": "sneaky"},
               headers=bearer)[0] == 403
    assert api(srv, "GET", "kes/policies", headers={})[0] == 401
    assert api(srv, "GET", "kes/policies/sneaky")[0] == 404


# ---- the CLI --------------------------------------------------------------------


def cli(server, *args):
    env = dict(os.environ)
    env["KEYHOLD_ADMINISTRATION_TOKEN"] = TOKEN
    cmd = [str(kh_support.keyhold_bin()), "kes", *args]
    if server is not None:
        cmd += ["--server", "https://127.0.0.1:%d" % server.https_port, "--ca", server.certs.ca]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env,
                          cwd=str(server.workdir) if server else None)


def test_cli_verbs(srv, kes, tmp_path):
    for verb in (("policy",), ("assign",), ("unassign",), ("assignments",)):
        r = cli(None, *verb, "--help")
        assert r.returncode == 0 and "--server" in r.stdout and "usage: keyhold kes" in r.stdout
    app = kes["app"]
    r = cli(srv, "policy", "put", "cli-pol", "--allow", "/v1/key/create/app-cli*,/v1/status",
            "--deny", "/v1/key/create/app-cli-no")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["allow"] == ["/v1/key/create/app-cli*", "/v1/status"]
    r = cli(srv, "assign", app.identity, "cli-pol")
    assert r.returncode == 0, r.stderr
    assert app.request(srv.kes_port, "POST", "/v1/key/create/app-cli-1") == (200, None)
    assert app.request(srv.kes_port, "POST", "/v1/key/create/app-cli-no") == DENIED
    r = cli(srv, "policy", "show", "cli-pol")
    assert r.returncode == 0 and json.loads(r.stdout)["identities"] == [app.identity]
    r = cli(srv, "policy", "list")
    assert r.returncode == 0
    assert "cli-pol" in [p["name"] for p in json.loads(r.stdout)["policies"]]
    r = cli(srv, "assignments")
    assert r.returncode == 0
    assert {"identity": app.identity, "policy": "cli-pol"}.items() <= [
        i for i in json.loads(r.stdout)["identities"] if i["identity"] == app.identity][0].items()
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"allow": ["/v1/status"]}))
    r = cli(srv, "policy", "put", "cli-pol", "--file", str(f))
    assert r.returncode == 0, r.stderr
    assert app.request(srv.kes_port, "POST", "/v1/key/create/app-cli-2") == DENIED
    f.write_text(json.dumps({"allow": ["relative"]}))
    r = cli(srv, "policy", "put", "cli-pol", "--file", str(f))
    assert r.returncode == 1 and "HTTP 400" in r.stderr and "allow[0]" in r.stderr
    r = cli(srv, "unassign", app.identity)
    assert r.returncode == 0, r.stderr
    r = cli(srv, "policy", "delete", "cli-pol")
    assert r.returncode == 0, r.stderr
    r = cli(srv, "policy", "show", "cli-pol")
    assert r.returncode == 1 and "HTTP 404" in r.stderr
    assert cli(srv, "policy", "show", "../users").returncode == 2
    assert cli(srv, "policy", "frobnicate", "x").returncode == 2
    assert cli(srv, "policy", "put", "no-rules").returncode == 2
    assert api(srv, "GET", "kes/policies/no-rules")[0] == 404


# ---- two nodes, one PostgreSQL database ------------------------------------------


@pytest.fixture
def pg_url():
    if not PG:
        pytest.skip("KH_TEST_PG_URL is not set")
    schema = "it_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", PG, "-q", "-c", f"CREATE SCHEMA {schema}"], check=True,
                   capture_output=True)
    yield PG + ("&" if "?" in PG else "?") + "options=-csearch_path%3D" + schema
    subprocess.run(["psql", PG, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"],
                   capture_output=True)


def test_two_nodes_see_each_others_changes(certs, kes, tmp_path, pg_url):
    a = start(tmp_path / "a", certs, kes, db_url=pg_url)
    b = None
    try:
        os.makedirs(tmp_path / "b", exist_ok=True)
        (tmp_path / "b" / "master.key").write_bytes(a.master_key.read_bytes())
        os.chmod(tmp_path / "b" / "master.key", 0o600)
        b = start(tmp_path / "b", certs, kes, db_url=pg_url)
        app = kes["app"]
        assert app.request(b.kes_port, "POST", "/v1/key/create/app-pg") == DENIED
        assert api(a, "PUT", "kes/policies/pg", {"allow": APP_RULES})[0] == 200
        assert api(a, "PUT", "kes/identities/" + app.identity, {"policy": "pg"})[0] == 200
        # --kes-policy-refresh 0: node b checks the version on every request
        assert app.request(b.kes_port, "POST", "/v1/key/create/app-pg") == (200, None)
        assert api(b, "GET", "kes/policies/pg")[1]["identities"] == [app.identity]
        # and back: a change on b reaches a
        assert api(b, "PUT", "kes/policies/pg", {"allow": APP_RULES,
                                                 "deny": ["/v1/key/describe/app-pg"]})[0] == 200
        assert app.request(a.kes_port, "GET", "/v1/key/describe/app-pg") == DENIED
        assert api(b, "DELETE", "kes/identities/" + app.identity)[0] == 200
        assert app.request(a.kes_port, "POST", "/v1/key/create/app-pg-2") == DENIED
        # a restarted node serves what the database holds
        assert api(b, "PUT", "kes/identities/" + app.identity, {"policy": "pg"})[0] == 200
        a.restart()
        assert app.request(a.kes_port, "POST", "/v1/key/create/app-pg-3") == (200, None)
    finally:
        for s in (b, a):
            if s is not None and s.proc is not None:
                try:
                    s.stop()
                finally:
                    s.kill()
