"""Previews of a split — look at the data before spending GPU hours on it.

``tst preview data=<split dir> out=<dir>`` (or ``tst collect … preview=true``) writes:

- ``contact_sheet.png``: one row per sampled frame, one column per stored image modality
  (rgb | depth | normal | semseg | instance, then uint8 derived members such as edges or PCA
  features, by name), with a legend of the classes present. Layout, in
  pixels (tests rely on it): columns ``c`` and rows ``r`` are tiles of ``tile`` x ``tile`` at
  x = PAD + c (tile + PAD), y = HEADER + r (tile + PAD); the sheet is PAD + ncols (tile + PAD) wide
  and HEADER + rows (tile + PAD) + PAD + lines * LEGEND_ROW + PAD high; legend entry k (classes in
  id order) has a SWATCH x SWATCH swatch of ``class_colour(id)`` at
  x = PAD + (k % LEGEND_COLS) (tile + PAD), y = HEADER + rows (tile + PAD) + PAD + (k // LEGEND_COLS) LEGEND_ROW + 3.
- ``topdown_<scene_id>.png``: the scene seen from above (floor-level geometry, walls, objects in
  their class colour, rooms outlined and named), the camera trajectory and a frustum per frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from tst.atomic import write_bytes
from tst.envs.scene import Scene
from tst.palette import class_colour, class_palette, instance_palette
from tst.png import encode_png
from tst.shards import decode_member, iter_split, read_manifest

PAD, HEADER, LEGEND_ROW, LEGEND_COLS, SWATCH = 4, 22, 20, 5, 14
BG = (32, 32, 32)
IMAGE_COLUMNS = ("rgb", "depth", "normal", "semseg", "instance")
def colourise(modality: str, value: np.ndarray, depth_max: float) -> np.ndarray:
    """[H, W, 3] uint8 view of one decoded modality."""
    if modality == "rgb":
        return value[..., :3]
    if modality == "depth":  # turbo, near = blue, far = red, no hit = black
        d = np.clip(value / max(depth_max, 1e-6), 0, 1)
        img = cv2.applyColorMap((d * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
        return np.where((value > 0)[..., None], img, 0).astype(np.uint8)
    if modality == "normal":
        return np.clip((value + 1) * 0.5 * 255, 0, 255).astype(np.uint8)
    if modality in ("semseg", "instance"):
        n = int(value.max()) + 1
        lut = instance_palette(n) if modality == "instance" else class_palette(n)
        return lut[value]
    if _is_picture(value):  # edges, pseudo modalities stored as uint8 PNG
        return np.repeat(value[..., None], 3, -1) if value.ndim == 2 else value
    raise KeyError(f"no preview for modality {modality!r}; known: {list(IMAGE_COLUMNS)}")


def _is_picture(value) -> bool:
    """A uint8 grey [H, W] or colour [H, W, 3] image (derived members such as edges or PCA features)."""
    return isinstance(value, np.ndarray) and value.dtype == np.uint8 and (
        value.ndim == 2 or (value.ndim == 3 and value.shape[2] == 3))


def fit(img: np.ndarray, tile: int, nearest: bool) -> np.ndarray:
    """Resize [H, W, 3] into a tile x tile letterbox, keeping the aspect ratio."""
    h, w = img.shape[:2]
    s = tile / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    out = np.zeros((tile, tile, 3), np.uint8)
    y, x = (tile - nh) // 2, (tile - nw) // 2
    out[y:y + nh, x:x + nw] = small
    return out


def text(img: np.ndarray, s: str, org: tuple[int, int], scale: float = 0.42, colour=(235, 235, 235),
         shadow: bool = True) -> None:
    """ASCII label at ``org`` (baseline left); the shadow keeps it readable on images."""
    if shadow:
        cv2.putText(img, s, (org[0] + 1, org[1] + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def contact_sheet(samples: list[dict], class_names: dict[int, str], tile: int = 160) -> np.ndarray:
    """[H, W, 3] uint8 sheet of decoded samples (see the module docstring for the exact layout)."""
    cols = [m for m in IMAGE_COLUMNS if any(m in s for s in samples)]
    cols += sorted({m for s in samples for m, v in s.items() if m not in IMAGE_COLUMNS and _is_picture(v)})
    depths = np.concatenate([s["depth"][s["depth"] > 0] for s in samples if "depth" in s] or [np.ones(1)])
    depth_max = float(np.percentile(depths, 99)) if depths.size else 1.0
    present = sorted({int(c) for s in samples if "semseg" in s for c in np.unique(s["semseg"]) if c > 0})
    lines = (len(present) + LEGEND_COLS - 1) // LEGEND_COLS
    width = PAD + len(cols) * (tile + PAD)
    height = HEADER + len(samples) * (tile + PAD) + PAD + lines * LEGEND_ROW + PAD
    sheet = np.full((height, width, 3), BG, np.uint8)
    for c, m in enumerate(cols):
        text(sheet, m if m != "depth" else f"depth (0-{depth_max:.1f} m)", (PAD + c * (tile + PAD) + 2, HEADER - 7))
    for r, s in enumerate(samples):
        y = HEADER + r * (tile + PAD)
        for c, m in enumerate(cols):
            x = PAD + c * (tile + PAD)
            if m in s:
                sheet[y:y + tile, x:x + tile] = fit(colourise(m, s[m], depth_max), tile, nearest=m != "rgb")
            else:
                text(sheet, "n/a", (x + tile // 2 - 12, y + tile // 2))
        text(sheet, str(s.get("__key__", r)), (PAD + 3, y + tile - 5), scale=0.38)
    y0 = HEADER + len(samples) * (tile + PAD) + PAD
    for k, cid in enumerate(present):
        x = PAD + (k % LEGEND_COLS) * (tile + PAD)
        y = y0 + (k // LEGEND_COLS) * LEGEND_ROW + 3
        sheet[y:y + SWATCH, x:x + SWATCH] = class_colour(cid)
        name = class_names.get(cid, f"class {cid}")
        text(sheet, f"{cid} {name}"[: max(4, (tile - SWATCH - 6) // 7)], (x + SWATCH + 4, y + SWATCH - 2), scale=0.4)
    return sheet


def topdown_map(scene: Scene, poses: np.ndarray, hfov_deg: float = 90.0, size: int = 640,
                title: str = "") -> np.ndarray:
    """[H, W, 3] uint8 map of ``scene`` from above with the trajectory and frusta of ``poses`` [N, 4, 4]."""
    lo, hi = scene.bounds
    margin, bar = 24, 28
    scale = (size - 2 * margin) / max(hi[0] - lo[0], hi[1] - lo[1], 1e-3)  # pixels per metre
    W = int(np.ceil((hi[0] - lo[0]) * scale)) + 2 * margin
    H = int(np.ceil((hi[1] - lo[1]) * scale)) + 2 * margin + bar
    img = np.full((H, W, 3), 250, np.uint8)

    def px(xy: np.ndarray) -> np.ndarray:  # world xy [..., 2] -> integer pixels, y up
        return np.stack([margin + (xy[..., 0] - lo[0]) * scale, bar + margin + (hi[1] - xy[..., 1]) * scale],
                        -1).round().astype(np.int32)

    v = scene.vertices[scene.faces]  # [F, 3, 3]
    names = [n.lower() for n in scene.class_names]
    cls = scene.face_class  # [F]
    floor_z = float(np.nanmedian([r.floor_z for r in scene.rooms])) if scene.rooms else float(lo[2])
    keep = (v[:, :, 2].min(1) < floor_z + 1.9) & np.array([names[c] != "ceiling" for c in cls])
    nz = np.abs(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])[:, 2])
    area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
    flat = nz > 0.3 * np.maximum(area, 1e-12)
    order = np.argsort(v[:, :, 2].max(1), kind="stable")  # low first: objects drawn over the floor
    for f in order[keep[order]]:
        name = names[cls[f]]
        colour = (222, 222, 222) if name == "floor" else (70, 70, 70) if name == "wall" else (
            tuple(int(0.35 * 255 + 0.65 * c) for c in class_colour(int(cls[f]))))
        pts = px(v[f, :, :2])
        if flat[f]:
            cv2.fillPoly(img, [pts], colour)
        else:  # vertical faces (walls, sides of objects) project to lines
            cv2.polylines(img, [pts], True, (60, 60, 60) if name == "wall" else colour, 2)
    for room in scene.rooms:
        poly = px(np.asarray(room.polygon, np.float64))
        cv2.polylines(img, [poly], True, (40, 90, 200), 1, cv2.LINE_AA)
        c = poly.mean(0).astype(int)
        text(img, room.name.replace("_", " "), (int(c[0]) - 4 * len(room.name), int(c[1])), 0.45, (30, 70, 170),
             shadow=False)
    if len(poses):
        pos, fwd = poses[:, :3, 3], poses[:, :3, 2]  # [N, 3] positions, optical axes
        yaw = np.arctan2(fwd[:, 1], fwd[:, 0])
        half, reach = np.radians(hfov_deg) / 2, 0.35
        overlay = img.copy()
        stride = max(1, len(pos) // 300)  # at most ~300 frusta: a 10k-frame map stays readable
        for p, a in zip(pos[::stride], yaw[::stride]):
            tri = np.array([p[:2], p[:2] + reach * np.array([np.cos(a - half), np.sin(a - half)]),
                            p[:2] + reach * np.array([np.cos(a + half), np.sin(a + half)])])
            cv2.fillPoly(overlay, [px(tri)], (255, 170, 60))
        img = cv2.addWeighted(overlay, 0.35, img, 0.65, 0)
        cv2.polylines(img, [px(pos[:, :2])], False, (230, 110, 0), 1, cv2.LINE_AA)
        cv2.circle(img, tuple(int(t) for t in px(pos[0, :2])), 5, (20, 170, 20), -1, cv2.LINE_AA)
        cv2.circle(img, tuple(int(t) for t in px(pos[-1, :2])), 5, (210, 20, 20), -1, cv2.LINE_AA)
    img[:bar] = BG
    text(img, title or f"{scene.scene_id}: {len(poses)} frames", (6, 19), 0.5, shadow=False)
    x0, y0 = margin, H - 8  # 1 m scale bar
    cv2.line(img, (x0, y0), (x0 + int(round(scale)), y0), (0, 0, 0), 2)
    cv2.putText(img, "1 m", (x0 + int(round(scale)) + 4, y0 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    return img


def split_metas(split_dir: str | Path) -> list[dict]:
    """Every sample's key and meta (decoding only the meta members)."""
    out = []
    for s in iter_split(split_dir, decode=False):
        meta = decode_member("meta.json", s["meta"]) if "meta" in s else {}
        out.append({"__key__": s["__key__"], **meta})
    return out


