"""Shard round trips are exact for lossless members, and damage is reported with shard + member."""

import tarfile

import numpy as np
import pytest

from tst.shards import ShardError, ShardWriter, encode_sample, iter_shard, iter_split, list_shards


def _sample(rng, h=8, w=10):
    depth = rng.uniform(0.5, 9.0, (h, w)).astype(np.float32)
    depth[0, 0] = 0.0  # no hit
    n = rng.normal(size=(h, w, 3)).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return {
        "rgb": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "depth": depth,
        "normal": n,
        "semseg": rng.integers(0, 40, (h, w), dtype=np.uint16),
        "instance": rng.integers(0, 1000, (h, w), dtype=np.uint16),
        "meta": {"scene_id": "s", "split": "eval"},
    }


def test_round_trip_is_exact_up_to_the_contract_quantisation(tmp_path):
    rng = np.random.default_rng(0)
    samples = [_sample(rng) for _ in range(5)]
    with ShardWriter(tmp_path, shard_size=2) as w:
        for i, s in enumerate(samples):
            w.write(f"{i:06d}", encode_sample(s))
    assert [p.name for p in list_shards(tmp_path)] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    back = list(iter_split(tmp_path))
    assert [b["__key__"] for b in back] == [f"{i:06d}" for i in range(5)]
    for s, b in zip(samples, back):
        np.testing.assert_array_equal(b["rgb"], s["rgb"])
        np.testing.assert_array_equal(b["semseg"], s["semseg"])
        np.testing.assert_array_equal(b["instance"], s["instance"])
        # depth: uint16 millimetres; normal: uint8 (n+1)/2*255
        np.testing.assert_allclose(b["depth"], np.round(s["depth"] * 1000) / 1000, atol=1e-6)
        assert b["depth"][0, 0] == 0.0
        assert np.abs(b["normal"] - s["normal"]).max() <= 1.0 / 255 + 1e-6
        assert b["meta"] == s["meta"]


def test_members_follow_the_webdataset_naming_contract(tmp_path):
    with ShardWriter(tmp_path, shard_size=10) as w:
        w.write("000007", encode_sample(_sample(np.random.default_rng(1)), rgb_format="jpg"))
    names = tarfile.open(tmp_path / "shard-000000.tar").getnames()
    assert names == ["000007.rgb.jpg", "000007.depth.png", "000007.normal.png", "000007.semseg.png",
                     "000007.instance.png", "000007.meta.json"]


def test_same_content_gives_identical_shard_bytes(tmp_path):
    for d in ("a", "b"):
        with ShardWriter(tmp_path / d, shard_size=4) as w:
            w.write("000000", encode_sample(_sample(np.random.default_rng(3))))
    assert (tmp_path / "a/shard-000000.tar").read_bytes() == (tmp_path / "b/shard-000000.tar").read_bytes()


def test_interrupted_writer_leaves_no_partial_shard(tmp_path):
    with pytest.raises(RuntimeError), ShardWriter(tmp_path, shard_size=10) as w:
        w.write("000000", encode_sample(_sample(np.random.default_rng(4))))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_truncated_shard_names_shard_and_member(tmp_path):
    with ShardWriter(tmp_path, shard_size=10) as w:
        for i in range(3):
            w.write(f"{i:06d}", encode_sample(_sample(np.random.default_rng(i))))
    shard = tmp_path / "shard-000000.tar"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=r"shard-000000\.tar.*(truncated|decoded)"):
        list(iter_shard(shard))
    with pytest.warns(UserWarning, match="skipping"):
        partial = list(iter_shard(shard, on_error="warn"))
    assert 1 <= len(partial) < 3


def test_missing_split_dir_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="shard-NNNNNN.tar"):
        list_shards(tmp_path / "nope")
