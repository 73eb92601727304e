"""A new dense modality is one table entry: a toy 1-channel map registered here goes through shards,
the dataset and loader, the aligned crop / flip and the pretraining loss with exact values, using
nothing but its entry (no file switches on its name). The fixture removes it again."""

import numpy as np
import pytest
import torch

from tst.augment import AlignedAugment, crop_resize_arrays, hflip_arrays
from tst.dataset import ShardDataset, finish_stored, to_tensors
from tst.loader import PositionPlan, load, to_device
from tst.modalities import MODALITIES, Modality, register, unregister
from tst.models.adapters import patchify
from tst.pretrain.losses import masked_loss, patch_targets, prepare
from tst.shards import ShardWriter, decode_member, encode_member, encode_sample, iter_shard

H, W = 6, 8


def _encode(x: np.ndarray) -> np.ndarray:
    return (np.rint(x * 10.0) + 100).astype(np.uint8)  # signed tenths, offset 100


def _decode(v: np.ndarray) -> np.ndarray:
    return (v.astype(np.float32) - 100.0) / 10.0


def _mirror(y, channel_axis):  # a horizontal flow: a left-right mirror negates it; stored 200 - v = -x
    if isinstance(y, np.ndarray) and y.dtype == np.uint8:
        return (200 - y).astype(np.uint8)
    return -y


@pytest.fixture
def toy():
    m = register(Modality("toy", 1, "float32", "png", "image", "nearest", "l1", "toy horizontal flow, tenths",
                          stored="uint8", encode=_encode, decode=_decode, ships_stored=True, mirror=_mirror,
                          to_float=lambda x: x.float().sub_(100.0).div_(10.0)))
    yield m
    unregister("toy")
    assert "toy" not in MODALITIES


def _toy(i: int) -> np.ndarray:
    """[H, W] float32 in tenths: column x row code, distinct per pixel and sample, signed."""
    yy, xx = np.mgrid[:H, :W]
    return ((yy * W + xx + i) % 50 - 25).astype(np.float32) / 10.0


def _rgb(i: int) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return np.stack([xx * 10, yy * 10, np.full_like(xx, i)], -1).astype(np.uint8)  # coordinates in the colour


def _split(tmp_path, n=4):
    with ShardWriter(tmp_path / "split", shard_size=3) as w:
        for i in range(n):
            w.write(f"{i:08d}", encode_sample({"rgb": _rgb(i), "toy": _toy(i), "meta": {"index": i}}))
    return tmp_path / "split"


def test_toy_member_round_trips_through_a_shard(toy, tmp_path):
    suffix, data = encode_member("toy", _toy(1))
    assert suffix == "toy.png"
    stored = decode_member(suffix, data, stored=True)
    assert stored.dtype == np.uint8 and stored[0, 0] == 100 - 24 and stored[0, 1] == 100 - 23
    back = decode_member(suffix, data)
    assert back.dtype == np.dtype(toy.dtype) and np.array_equal(back, _toy(1))
    samples = list(iter_shard(_split(tmp_path) / "shard-000000.tar"))
    assert [s["__key__"] for s in samples] == ["00000000", "00000001", "00000002"]
    for i, s in enumerate(samples):
        assert np.array_equal(s["toy"], _toy(i)) and np.array_equal(s["rgb"], _rgb(i))


def test_toy_comes_out_of_the_dataset_and_loader_exactly(toy, tmp_path):
    split = _split(tmp_path)
    ds = ShardDataset(split, ["rgb", "toy"])
    x = ds[2]["toy"]
    assert x.dtype == torch.float32 and x.shape == (1, H, W)
    assert torch.equal(x[0], torch.from_numpy(_toy(2)))
    st = ShardDataset(split, ["rgb", "toy"], stored=True)[2]["toy"]  # crosses as stored uint8
    assert st.dtype == torch.uint8 and torch.equal(finish_stored({"toy": st})["toy"], x)
    plan = PositionPlan(len(ds), seed=0, global_batch=4, steps=1)
    (batch,) = list(load(ShardDataset(split, ["rgb", "toy"], stored=True), plan, workers=0))
    batch = to_device(batch, "cpu")
    assert batch["toy"].shape == (4, 1, H, W) and batch["toy"].dtype == torch.float32
    for key, t in zip(batch["__key__"], batch["toy"]):
        assert torch.equal(t[0], torch.from_numpy(_toy(int(key))))