def write_previews(split_dir: str | Path, out_dir: str | Path, scenes: list[Scene] | None = None,
                   rows: int = 6, tile: int = 160, map_size: int = 640) -> dict:
    """Contact sheet (and a top-down map per scene when ``scenes`` are given); returns file names."""
    split_dir, out_dir = Path(split_dir), Path(out_dir)
    manifest = read_manifest(split_dir)
    vocab = manifest.get("classes") or {}
    names = {int(k): v for k, v in (vocab.items() if isinstance(vocab, dict) else enumerate(vocab))}
    metas = split_metas(split_dir)
    if not metas:
        raise ValueError(f"{split_dir} holds no samples to preview")
    pick = {metas[int(i)]["__key__"] for i in np.linspace(0, len(metas) - 1, min(rows, len(metas))).round()}
    samples = [s for s in iter_split(split_dir) if s["__key__"] in pick]
    out = {"contact_sheet": "contact_sheet.png", "rows": len(samples), "maps": []}
    write_bytes(out_dir / "contact_sheet.png", encode_png(contact_sheet(samples, names, tile)))
    hfov = 90.0
    if manifest.get("intrinsics"):
        k = manifest["intrinsics"]
        hfov = float(np.degrees(2 * np.arctan(k["width"] / (2 * k["fx"]))))
    for scene in scenes or []:
        poses = np.array([m["cam_to_world"] for m in metas if m.get("scene_id") == scene.scene_id],
                         np.float64).reshape(-1, 4, 4)
        name = f"topdown_{scene.scene_id}.png"
        title = f"{scene.scene_id} ({manifest.get('split', '?')}): {len(poses)} frames"
        write_bytes(out_dir / name, encode_png(topdown_map(scene, poses, hfov, map_size, title)))
        out["maps"].append(name)
    return out


def run(cfg) -> dict:
    """``tst preview data=<split dir> out=<dir> [rows=6 tile=160 map=true]``."""
    from omegaconf import OmegaConf

    from tst.rundir import open_run_dir

    data = Path(str(cfg.data))
    manifest = read_manifest(data)
    scenes = None
    if cfg.get("map", True) and manifest.get("config"):
        from tst.collect.run import build_scenes  # rebuild the spaces from the split's own config

        scenes = build_scenes(OmegaConf.create(manifest["config"]))
    rd = open_run_dir(cfg)
    out = write_previews(data, rd.path, scenes, int(cfg.rows), int(cfg.tile), int(cfg.map_size))
    rd.write_metrics({"preview/rows": out["rows"], "preview/maps": len(out["maps"])})
    print(json.dumps({"preview": str(rd.path), **out}))
    return out
