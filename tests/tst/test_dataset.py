"""ShardDataset / ShardStream decode to the documented tensor layout, split shards disjointly, and
name the shard and member of corrupted data."""

import tarfile
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tst.dataset import ShardDataset, ShardStream, collate
from tst.shards import ShardError, ShardWriter, encode_sample


def _sample(i: int, h: int = 6, w: int = 8) -> dict:
    rng = np.random.default_rng(i)
    n = rng.normal(size=(h, w, 3)).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    edges = np.zeros((h, w), np.uint8)
    edges[i % h] = 255
    return {
        "rgb": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "depth": np.full((h, w), 1.0 + i * 0.001, np.float32),
        "normal": n,
        "semseg": np.full((h, w), i + 1, np.uint16),
        "instance": np.full((h, w), 1000 + i, np.uint16),
        "edges": edges,
        "meta": {"index": i, "split": "eval", "scene_id": "s"},
    }


def _write(split_dir, n=10, shard_size=4, drop=()):
    with ShardWriter(split_dir, shard_size=shard_size) as w:
        for i in range(n):
            s = {k: v for k, v in _sample(i).items() if k not in drop}
            w.write(f"{i:08d}", encode_sample(s))
    return split_dir


def test_random_access_decodes_to_the_documented_tensors(tmp_path):
    ds = ShardDataset(_write(tmp_path), ["rgb", "depth", "normal", "semseg", "instance", "edges"])
    assert len(ds) == 10
    s = ds[7]
    ref = _sample(7)
    assert s["__key__"] == "00000007" and s["meta"]["index"] == 7
    assert s["rgb"].dtype == torch.float32 and s["rgb"].shape == (3, 6, 8)
    torch.testing.assert_close(s["rgb"], torch.from_numpy(ref["rgb"]).permute(2, 0, 1).float() / 255)
    assert s["depth"].shape == (1, 6, 8) and float(s["depth"][0, 0, 0]) == pytest.approx(1.007, abs=1e-6)
    assert s["normal"].shape == (3, 6, 8)
    assert (s["normal"] - torch.from_numpy(ref["normal"]).permute(2, 0, 1)).abs().max() <= 1 / 255 + 1e-6
    assert s["semseg"].dtype == torch.int64 and s["semseg"].shape == (6, 8) and int(s["semseg"][0, 0]) == 8
    assert int(s["instance"][3, 3]) == 1007
    assert s["edges"].shape == (1, 6, 8) and set(s["edges"].unique().tolist()) == {0.0, 1.0}
    assert s["edges"][0, 7 % 6].eq(1).all() and s["edges"].sum() == 8


def test_collate_stacks_tensors_and_keeps_meta_as_a_list(tmp_path):
    ds = ShardDataset(_write(tmp_path), ["rgb", "semseg"])
    batch = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate)))
    assert batch["rgb"].shape == (3, 3, 6, 8) and batch["semseg"].shape == (3, 6, 8)
    assert [m["index"] for m in batch["meta"]] == [0, 1, 2]
    assert batch["__key__"] == ["00000000", "00000001", "00000002"]
    assert "depth" not in batch  # only what was asked for


def test_missing_modality_lists_what_the_shards_hold(tmp_path):
    _write(tmp_path, drop=("semseg", "instance", "edges"))
    with pytest.raises(KeyError, match=r"no \['semseg'\].*\['depth', 'meta', 'normal', 'rgb'\]"):
        ShardDataset(tmp_path, ["rgb", "semseg"])
    stream = ShardStream(tmp_path, ["semseg"])
    with pytest.raises(KeyError, match="semseg"):
        next(iter(stream))


def test_stream_splits_shards_disjointly_across_workers_and_covers_all(tmp_path):
    _write(tmp_path, n=13, shard_size=2)  # 7 shards
    stream = ShardStream(tmp_path, ["depth"], shuffle_buffer=4, seed=3)
    keys = [k for b in DataLoader(stream, batch_size=None, num_workers=2) for k in [b["__key__"]]]
    assert sorted(keys) == [f"{i:08d}" for i in range(13)]  # each sample exactly once
    assert keys != sorted(keys)  # shuffled
    plain = [s["__key__"] for s in ShardStream(tmp_path, ["depth"])]
    assert plain == [f"{i:08d}" for i in range(13)]  # no shuffle buffer: stored order
    stream.set_epoch(1)
    again = [b["__key__"] for b in DataLoader(stream, batch_size=None, num_workers=2)]
    assert sorted(again) == sorted(keys) and again != keys


def _corrupt_member(shard, member_name):
    """Overwrite the bytes of one member with garbage (tar headers stay valid)."""
    with tarfile.open(shard) as tar:
        info = tar.getmember(member_name)
    data = bytearray(shard.read_bytes())
    data[info.offset_data:info.offset_data + info.size] = b"\x00" * info.size
    shard.write_bytes(bytes(data))


def test_corrupted_member_is_named_or_skipped(tmp_path):
    _write(tmp_path)
    shard = tmp_path / "shard-000001.tar"
    _corrupt_member(shard, "00000005.depth.png")
    ds = ShardDataset(tmp_path, ["rgb", "depth"])
    with pytest.raises(ShardError, match=r"shard-000001\.tar.*00000005\.depth\.png"):
        ds[5]
    ds[4]  # neighbours are fine
    warned = ShardDataset(tmp_path, ["rgb", "depth"], on_error="warn")
    with pytest.warns(UserWarning, match="00000005.depth.png"):
        assert warned[5]["__key__"] == "00000006"


def test_truncated_shard_is_named_or_skipped(tmp_path):
    _write(tmp_path)
    shard = tmp_path / "shard-000002.tar"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=r"shard-000002\.tar.*(truncated|corrupted)"):
        ShardDataset(tmp_path, ["rgb"])
    with pytest.raises(ShardError, match=r"shard-000002\.tar"):
        list(ShardStream(tmp_path, ["rgb"]))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = ShardDataset(tmp_path, ["rgb"], on_error="warn")
        keys = [ds[i]["__key__"] for i in range(len(ds))]
    assert any("shard-000002.tar" in str(r.message) for r in rec)
    assert keys[:8] == [f"{i:08d}" for i in range(8)] and len(keys) < 10  # shards 0 and 1 intact
    assert all(ds[i]["rgb"].shape == (3, 6, 8) for i in range(len(ds)))


def test_stream_splits_shards_across_ddp_ranks(tmp_path, monkeypatch):
    import tst.dataset as dataset

    _write(tmp_path, n=10, shard_size=2)  # 5 shards
    seen = []
    for rank in range(2):
        monkeypatch.setattr(dataset, "_rank_and_world", lambda r=rank: (r, 2))
        seen.append([s["__key__"] for s in ShardStream(tmp_path, ["rgb"], shuffle_buffer=3, seed=1)])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == [f"{i:08d}" for i in range(10)]
    assert {len(seen[0]), len(seen[1])} == {4, 6}  # whole shards: 2 and 3 of them
