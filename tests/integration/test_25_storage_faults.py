"""The disk refusing a write, end to end.

keyhold runs under a file-size limit (RLIMIT_FSIZE, which keyhold serve
turns into EFBIG by ignoring SIGXFSZ: the same error path as a full disk).
Creates go on until the WAL reaches the limit; the refused one is answered
with a KMIP error on a connection that stays usable, the server keeps
running, and once the background checkpoint lets the WAL start over,
Creates succeed again. Every key that was acknowledged is there with its
material, before and after a restart, and the audit chain verifies.
"""

import resource
import time

from kmip.core import enums
from kmip.pie import exceptions as pie_exceptions

import kh_support

ALG = enums.CryptographicAlgorithm
LIMIT = 2 << 20  # bytes: the WAL of a few hundred Creates, above the fresh database


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_refused_write_is_an_error_and_loses_nothing(tmp_path, certs, client):
    srv = kh_support.KeyholdServer(tmp_path / "fsize", certs, extra_args=["--durability", "process"])
    srv.preexec = limit_file_size
    srv.start()
    try:
        alice = client(srv, "alice")
        made, refusal = {}, None
        for _ in range(2000):  # ~40 KB of WAL each: the limit comes within ~60
            try:
                uid = alice.create(ALG.AES, 256)
            except pie_exceptions.KmipOperationFailure as e:
                refusal = e
                break
            made[uid] = alice.get(uid).value
        assert refusal is not None, "the file-size limit was never reached"
        assert refusal.status == enums.ResultStatus.OPERATION_FAILED
        assert len(made) >= 10
        assert srv.proc.poll() is None, srv.log()
        # the same connection goes on: reads work at once, and a Create
        # again once the idle checkpoint has let the WAL restart (~1 s)
        some = next(iter(made))
        assert alice.get(some).value == made[some]
        again = None
        deadline = time.monotonic() + kh_support.scaled(20)
        while again is None and time.monotonic() < deadline:
            try:
                again = alice.create(ALG.AES, 256)
            except pie_exceptions.KmipOperationFailure:
                time.sleep(0.2)
        assert again is not None, "Creates never succeeded again:\n" + srv.log()
        made[again] = alice.get(again).value
        assert {u: alice.get(u).value for u in made} == made
    finally:
        srv.stop()
    srv.start()
    try:
        alice = client(srv, "alice")
        assert {u: alice.get(u).value for u in made} == made
    finally:
        srv.stop()
    r = kh_support.run_keyhold("audit", "verify", "--db", "sqlite://" + str(srv.db_path))
    assert r.returncode == 0, r.stdout + r.stderr
