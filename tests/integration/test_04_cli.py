"""The keyhold command itself: help, migrate, master key handling, and the
configuration reference kept in step with `serve --help`."""
import os
import re
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.path.abspath(os.environ.get("KEYHOLD_BIN", str(ROOT / "build" / "release" / "keyhold")))


def run(*args, cwd=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=30)


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("serve", "migrate", "version"):
        assert cmd in r.stdout
    bad = run("no-such-command")
    assert bad.returncode == 2
    assert "unknown command" in bad.stderr


def test_serve_help_matches_configuration_doc():
    r = run("serve", "--help")
    assert r.returncode == 0
    flags = set(re.findall(r"^\s+--([a-z0-9-]+)", r.stdout, re.M))
    doc = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `--([a-z0-9-]+)`", doc, re.M))
    assert len(flags) >= 10
    assert flags == documented, (flags ^ documented)
    for f in flags:  # every option also has its environment variable
        assert "KEYHOLD_" + f.upper().replace("-", "_") in r.stdout


def test_unknown_option_is_refused():
    r = run("serve", "--no-such-option", "1")
    assert r.returncode != 0
    assert "unknown option --no-such-option" in r.stderr


def test_migrate_is_idempotent(tmp_path):
    db = f"sqlite://{tmp_path}/m.db"
    first = run("migrate", "--db", db)
    assert first.returncode == 0, first.stderr
    m = re.search(r"applied (\d+) migration\(s\); schema version (\d+)", first.stdout)
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) == int(m.group(1))
    second = run("migrate", "--db", db)
    assert second.returncode == 0
    assert re.search(r"applied 0 migration\(s\); schema version %s" % m.group(2), second.stdout)
    assert stat.S_IMODE(os.stat(tmp_path / "m.db").st_mode) & 0o077 == 0


def test_option_from_environment_and_dotenv(tmp_path):
    # KEYHOLD_DB from the environment, then from ./.env; the flag beats both.
    r = run("migrate", env={"KEYHOLD_DB": f"sqlite://{tmp_path}/env.db"})
    assert r.returncode == 0 and (tmp_path / "env.db").exists()
    (tmp_path / ".env").write_text(f"KEYHOLD_DB=sqlite://{tmp_path}/dotenv.db\n")
    env = dict(os.environ)
    env.pop("KEYHOLD_DB", None)
    r = subprocess.run([BIN, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dotenv.db").exists()
    r = subprocess.run([BIN, "migrate", "--db", f"sqlite://{tmp_path}/flag.db"], cwd=tmp_path,
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / "flag.db").exists()


def serve_args(tmp_path, mk):
    return ["serve", "--db", f"sqlite://{tmp_path}/s.db", "--master-key-file", str(mk),
            "--kmip-port", "0", "--kmip-host", "127.0.0.1"]


def test_master_key_created_0600_and_loose_one_refused(tmp_path):
    mk = tmp_path / "master.key"
    # No TLS flags: the server creates the key, then stops for want of TLS.
    r = run(*serve_args(tmp_path, mk))
    assert r.returncode != 0
    assert "--tls-cert" in r.stderr
    assert mk.exists()
    assert stat.S_IMODE(os.stat(mk).st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}\n?", mk.read_text())
    os.chmod(mk, 0o644)
    r = run(*serve_args(tmp_path, mk))
    assert r.returncode != 0
    assert "master key" in r.stderr
    assert mk.read_text() not in r.stderr  # the key itself is never printed


def test_malformed_master_key_is_refused(tmp_path):
    mk = tmp_path / "master.key"
    mk.write_text("zz" * 32 + "\n")
    os.chmod(mk, 0o600)
    r = run(*serve_args(tmp_path, mk))
    assert r.returncode != 0
    assert "master key" in r.stderr
    assert mk.read_text() == "zz" * 32 + "\n"  # never overwritten


def test_admin_verbs_do_not_create_a_missing_database(tmp_path):
    db = tmp_path / "typo.db"
    for argv in (["audit", "verify"], ["grant", "list", "--owner", "alice"]):
        r = run(*argv, "--db", f"sqlite://{db}")
        assert r.returncode != 0, argv
        assert "no database" in r.stderr
        assert not db.exists()
