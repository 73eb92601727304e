"""Render speed: a full multimodal 256x256 frame vs the bare ``cast_rays`` on the same rays.

The ratio ``full_fps / raw_cast_fps`` is what the renderer's post-processing (labels, normals,
interpolated textured colour, shading, ray generation) costs on top of Embree. Both are measured
in one run, with the same rays and the same thread count, interleaved frame by frame (raw, full,
raw, full, …) so that load from other processes on a shared machine hits both alike, and
summarised by medians. Cases: the procedural apartment and a >= 1M-triangle mesh (the same
apartment with every triangle split 4-to-1 four times: identical views, 256x the triangles), each
with 1 and 2 threads. Headline keys are the apartment with 2 threads; ``min_ratio`` is the worst case.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import open3d as o3d

from tst.envs.camera import Intrinsics, pose_from_yaw_pitch
from tst.envs.freespace import FreeSpace
from tst.envs.render.open3d_renderer import Open3DRenderer
from tst.envs.scene import Scene

RESOLUTION = 256
POSES = 8
REPEATS = 12  # interleaved raw/full pairs per pose
TARGET_RATIO = 0.75


def subdivide(scene: Scene, levels: int) -> Scene:
    """Split every triangle into 4 at its edge midpoints ``levels`` times (same surface, 4^levels faces).

    Midpoints are not shared between faces, which only costs memory; labels, UVs and colours are
    carried over exactly (midpoint UV / colour = mean of the corners)."""
    v = scene.vertices[scene.faces].astype(np.float32)  # [F, 3, 3] per-corner positions
    c = (scene.vertex_colors[scene.faces].astype(np.float32) if scene.vertex_colors is not None
         else np.full(v.shape, 200.0, np.float32))  # [F, 3, 3]
    uv = scene.corner_uv.astype(np.float32) if scene.corner_uv is not None else None  # [F, 3, 2]
    inst = scene.face_instance
    for _ in range(levels):
        parts = [v, c] + ([uv] if uv is not None else [])
        split = []
        for a in parts:
            m01, m12, m20 = (a[:, 0] + a[:, 1]) / 2, (a[:, 1] + a[:, 2]) / 2, (a[:, 2] + a[:, 0]) / 2
            tris = [(a[:, 0], m01, m20), (m01, a[:, 1], m12), (m20, m12, a[:, 2]), (m01, m12, m20)]
            split.append(np.stack([np.stack(t, 1) for t in tris], 1).reshape(-1, 3, a.shape[-1]))
        v, c = split[0], split[1]
        uv = split[2] if uv is not None else None
        inst = np.repeat(inst, 4)
    F = len(v)
    return Scene(
        vertices=v.reshape(-1, 3), faces=np.arange(3 * F, dtype=np.int32).reshape(F, 3),
        face_instance=inst, instance_class=scene.instance_class, class_names=scene.class_names,
        vertex_colors=np.clip(np.rint(c.reshape(-1, 3)), 0, 255).astype(np.uint8),
        corner_uv=uv, texture=scene.texture, scene_id=f"{scene.scene_id}-x{4 ** levels}",
        source=f"{scene.source}, subdivided {levels}x", rooms=scene.rooms,
    ).validate()


def bench_scene() -> tuple[Scene, str]:
    """The procedural apartment of seed 0 (the main test space)."""
    from tst.envs.synth.generator import generate_apartment

    return generate_apartment(seed=0), "synth apartment seed 0"


def poses_for(scene: Scene, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pos = FreeSpace(scene).sample_positions(n, rng, height=(1.2, 1.6), clearance=0.4)
    return [pose_from_yaw_pitch(p, rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.1)) for p in pos]


def measure(scene: Scene, poses: list[np.ndarray], threads: int) -> dict:
    """Median frames/s of the bare cast and of the full render, interleaved pose by pose."""
    K = Intrinsics.from_fov(RESOLUTION, RESOLUTION, 90.0)
    t0 = time.perf_counter()
    r = Open3DRenderer(scene, threads=threads)
    build_s = time.perf_counter() - t0
    rays = [o3d.core.Tensor.from_numpy(r.make_rays(K, T)) for T in poses]  # pre-built: the raw call is bare
    hits = [r.render(K, T)["valid"].mean() for T in poses]  # warm-up (caches, page faults)
    raw, full = [], []
    for _ in range(REPEATS):
        for T, ray in zip(poses, rays):
            t = time.perf_counter()
            r._rc.cast_rays(ray, nthreads=threads)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            r.render(K, T)
            full.append(time.perf_counter() - t)
    raw_fps, full_fps = 1.0 / float(np.median(raw)), 1.0 / float(np.median(full))
    return {"threads": threads, "triangles": int(len(scene.faces)), "raw_cast_fps": round(raw_fps, 1),
            "full_fps": round(full_fps, 1), "ratio": round(full_fps / raw_fps, 3),
            "raw_ms_p10_p90": [round(1e3 * float(np.percentile(raw, q)), 2) for q in (10, 90)],
            "full_ms_p10_p90": [round(1e3 * float(np.percentile(full, q)), 2) for q in (10, 90)],
            "hit_fraction": round(float(np.mean(hits)), 3), "build_s": round(build_s, 2)}


def main(out_dir: Path) -> dict:
    scene, desc = bench_scene()
    dense = subdivide(scene, 4)
    poses = poses_for(scene, POSES)
    cases = {}
    for name, sc in (("synth", scene), ("dense", dense)):
        for threads in (1, 2):
            case = measure(sc, poses, threads)
            cases[f"{name}_t{threads}"] = case
            print(f"{name:6s} {case['triangles']:>8d} tris  threads={threads}  raw cast {case['raw_cast_fps']:6.1f} fps"
                  f"  full frame {case['full_fps']:6.1f} fps  ratio {case['ratio']:.2f}", flush=True)
    head = cases["synth_t2"]
    result = {"full_fps": head["full_fps"], "raw_cast_fps": head["raw_cast_fps"], "ratio": head["ratio"],
              "min_ratio": min(c["ratio"] for c in cases.values()), "target_ratio": TARGET_RATIO,
              "resolution": RESOLUTION, "poses": POSES, "repeats": REPEATS, "scene": desc,
              "dense_scene": f"{desc} subdivided 4-to-1 four times", "cases": cases}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "render.json").write_text(json.dumps(result, indent=2))
    print(f"headline (synth, 2 threads): full {result['full_fps']} fps / raw {result['raw_cast_fps']} fps "
          f"= {result['ratio']:.2f} (target {TARGET_RATIO}); worst case {result['min_ratio']:.2f}")
    return result
