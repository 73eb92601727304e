"""The default renderer: Open3D ``RaycastingScene`` (Embree on the CPU, no display needed).

One ray per pixel centre. Ray directions are camera-frame pixel directions with z = 1 rotated to
the world, so ``t_hit`` is already z-depth. Everything else is a lookup on the hit triangle in
one 64-byte record per face, built once (``face_records``):

- class and instance id (uint16 each);
- colour and atlas UV as (value at corner 0, edge to corner 1, edge to corner 2), so a hit at
  Open3D's (Embree's) barycentrics (u, v), i.e. the point ``(1-u-v) p0 + u p1 + v p2``, reads
  ``t[0] + u t[1] + v t[2]``. A scene without a texture gets a 1x1 white atlas, one colour path.

Colour is interpolated vertex colour x the nearest atlas texel, shaded by a headlight,
``ambient + (1 - ambient) |cos(normal, viewing ray)|``, so that geometry shows in RGB.

Why a compiled kernel: the post-processing touches every pixel a dozen ways (labels, normal
rotation and orientation, two interpolations, a texel fetch, shading, quantisation). As ~40
numpy passes over the image it cost as much as the ray cast itself; one fused numba loop costs a
fraction of it (``python -m bench render`` measures the ratio). It runs on chunks of rows shared
by the render threads, so the cores Embree used for the cast are not left idle while one shades.
Small numpy matmuls are avoided too: a multi-threaded BLAS competing with Embree's threads for the
cores stalls badly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import open3d as o3d

from tst.envs.camera import Intrinsics
from tst.envs.render.base import RENDER_MODALITIES, Renderer, check_cam_to_world, check_modalities
from tst.envs.scene import Scene

INVALID_ID = np.iinfo(np.uint32).max  # open3d's primitive id for a ray that hits nothing
_DEFAULT_GREY = 200  # vertex colour when the scene has none


def raycasting_scene(scene: Scene, threads: int = 0) -> o3d.t.geometry.RaycastingScene:
    """An Open3D ray-casting scene holding ``scene``'s triangles as geometry 0."""
    scene.validate()
    rc = o3d.t.geometry.RaycastingScene(nthreads=int(threads))
    rc.add_triangles(o3d.core.Tensor(np.ascontiguousarray(scene.vertices, dtype=np.float32)),
                     o3d.core.Tensor(np.ascontiguousarray(scene.faces, dtype=np.uint32)))
    return rc


def face_normals(scene: Scene) -> np.ndarray:
    """[F, 3] float32 unit geometric normals from the winding (zero for degenerate faces)."""
    v = scene.vertices.astype(np.float64)[scene.faces]  # [F, 3 corners, 3]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])  # [F, 3]
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0).astype(np.float32)


def face_records(scene: Scene) -> np.ndarray:
    """[F, 16] float32: every per-face value the shading kernel reads, one 64-byte cache line a face.

    Columns 0-8: colour (0..1) as (corner 0, corner 1 - corner 0, corner 2 - corner 0), rgb each;
    9-14: atlas position in texels as the same three (u, v) pairs (all zero without a texture: the
    1x1 white atlas); 15: class id | instance id << 16 as uint32 bits. On a million-triangle mesh
    neighbouring pixels hit different faces, so one line per face instead of four separate tables
    is what keeps shading cheap.
    """
    F = len(scene.faces)
    if scene.vertex_colors is not None:
        corner = scene.vertex_colors[scene.faces].astype(np.float32) / 255.0  # [F, 3, 3] 0..1
    else:
        corner = np.full((F, 3, 3), _DEFAULT_GREY / 255.0, dtype=np.float32)
    if scene.texture is not None:
        th, tw = scene.texture.shape[:2]
        uv = scene.corner_uv.astype(np.float32) * np.array([tw, th], np.float32)  # [F, 3, 2] texels
    else:
        uv = np.zeros((F, 3, 2), dtype=np.float32)
    buf = np.empty(F * 16 + 16, dtype=np.float32)
    skip = (-buf.ctypes.data % 64) // 4  # start on a 64-byte boundary
    rec = buf[skip:skip + F * 16].reshape(F, 16)
    for cols, t in ((slice(0, 9), corner), (slice(9, 15), uv)):
        rec[:, cols] = np.stack([t[:, 0], t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]], axis=1).reshape(F, -1)
    cls, inst = np.asarray(scene.face_class, np.int64), np.asarray(scene.face_instance, np.int64)
    for name, ids in (("class", cls), ("instance", inst)):
        if F and (ids.min() < 0 or ids.max() > 65535):
            raise ValueError(f"scene {scene.scene_id!r}: {name} ids must be in [0, 65535] (semseg and instance are "
                             f"uint16 images), got {ids.min()}..{ids.max()}; renumber them")
    rec.view(np.uint32)[:, 15] = (cls | (inst << 16)).astype(np.uint32)
    return rec