def test_toy_follows_the_aligned_crop_and_its_own_flip_rule(toy):
    stored = {"__key__": "k", "rgb": _rgb(0), "toy": _encode(_toy(0))}
    out = crop_resize_arrays(stored, (1, 2, 3, 4), (6, 8))  # 2x nearest upsampling of rows 1-3, cols 2-5
    want = np.repeat(np.repeat(_toy(0)[1:4, 2:6], 2, 0), 2, 1)
    assert np.array_equal(_decode(out["toy"]), want)
    assert out["rgb"].shape == (6, 8, 3) and out["toy"].dtype == np.uint8  # cropped together, stays stored
    flipped = hflip_arrays(stored)
    assert np.array_equal(_decode(flipped["toy"]), -_toy(0)[:, ::-1])  # mirrored and negated, exactly
    assert np.array_equal(flipped["rgb"], _rgb(0)[:, ::-1])
    # the tensor path applies the same rule
    t = to_tensors({"__key__": "k", "toy": stored["toy"]}, ["toy"])
    assert torch.equal(AlignedAugment((H, W), scale=(1, 1), hflip=1.0)(t)["toy"][0],
                       torch.from_numpy(-_toy(0)[:, ::-1].copy()))
    # and so does the dataset's augmentation on the stored arrays
    aug = to_tensors(AlignedAugment((H, W), scale=(1, 1), hflip=1.0)(stored), ["toy"])
    assert torch.equal(aug["toy"][0], torch.from_numpy(-_toy(0)[:, ::-1].copy()))


def test_toy_is_a_pretraining_target_with_its_default_loss(toy):
    x = torch.from_numpy(np.stack([_toy(0), _toy(1)]))[:, None]  # [2, 1, 6, 8]
    inp, target, valid = prepare("toy", x)
    assert inp is x and target is x and valid is None  # norm None: the map as it is
    t, w = patch_targets("toy", target[..., :4, :8], valid, 2)  # [2, 8, 4]
    assert w is None and torch.equal(t, patchify(x[..., :4, :8], 2))
    # l1 (the entry's loss) against zeros: per sample the mean |x| of its masked tokens, then the mean
    sample_of = torch.tensor([0, 0, 1])
    picked = torch.stack([t[0, 0], t[0, 5], t[1, 3]])  # [3, 4]
    loss = masked_loss("toy", torch.zeros_like(picked), picked, None, sample_of, 2)
    want = (picked[:2].abs().mean() + picked[2].abs().mean()) / 2
    assert torch.equal(loss, want)
    # sample 0, patches (0, 0) and (1, 1): codes 0 1 8 9 and 18 19 26 27 -> tenths -25 -24 -17 -16, -7 -6 1 2;
    # sample 1, patch (0, 3): codes 7 8 15 16 -> -18 -17 -10 -9
    assert loss.item() == pytest.approx(((25 + 24 + 17 + 16 + 7 + 6 + 1 + 2) / 80 + (18 + 17 + 10 + 9) / 40) / 2)


def test_register_refuses_a_taken_name(toy):
    with pytest.raises(ValueError, match="already in the table"):
        register(toy)


def test_an_unknown_modality_lists_every_known_one_with_what_it_is():
    import pytest

    from tst.modalities import MODALITIES, get_modality

    with pytest.raises(KeyError) as e:
        get_modality("dpeth")
    msg = str(e.value)
    assert "'dpeth'" in msg and all(f"{n} ({m.description})" in msg for n, m in MODALITIES.items())
