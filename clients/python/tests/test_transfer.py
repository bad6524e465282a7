"""Hashing and part uploads from the local file: the digests the registry
checks, and a file that changes size while it is read (a clear error, never
a crash: the client reads with preadv, it does not map files)."""

from __future__ import annotations

import hashlib
import os

import pytest

import modelreg
from modelreg import transfer
from test_client import client, sha, write

MiB = 1 << 20


@pytest.mark.parametrize("size", [0, 1, 4 * MiB, 16 * MiB, 16 * MiB + 1, 40 * MiB + 12345])
def test_prepare_file_digests_the_whole_file_and_each_part(tmp_path, size):
    p = write(tmp_path / "f.bin", size, seed=size)
    data = p.read_bytes()
    f = transfer.prepare_file(str(p), "f.bin")
    ps = transfer.part_size(size)
    assert (f.size, f.part_size, f.sha256) == (size, ps, hashlib.sha256(data).hexdigest())
    want = [hashlib.sha256(data[o:o + ps]).hexdigest() for o in range(0, size, ps)] if size > ps else []
    assert f.part_sha256 == want


def test_without_preadv_reads_go_through_a_file_per_thread(tmp_path, monkeypatch):
    # Windows has no os.preadv.
    monkeypatch.setattr(transfer, "_preadv", None)
    p = write(tmp_path / "f.bin", 40 * MiB + 7, seed=10)
    data = p.read_bytes()
    f = transfer.prepare_file(str(p), "f.bin")
    assert f.sha256 == hashlib.sha256(data).hexdigest()
    assert f.part_sha256 == [hashlib.sha256(data[o:o + f.part_size]).hexdigest()
                             for o in range(0, len(data), f.part_size)]


def test_hash_blocks_never_straddle_two_parts():
    # Part sizes are whole MiB (a 200 GB file: 20 MiB parts), so the
    # hashing blocks divide them.
    assert transfer.part_size(200 * 10**9) == 20 * MiB
    assert (20 * MiB) % transfer.HASH_BLOCK == 0 and MiB % transfer.HASH_BLOCK == 0


def test_odd_part_sizes_are_digested_right(tmp_path, monkeypatch):
    p = write(tmp_path / "f.bin", 11 * MiB + 5, seed=9)
    data = p.read_bytes()
    ps = 3 * MiB + 4096 + 512
    monkeypatch.setattr(transfer, "part_size", lambda size: ps)
    f = transfer.prepare_file(str(p), "f.bin")
    assert f.sha256 == hashlib.sha256(data).hexdigest() and f.part_size == ps
    assert f.part_sha256 == [hashlib.sha256(data[o:o + ps]).hexdigest() for o in range(0, len(data), ps)]


def test_a_file_that_shrinks_while_it_is_hashed_raises(tmp_path):
    p = write(tmp_path / "f.bin", 24 * MiB, seed=5)
    with transfer._Reader(str(p)) as r:
        os.truncate(p, 3 * MiB)
        with pytest.raises(modelreg.FileChanged, match="shorter than the 25165824 bytes"):
            transfer._hash_file(r, transfer.part_size(r.size), 2)


def test_a_file_that_shrinks_while_it_is_uploaded_raises_and_can_be_resumed(modelreg_server, tmp_path):
    big = write(tmp_path / "big.bin", 48 * MiB, seed=6)
    keep = big.read_bytes()
    truncated = []

    def shrink(done, total):
        if not truncated:
            truncated.append(done)
            os.truncate(big, MiB)

    c = client(modelreg_server, parallel=2, retries=1)
    with pytest.raises(modelreg.UploadIncomplete) as e:
        c.register("shrink", artifacts=[big], no_git=True, progress=shrink)
    assert truncated and ("shorter than the" in str(e.value) or "changed size" in str(e.value))
    assert c.get("shrink", 1).status == "PENDING_UPLOAD"
    # The file back as it was: resume sends what is missing.
    big.write_bytes(keep)
    v = c.resume("shrink", 1, [big])
    assert v.status == "READY" and v.artifacts[0].sha256 == sha(big)


def test_a_failing_digest_stops_the_hashing_without_hanging(tmp_path, monkeypatch):
    p = write(tmp_path / "f.bin", 24 * MiB, seed=8)
    real = hashlib.sha256
    made = []

    class Broken:
        """The third digest made (the second part's) fails on its first block."""

        def __init__(self):
            made.append(self)
            self.h = real()
            self.fail = len(made) == 3

        def update(self, b):
            if self.fail:
                raise MemoryError("injected")
            self.h.update(b)

        def hexdigest(self):
            return self.h.hexdigest()

    monkeypatch.setattr(transfer.hashlib, "sha256", Broken)
    with pytest.raises(MemoryError, match="injected"):
        transfer.prepare_file(str(p), "f.bin")