@numba.njit(cache=True, nogil=True)
def _fill_rays(x, y, R, origin, rays):  # pragma: no cover - compiled
    """rays [H, W, 6] = (origin, x[u] R[:, 0] + y[v] R[:, 1] + R[:, 2]): d_cam = (x[u], y[v], 1)."""
    for v in range(y.shape[0]):
        for u in range(x.shape[0]):
            for k in range(3):
                rays[v, u, k] = origin[k]
                rays[v, u, 3 + k] = x[u] * R[k, 0] + y[v] * R[k, 1] + R[k, 2]


@numba.njit(cache=True, nogil=True)
def _shade_rows(r0, r1, prim, t_hit, bary, pn, x, y, gain, R, ambient, faces, face_ids, texture,
                depth, semseg, instance, normal, rgb, valid):  # pragma: no cover - compiled
    """Every modality of the pixels in rows [r0, r1) ([H, W, ...] arrays) from Open3D's hit arrays.

    faces [F, 16] float32 face records (see ``face_records``), face_ids the same memory as uint32."""
    n_faces = faces.shape[0]
    tex_h, tex_w = texture.shape[0], texture.shape[1]
    # the rotation in locals: the compiler cannot prove the outputs do not alias R, so it would reload it
    r00, r01, r02 = R[0, 0], R[0, 1], R[0, 2]
    r10, r11, r12 = R[1, 0], R[1, 1], R[1, 2]
    r20, r21, r22 = R[2, 0], R[2, 1], R[2, 2]
    touched = np.float32(0.0)
    for r in range(r0, r1):
        # Bring the row's face records into cache first: this short loop of independent loads keeps
        # many cache misses in flight, where the long shading loop below waits for them one by one
        # (it matters on big meshes, whose records do not fit in cache).
        for c in range(x.shape[0]):
            f = np.uint32(prim[r, c])
            if f < n_faces:
                touched += faces[f, 0]
        dy = y[r]
        for c in range(x.shape[0]):
            f = np.uint32(prim[r, c])  # unsigned indices: no negative-index wraparound checks
            if f >= n_faces:  # a miss: INVALID_ID
                valid[r, c] = False
                depth[r, c] = 0.0
                semseg[r, c] = 0
                instance[r, c] = 0
                for k in range(3):
                    normal[r, c, k] = 0.0
                    rgb[r, c, k] = 0
                continue
            valid[r, c] = True
            depth[r, c] = t_hit[r, c]
            ids = face_ids[f, 15]
            semseg[r, c] = ids & 0xFFFF
            instance[r, c] = ids >> 16
            # camera-frame normal n_cam = R^T n_world, turned to face the camera (n . d_cam < 0)
            p0, p1, p2 = pn[r, c, 0], pn[r, c, 1], pn[r, c, 2]
            n0 = p0 * r00 + p1 * r10 + p2 * r20
            n1 = p0 * r01 + p1 * r11 + p2 * r21
            n2 = p0 * r02 + p1 * r12 + p2 * r22
            cos = n0 * x[c] + n1 * dy + n2
            if cos > 0:
                n0, n1, n2, cos = -n0, -n1, -n2, -cos
            normal[r, c, 0], normal[r, c, 1], normal[r, c, 2] = n0, n1, n2
            light = ambient - cos * gain[r, c]  # ambient + (1 - ambient) |cos(normal, ray)|
            u, v = bary[r, c, 0], bary[r, c, 1]
            tu = faces[f, 9] + u * faces[f, 11] + v * faces[f, 13]  # atlas position in texels
            tv = faces[f, 10] + u * faces[f, 12] + v * faces[f, 14]
            col = np.uint32(min(max(int(tu), 0), tex_w - 1))  # truncation = floor for tu >= 0: the texel hit
            row = np.uint32(min(max(int(tv), 0), tex_h - 1))
            for k in range(3):
                a = (faces[f, k] + u * faces[f, 3 + k] + v * faces[f, 6 + k]) * texture[row, col, k]
                rgb[r, c, k] = min(int(a * light + 0.5), 255)
    return touched  # returned so the compiler keeps the prefetching loads


