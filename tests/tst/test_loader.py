"""tst.loader: the sample at each position is pure in (seed, epoch, position), ranks are disjoint, and
worker processes change when a batch is decoded, never what is in it."""

import numpy as np
import pytest
import torch

from tests.pretrain.fixtures import write_split
from tst import loader as L
from tst.augment import AlignedAugment
from tst.dataset import ShardDataset


def test_sample_index_is_the_seeded_epoch_permutation_built_once_per_epoch():
    L._permutation.cache_clear()
    got = [L.sample_index(p, 7, seed=3) for p in range(21)]
    want = [(int(np.random.default_rng([3, e]).permutation(7)[o]), e) for e in range(3) for o in range(7)]
    assert got == want  # the order older checkpoints were written with
    assert L._permutation.cache_info().misses == 3  # one permutation per epoch, not per sample
    with pytest.raises(ValueError, match="at least one sample"):
        L.sample_index(0, 0, 0)


def test_ranks_take_disjoint_slices_that_cover_the_global_batch_and_resume_continues():
    one = list(L.PositionPlan(10, seed=1, global_batch=8, steps=3, accum=2))
    ranks = [list(L.PositionPlan(10, seed=1, global_batch=8, steps=3, accum=2, rank=r, world=2)) for r in (0, 1)]
    assert [len(b) for b in one] == [4] * 6 and [len(b) for b in ranks[0]] == [2] * 6
    for k in range(6):  # micro-step k: rank 0's then rank 1's positions are the 1-process micro-batch
        assert ranks[0][k] + ranks[1][k] == one[k]
    resumed = list(L.PositionPlan(10, seed=1, global_batch=8, start=8, steps=2, accum=2))
    assert resumed == one[2:]
    assert {e for b in one for _, e in b} == {0, 1, 2}  # 24 positions over 10 samples: epochs 0..2
    sub = list(L.PositionPlan(99, seed=1, global_batch=4, steps=1, subset=[5, 6, 7], epochs=False))
    assert set(sub[0]) <= {5, 6, 7}
    with pytest.raises(ValueError, match="global batch 6"):
        L.PositionPlan(10, 0, global_batch=6, accum=4)


def test_workers_load_the_same_bits_as_the_training_process(tmp_path):
    ds = ShardDataset(write_split(tmp_path / "s", n=6, size=24), ["rgb", "depth", "normal"],
                      augment=AlignedAugment(16, (0.3, 1.0), 0.5, seed=2))
    plan = L.PositionPlan(len(ds), seed=5, global_batch=4, steps=3)
    inline = list(L.load(ds, plan, workers=0))
    L.cv2.setNumThreads(2)
    pooled = L.load(ds, plan, workers=2)
    assert L.cv2.getNumThreads() == 1  # no cv2 pool threads to fork while they hold a lock
    assert pooled.num_workers == 2 and pooled.persistent_workers and not pooled.pin_memory
    for a, b in zip(inline, pooled, strict=True):
        assert a["__key__"] == b["__key__"]
        for m in ("rgb", "depth", "normal"):
            assert a[m].shape == (4, *a[m].shape[1:2], 16, 16) and torch.equal(a[m], b[m])
    # a sample seen in two epochs is augmented differently (the epoch travels with the item)
    e0, e1 = ds[(0, 0)], ds[(0, 1)]
    assert not torch.equal(e0["rgb"], e1["rgb"]) or e0["meta"] != e1["meta"]


def test_workers_auto_leaves_the_trainer_its_threads(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(L.os, "sched_getaffinity", lambda _: set(range(8)))
    assert L.resolve_workers("auto", trainer_threads=3) == 5
    assert L.resolve_workers("auto", trainer_threads=8) == 0
    monkeypatch.setattr(L.torch, "get_num_threads", lambda: 8)
    assert L.resolve_workers("auto") == 0  # a CPU trainer using every core leaves none
    assert L.resolve_workers("auto", device="cuda") == 7  # a GPU trainer needs one core to launch kernels
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert L.resolve_workers("auto", device="cuda") == 3  # two ranks on this machine share its 8 cores
    assert L.resolve_workers(0) == 0 and L.resolve_workers(2) == 2
    for bad in (-1, "four", 1.5, True):
        with pytest.raises(ValueError, match="workers="):
            L.resolve_workers(bad)


def test_cuda_batches_are_pinned_and_copied_without_blocking(tmp_path):
    assert L.pin_memory_for("cuda") and L.pin_memory_for(torch.device("cuda", 1)) and not L.pin_memory_for("cpu")
    ds = ShardDataset(write_split(tmp_path / "s", n=4, size=8), ["rgb"])
    assert L.load(ds, L.PositionPlan(4, 0, 2), workers=0, device="cuda").pin_memory

    calls = []

    class Rec(torch.Tensor):
        def to(self, *args, **kwargs):
            calls.append((args, kwargs))
            return self

    batch = {"rgb": torch.zeros(2).as_subclass(Rec), "__key__": ["a", "b"]}
    assert L.to_device(batch, "cuda")["__key__"] == ["a", "b"]
    L.to_device(batch, "cpu")
    assert [c[1]["non_blocking"] for c in calls] == [True, False]
    assert calls[0][0][0] == torch.device("cuda")


def test_stored_batches_become_the_same_floats_on_the_device(tmp_path):
    split = write_split(tmp_path / "s", n=4, size=12)
    aug = AlignedAugment(8, (0.5, 1.0), 0.5, seed=1)
    plan = L.PositionPlan(4, seed=0, global_batch=4, steps=1)
    floats = next(iter(L.load(ShardDataset(split, ["rgb", "depth", "normal"], augment=aug), plan, workers=0)))
    ints = next(iter(L.load(ShardDataset(split, ["rgb", "depth", "normal"], augment=aug, stored=True), plan,
                            workers=1)))
    assert (ints["rgb"].dtype, ints["depth"].dtype, ints["normal"].dtype) == (torch.uint8, torch.uint16, torch.uint8)
    done = L.to_device(ints, "cpu")
    for m in ("rgb", "depth", "normal"):
        assert done[m].dtype == torch.float32 and torch.equal(done[m], floats[m]), m
