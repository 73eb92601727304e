"""AlignedAugment applies one crop / resize / flip to every modality, exactly."""

import pytest
import torch

from tst.augment import AlignedAugment, crop_resize, hflip


def _pattern(h=16, w=20) -> dict:
    """Every modality encodes pixel coordinates, so misalignment shows up as different values."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    code = yy * w + xx  # [H, W] unique per pixel
    normal = torch.stack([torch.full((h, w), 0.6), torch.full((h, w), -0.0), torch.full((h, w), 0.8)])
    normal[0, :, : w // 2] = -0.6  # left half faces the other way
    return {
        "rgb": torch.stack([xx / (w - 1), yy / (h - 1), torch.zeros(h, w)]).float(),  # [3, H, W]
        "depth": code.float()[None] / 100.0,  # [1, H, W]
        "normal": normal,
        "semseg": code.long(),
        "instance": (code % 7).long(),
        "edges": (xx % 2).float()[None],
        "meta": {"intrinsics": {"fx": 10.0, "fy": 10.0, "cx": w / 2, "cy": h / 2, "width": w, "height": h}},
        "__key__": "00000003",
    }


def test_crop_of_a_known_pattern_lands_where_expected():
    s = _pattern()
    out = crop_resize(s, (3, 5, 8, 10), (8, 10))  # crop at (top 3, left 5), no resize
    want = torch.arange(3, 11)[:, None] * 20 + torch.arange(5, 15)[None]
    assert torch.equal(out["semseg"], want)
    assert torch.equal(out["depth"][0], want.float() / 100.0)
    assert torch.equal(out["instance"], want % 7)
    k = out["meta"]["intrinsics"]
    assert (k["cx"], k["cy"], k["width"], k["height"]) == (5.0, 5.0, 10, 8)


def test_upscaling_uses_nearest_for_labels_and_bilinear_for_rgb():
    s = _pattern()
    out = crop_resize(s, (2, 4, 4, 4), (8, 8))  # 2x upsampling
    block = (torch.arange(2, 6)[:, None] * 20 + torch.arange(4, 8)[None])
    assert torch.equal(out["semseg"], block.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert torch.equal(out["depth"][0], (block.float() / 100).repeat_interleave(2, 0).repeat_interleave(2, 1))
    # bilinear rgb invents values between columns (red channel = x / (w - 1))
    red = out["rgb"][0, 0]
    assert len(set(red.tolist())) > 4
    assert out["meta"]["intrinsics"]["fx"] == 20.0


def test_labels_stay_in_the_original_id_set_under_random_downscaling():
    s = _pattern(32, 32)
    aug = AlignedAugment(size=12, scale=(0.3, 1.0), hflip=0.5, seed=1)
    for key in ["a", "b", "c", "d"]:
        out = aug({**s, "__key__": key})
        assert out["semseg"].shape == (12, 12) and out["rgb"].shape == (3, 12, 12)
        assert set(out["instance"].unique().tolist()) <= set(range(7))
        assert set(out["edges"].unique().tolist()) <= {0.0, 1.0}
        assert out["semseg"].dtype == torch.int64
        # depth is nearest-resampled: every value is an original code / 100, aligned with semseg
        assert torch.equal(out["depth"][0], out["semseg"].float() / 100.0)


def test_flip_twice_is_identity_and_negates_normal_x():
    s = _pattern()
    once = hflip(s)
    assert torch.equal(once["semseg"], s["semseg"].flip(-1))
    assert torch.equal(once["normal"][0], -s["normal"][0].flip(-1))
    assert torch.equal(once["normal"][1:], s["normal"][1:].flip(-1))
    assert once["meta"]["intrinsics"]["cx"] == 20 - 10.0 and once["meta"]["augment"]["hflip"]
    twice = hflip(once)
    for k in ("rgb", "depth", "normal", "semseg", "instance", "edges"):
        assert torch.equal(twice[k], s[k]), k
    assert twice["meta"]["intrinsics"] == s["meta"]["intrinsics"]


def test_same_geometry_for_every_modality_and_reproducible_per_key():
    s = _pattern()
    aug = AlignedAugment(size=(8, 10), scale=(0.2, 0.6), hflip=1.0, seed=5)
    out = aug(s)
    top, left, h, w = out["meta"]["augment"]["crop"]
    ref = hflip(crop_resize(s, (top, left, h, w), (8, 10)))
    for k in ("rgb", "depth", "normal", "semseg", "instance", "edges"):
        assert torch.equal(out[k], ref[k]), k
    assert torch.equal(aug(s)["rgb"], out["rgb"])  # same key, same epoch -> same draw
    boxes = {tuple(aug({**s, "__key__": str(i)})["meta"]["augment"]["crop"]) for i in range(8)}
    assert len(boxes) > 1


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="scale"):
        AlignedAugment(8, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="hflip"):
        AlignedAugment(8, hflip=2)
    s = _pattern()
    s["semseg"] = s["semseg"][:8]
    with pytest.raises(ValueError, match="not pixel-aligned"):
        AlignedAugment(8)(s)


def _stored(s: dict) -> dict:
    """The tensor pattern as ShardDataset hands it to augment: [H, W, C] arrays in the stored dtypes."""
    import numpy as np

    return {"rgb": (s["rgb"].permute(1, 2, 0) * 255).round().numpy().astype(np.uint8),
            "depth": (s["depth"][0] * 1000).round().numpy().astype(np.uint16),
            "normal": ((s["normal"].permute(1, 2, 0) + 1) / 2 * 255).round().numpy().astype(np.uint8),
            "semseg": s["semseg"].numpy().astype(np.uint16), "meta": s["meta"], "__key__": s["__key__"]}


@pytest.mark.parametrize("size", [12, 24, (10, 14)])
def test_stored_array_path_matches_the_tensor_path(size):
    """Same draw, same crop box and flip; nearest modalities identical, rgb within a resampling step."""
    from tst.dataset import to_tensors

    s = _pattern(32, 32)
    aug = AlignedAugment(size=size, scale=(0.3, 1.0), hflip=0.5, seed=4)
    flips = set()
    for epoch in range(6):
        st = aug(_stored(s), epoch=epoch)
        arr = to_tensors(st, ["rgb", "depth", "normal", "semseg"])
        ten = aug(s, epoch=epoch)
        flips.add(st["meta"]["augment"].get("hflip", False))
        assert st["meta"] == ten["meta"]  # same box, same flip, same intrinsics
        assert torch.equal(arr["semseg"], ten["semseg"])
        torch.testing.assert_close(arr["depth"], ten["depth"], atol=1e-6, rtol=0)
        torch.testing.assert_close(arr["normal"], ten["normal"], atol=1 / 255 + 1e-6, rtol=0)
        assert (arr["rgb"] - ten["rgb"]).abs().mean() < 0.02
    assert flips == {True, False}  # both branches ran


def test_stored_normal_flip_is_exact_negation_of_x():
    import numpy as np

    from tst.augment import hflip_arrays
    from tst.dataset import to_tensors

    v = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    before = to_tensors({"__key__": "k", "normal": v}, ["normal"])["normal"]
    after = to_tensors(hflip_arrays({"__key__": "k", "normal": v}), ["normal"])["normal"]
    torch.testing.assert_close(after[0], -before[0].flip(-1), atol=1e-6, rtol=0)
    assert torch.equal(after[1:], before[1:].flip(-1))


def test_nearest_index_picks_pixel_centres():
    from tst.augment import nearest_index

    assert nearest_index(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert nearest_index(8, 4).tolist() == [1, 3, 5, 7]
    assert nearest_index(3, 3).tolist() == [0, 1, 2]
    assert nearest_index(224, 181).max() == 223 and nearest_index(181, 224).max() == 180