@dataclass
class _Camera:
    """Per-intrinsics pixel direction tables, d_cam[v, u] = (x[u], y[v], 1)."""

    x: np.ndarray  # [W] float32 (u + 0.5 - cx) / fx
    y: np.ndarray  # [H] float32 (v + 0.5 - cy) / fy
    gain: np.ndarray  # [H, W] float32 (1 - ambient) / |d_cam|: the diffuse weight of n . d_cam
    rays: np.ndarray  # [H, W, 6] float32 buffer reused by render() (never handed out)


class Open3DRenderer(Renderer):
    """Renders ``scene``; ``threads`` is Embree's thread count for building and casting (0 = all cores),
    ``shade_threads`` the number of threads the per-pixel kernel runs on (None = ``threads``).

    The per-pixel kernel runs without the GIL on chunks of rows shared by the render threads, and
    writes every modality (they all come from the same hit, so asking for fewer saves little);
    ``render`` returns the ones asked for. One renderer serves one thread at a time (it reuses a
    private ray buffer); ``close()`` stops its shading threads.
    """

    name = "open3d"

    def __init__(self, scene: Scene, threads: int = 0, ambient: float = 0.3, shade_threads: int | None = None):
        if threads < 0:
            raise ValueError(f"renderer threads must be >= 0 (0 = all cores), got {threads}")
        if shade_threads is not None and shade_threads < 1:
            raise ValueError(f"renderer shade_threads must be >= 1 (or null: one per render thread), got {shade_threads}")
        if not 0.0 <= ambient <= 1.0:
            raise ValueError(f"renderer ambient must be in [0, 1], got {ambient}")
        self.scene = scene
        self.threads = int(threads)
        self.ambient = float(ambient)
        self._rc = raycasting_scene(scene, self.threads)
        self._build_tables(scene)
        self._cameras: dict[Intrinsics, _Camera] = {}
        # shading threads; a caller that keeps the other cores busy itself (collect encodes PNGs in
        # parallel) sets 1, which avoids waiting on a shading thread the OS has descheduled
        self.shade_threads = int(shade_threads or self.threads or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None  # started on the first frame shaded by several threads

    def _build_tables(self, scene: Scene) -> None:
        if scene.texture is not None:
            texture = scene.texture
        else:  # one white texel: the same colour path as a textured scene
            texture = np.full((1, 1, 3), 255, dtype=np.uint8)
        self._texture = np.ascontiguousarray(texture, dtype=np.uint8)  # [th, tw, 3]: uint8 stays in cache
        self._faces = face_records(scene)  # [F, 16] float32
        self._face_ids = self._faces.view(np.uint32)  # the same memory, read as ids

    def _camera(self, intrinsics: Intrinsics) -> _Camera:
        cam = self._cameras.get(intrinsics)
        if cam is None:
            K = intrinsics
            if K.width <= 0 or K.height <= 0 or not (K.fx > 0 and K.fy > 0):
                raise ValueError(f"intrinsics need width, height, fx and fy > 0, got {K}; "
                                 f"build them with Intrinsics.from_fov(width, height, hfov_deg)")
            x = ((np.arange(K.width) + 0.5 - K.cx) / K.fx).astype(np.float32)  # [W]
            y = ((np.arange(K.height) + 0.5 - K.cy) / K.fy).astype(np.float32)  # [H]
            norm = np.sqrt(x[None, :].astype(np.float64) ** 2 + y[:, None] ** 2 + 1.0)  # [H, W]
            cam = _Camera(x, y, ((1.0 - self.ambient) / norm).astype(np.float32),
                          np.empty((K.height, K.width, 6), dtype=np.float32))
            if len(self._cameras) >= 8:
                self._cameras.clear()
            self._cameras[intrinsics] = cam
        return cam

    def _shared_rows(self, kernel, height: int, *args) -> None:
        """``kernel(r0, r1, *args)`` over all rows, shared by ``shade_threads`` threads (kernels hold no GIL).

        Embree casts with ``threads`` threads; running the per-pixel kernel on one of them alone
        left the others idle for a fifth of the frame. Rows go out in small chunks to whichever
        thread is free: the calling thread starts at once while the others take ~0.1 ms to wake,
        and rows that cost more (a floor full of tiny triangles) do not leave one thread waiting.
        Every pixel is computed the same way whatever the split: the output does not depend on it.
        """
        threads = min(self.shade_threads, height)
        if threads == 1:
            kernel(0, height, *args)
            return
        if self._pool is None:  # a smaller pool after shade_threads is raised only queues work: still correct
            self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="tst-render")
        chunk = max(1, height // (8 * threads))  # ~8 chunks a thread: balanced to a chunk, few GIL trips
        starts = iter(range(0, height, chunk))  # shared: next() runs under the GIL, so each chunk goes once

        def work() -> None:
            for r0 in starts:
                kernel(r0, min(r0 + chunk, height), *args)

        futures = [self._pool.submit(work) for _ in range(threads - 1)]
        work()
        for f in futures:
            f.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # ------------------------------------------------------------------ rays
    def make_rays(self, intrinsics: Intrinsics, cam_to_world: np.ndarray) -> np.ndarray:
        """[H*W, 6] float32 world rays (origin, direction with camera-frame z = 1), row-major pixels."""
        T = check_cam_to_world(cam_to_world)
        cam = self._camera(intrinsics)
        rays = np.empty((intrinsics.height, intrinsics.width, 6), dtype=np.float32)
        _fill_rays(cam.x, cam.y, T[:3, :3].astype(np.float32), T[:3, 3].astype(np.float32), rays)
        return rays.reshape(-1, 6)

    def cast_rays(self, rays: np.ndarray) -> dict[str, np.ndarray]:
        """Open3D's raw ``cast_rays`` on [..., 6] float32 rays, every result as a numpy array."""
        rays = np.ascontiguousarray(rays, dtype=np.float32)
        if rays.shape[-1] != 6:
            raise ValueError(f"rays must be [..., 6] (origin xyz, direction xyz), got {rays.shape}")
        out = self._rc.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=self.threads)
        return {k: v.numpy() for k, v in out.items()}

    # ------------------------------------------------------------------ render
    def render(self, intrinsics: Intrinsics, cam_to_world: np.ndarray,
               modalities: Sequence[str] = RENDER_MODALITIES) -> dict[str, np.ndarray]:
        want = check_modalities(modalities)
        H, W = intrinsics.height, intrinsics.width
        T = check_cam_to_world(cam_to_world)
        cam = self._camera(intrinsics)
        R = T[:3, :3].astype(np.float32)
        _fill_rays(cam.x, cam.y, R, T[:3, 3].astype(np.float32), cam.rays)  # ~0.2 ms: too short to split
        hit = self._rc.cast_rays(o3d.core.Tensor.from_numpy(cam.rays), nthreads=self.threads)
        out = {"valid": np.empty((H, W), dtype=bool), "depth": np.empty((H, W), dtype=np.float32),
               "semseg": np.empty((H, W), dtype=np.uint16), "instance": np.empty((H, W), dtype=np.uint16),
               "normal": np.empty((H, W, 3), dtype=np.float32), "rgb": np.empty((H, W, 3), dtype=np.uint8)}
        self._shared_rows(_shade_rows, H, hit["primitive_ids"].numpy(), hit["t_hit"].numpy(), hit["primitive_uvs"].numpy(),
                       hit["primitive_normals"].numpy(), cam.x, cam.y, cam.gain, R, np.float32(self.ambient),
                       self._faces, self._face_ids, self._texture,
                       out["depth"], out["semseg"], out["instance"], out["normal"], out["rgb"], out["valid"])
        return {k: out[k] for k in ("valid", *want)}
