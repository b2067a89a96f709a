"""The object cache (--object-cache-ttl; store.h kh_store_set_object_cache)
seen through KMIP: whatever its TTL, a change made through the server
applies to the very next request, and a bad value is refused with a clear
message."""
import pytest
from kmip.core import enums
from kmip.pie import exceptions as pie_exceptions

import kh_support

ALG = enums.CryptographicAlgorithm
MASK = enums.CryptographicUsageMask


@pytest.mark.parametrize("ttl", ["auto", "60", "0"])
def test_changes_apply_to_the_next_request(tmp_path, certs, client, ttl):
    srv = kh_support.KeyholdServer(tmp_path / ("ttl-" + ttl), certs,
                                   extra_args=["--object-cache-ttl", ttl])
    srv.start()
    try:
        alice = client(srv, "alice")
        uid = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT])
        for _ in range(3):  # loaded, then (with a cache) served from memory
            assert alice.get(uid).value
        _, attrs = alice.get_attributes(uid, ["State"])
        assert attrs[0].attribute_value.value == enums.State.PRE_ACTIVE
        alice.activate(uid)
        _, attrs = alice.get_attributes(uid, ["State"])
        assert attrs[0].attribute_value.value == enums.State.ACTIVE
        ct, iv = alice.encrypt(b"x" * 16, uid=uid, cryptographic_parameters={
            "block_cipher_mode": enums.BlockCipherMode.GCM, "tag_length": 16})[:2]
        assert ct
        alice.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        _, attrs = alice.get_attributes(uid, ["State"])
        assert attrs[0].attribute_value.value == enums.State.DEACTIVATED
        alice.destroy(uid)
        with pytest.raises(pie_exceptions.KmipOperationFailure):
            alice.get(uid)  # material gone at once
        _, attrs = alice.get_attributes(uid, ["State"])
        assert attrs[0].attribute_value.value == enums.State.DESTROYED
        # another principal never sees it, cached or not
        with pytest.raises(pie_exceptions.KmipOperationFailure):
            client(srv, "bob").get(uid)
    finally:
        srv.stop()


@pytest.mark.parametrize("bad", ["61", "-1", "soon"])
def test_bad_value_refused(tmp_path, certs, bad):
    srv = kh_support.KeyholdServer(tmp_path / "bad", certs,
                                   extra_args=["--object-cache-ttl", bad])
    with pytest.raises(kh_support.ServerError) as e:
        srv.start()
    assert "--object-cache-ttl must be an integer in [0, 60]" in str(e.value)
    assert "may also be auto" in str(e.value)
