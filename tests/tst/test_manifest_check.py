"""Readers compare a split's shards with its manifest.json: a deleted, truncated or swapped shard is
refused naming the file, instead of training on fewer samples without a word."""

import json

import numpy as np
import pytest

from tst.collect.manifest import shard_hashes
from tst.dataset import ShardDataset, ShardStream
from tst.shards import ShardError, ShardWriter, encode_sample


def _split(d, n=8, shard_size=2, seed=0):
    rng = np.random.default_rng(seed)
    with ShardWriter(d, shard_size=shard_size) as w:
        for i in range(n):
            w.write(f"{i:06d}", encode_sample({"rgb": rng.integers(0, 255, (8, 8, 3), dtype=np.uint8),
                                               "meta": {"i": i}}))
    content, shards = shard_hashes(d)
    (d / "manifest.json").write_text(json.dumps({"counts": {"pretrain": n}, "shards": shards,
                                                 "content_hash": content}))
    return d


def test_an_intact_split_reads_in_full(tmp_path):
    split = _split(tmp_path / "s")
    assert len(ShardDataset(split, ["rgb"])) == 8
    assert sum(1 for _ in ShardStream(split, ["rgb"])) == 8


def test_a_deleted_shard_is_refused_naming_it(tmp_path):
    split = _split(tmp_path / "s")
    (split / "shard-000002.tar").unlink()
    for read in (lambda: ShardDataset(split, ["rgb"]), lambda: ShardStream(split, ["rgb"])):
        with pytest.raises(ShardError, match=r"manifest\.json.*shard-000002\.tar.*missing.*collect"):
            read()
    with pytest.warns(UserWarning, match="shard-000002.tar"):
        assert len(ShardDataset(split, ["rgb"], on_error="warn")) == 6


def test_a_truncated_or_swapped_shard_is_refused(tmp_path):
    split = _split(tmp_path / "s")
    other = _split(tmp_path / "other", seed=1)
    (split / "shard-000001.tar").write_bytes((other / "shard-000001.tar").read_bytes())  # same size, other bytes
    with pytest.raises(ShardError, match=r"shard-000001\.tar.*sha256"):
        ShardDataset(split, ["rgb"])
    data = (split / "shard-000003.tar").read_bytes()
    (split / "shard-000003.tar").write_bytes(data[:-1024])
    with pytest.raises(ShardError, match=r"shard-000003\.tar has \d+ bytes, the manifest says \d+"):
        ShardDataset(split, ["rgb"])


def test_an_unlisted_shard_or_a_wrong_count_is_refused(tmp_path):
    split = _split(tmp_path / "s")
    (split / "shard-000009.tar").write_bytes((split / "shard-000000.tar").read_bytes())
    with pytest.raises(ShardError, match=r"shard-000009\.tar.*not in the manifest"):
        ShardDataset(split, ["rgb"])
    (split / "shard-000009.tar").unlink()
    manifest = json.loads((split / "manifest.json").read_text())
    manifest["counts"] = {"pretrain": 10}
    (split / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match=r"8 samples.*manifest\.json counts 10"):
        ShardDataset(split, ["rgb"])
