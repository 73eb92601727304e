"""Previews: documented sizes, legend of exactly the classes present, map with trajectory."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.collect.test_coco import make_labelled_split, make_view
from tests.envs.policies.test_walk import two_room_scene
from tst.collect.finalize import finish_split
from tst.collect.preview import (
    BG,
    HEADER,
    LEGEND_COLS,
    LEGEND_ROW,
    PAD,
    SWATCH,
    contact_sheet,
    run,
    topdown_map,
)
from tst.envs.camera import pose_from_yaw_pitch
from tst.palette import class_colour, instance_palette

NAMES = {1: "floor", 2: "ceiling", 3: "wall", 4: "table", 5: "chair"}


def legend_xy(k: int, rows: int, tile: int) -> tuple[int, int]:
    y0 = HEADER + rows * (tile + PAD) + PAD
    return PAD + (k % LEGEND_COLS) * (tile + PAD), y0 + (k // LEGEND_COLS) * LEGEND_ROW + 3


def test_contact_sheet_layout_and_legend():
    samples = [{"__key__": f"{i:06d}", **make_view(i)} for i in range(3)]
    tile = 64
    sheet = contact_sheet(samples, NAMES, tile)
    assert sheet.shape == (HEADER + 3 * (tile + PAD) + PAD + LEGEND_ROW + PAD, PAD + 5 * (tile + PAD), 3)
    present = [1, 3, 4, 5]  # floor, wall, table, chair; no ceiling in these views
    for k, cid in enumerate(present):
        x, y = legend_xy(k, 3, tile)
        assert (sheet[y:y + SWATCH, x:x + SWATCH] == class_colour(cid)).all()
    x, y = legend_xy(len(present), 3, tile)
    assert (sheet[y:y + SWATCH, x:x + SWATCH] == BG).all()  # no entry for an absent class
    # semseg tile of row 1: wall (class 3) at the top, the disc chair (class 5) at (48, 45 - 1)
    x, y = PAD + 3 * (tile + PAD), HEADER + 1 * (tile + PAD)
    assert tuple(sheet[y + 5, x + 30]) == class_colour(3)
    assert tuple(sheet[y + 48, x + 44]) == class_colour(5)
    # instance tile uses the instance palette, rgb tile the image itself
    xi = PAD + 4 * (tile + PAD)
    assert tuple(sheet[y + 5, xi + 30]) == tuple(instance_palette(6)[2])
    assert np.abs(sheet[y + 5, PAD + 30].astype(int) - make_view(1)["rgb"][5, 30]).max() <= 1
    assert len({class_colour(c) for c in range(1, 40)}) == 39  # distinct class colours


def test_contact_sheet_of_unlabelled_split_has_three_columns():
    samples = [{k: v for k, v in make_view(i).items() if k in ("rgb", "depth", "normal")} for i in range(2)]
    sheet = contact_sheet(samples, {}, 32)
    assert sheet.shape == (HEADER + 2 * 36 + PAD + PAD, PAD + 3 * 36, 3)


def test_topdown_map_size_and_trajectory():
    scene = two_room_scene()
    poses = np.stack([pose_from_yaw_pitch(np.array([x, 1.5, 1.5]), 0.0) for x in np.linspace(0.8, 5.2, 12)])
    img = topdown_map(scene, poses, 90.0, size=640)
    scale = (640 - 48) / 6.0
    assert img.shape == (int(np.ceil(3 * scale)) + 48 + 28, 640, 3)

    def px(x, y):
        return int(round(24 + x * scale)), int(round(28 + 24 + (3 - y) * scale))

    cx, cy = px(0.8, 1.5)
    assert tuple(img[cy, cx]) == (20, 170, 20)  # start marker
    ex, ey = px(5.2, 1.5)
    assert tuple(img[ey, ex]) == (210, 20, 20)  # end marker
    tx, ty = px(1.5, 0.6)  # kitchen table (class 4) seen from above, lightened class colour
    assert tuple(img[ty, tx]) == tuple(int(0.35 * 255 + 0.65 * c) for c in class_colour(4))
    fx, fy = px(0.3, 2.7)  # bare floor, no frustum there
    assert tuple(img[fy, fx]) == (222, 222, 222)


def test_finish_split_and_cli_entry_write_previews(tmp_path):
    split = make_labelled_split(tmp_path / "split", n=5, captions=False)
    manifest = json.loads((split / "manifest.json").read_text())
    add = finish_split(split, [], manifest, {"coco": False, "preview": True, "preview_rows": 4})
    assert add["preview"]["rows"] == 4 and add["preview"]["maps"] == []
    img = cv2.imread(str(split / "preview" / "contact_sheet.png"))
    assert img.shape[:2] == (HEADER + 4 * 164 + PAD + LEGEND_ROW + PAD, PAD + 5 * 164)
    cfg = OmegaConf.create({"data": str(split), "out": str(tmp_path / "prev"), "rows": 2, "tile": 48,
                            "map": True, "map_size": 256, "resume": False, "overwrite": False, "seed": 0})
    out = run(cfg)  # the hand-made manifest has no collection config: no scene, so no map
    assert out["rows"] == 2 and (tmp_path / "prev" / "contact_sheet.png").is_file()
    assert json.loads((tmp_path / "prev" / "metrics.json").read_text())["preview/rows"] == 2


def test_missing_split_fails_clearly(tmp_path):
    cfg = OmegaConf.create({"data": str(tmp_path / "nope"), "out": str(tmp_path / "p"), "rows": 2, "tile": 48,
                            "map": False, "map_size": 256})
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        run(cfg)


def test_derived_uint8_members_get_their_own_columns():
    samples = [{**make_view(i), "edges": np.full((64, 64), 255, np.uint8)} for i in range(2)]
    sheet = contact_sheet(samples, NAMES, 32)
    assert sheet.shape[1] == PAD + 6 * 36  # rgb, depth, normal, semseg, instance, edges
    x, y = PAD + 5 * 36, HEADER
    assert (sheet[y + 10, x + 10] == 255).all()
