"""The default renderer: Open3D ``RaycastingScene`` (Embree on the CPU, no display needed).

One ray per pixel centre; everything else is a table lookup on the hit triangle. The renderer
precomputes per-face tables once, with one extra "background" row at index F that a missed ray
(primitive id INVALID) is clamped to, so every modality is a single gather over the whole image
with no masking, no index lists and no scatter:

- ``_face_label``  [F+1, 2] uint16  class id, instance id (background row: 0, 0)
- ``_face_normal`` [F+1, 3] float32 unit world-frame geometric normal (background row: 0)
- ``_face_color``  [F+1, 3, 5] float32 rows (c0, c1 - c0, c2 - c0) of per-corner RGB (0..1) and
  atlas UV in texels, so a hit with barycentrics (u, v) is ``(1, u, v) @ table[f]``
  (background row: 0, i.e. black)

Open3D's barycentrics follow Embree: the hit point is ``(1-u-v) p0 + u p1 + v p2``.
Ray directions are camera-frame pixel directions with z = 1 rotated to the world, so ``t_hit`` is
already z-depth. Colour is vertex colour x nearest atlas texel, shaded by a headlight
(``ambient + (1 - ambient) |cos|`` between the normal and the viewing ray) so geometry shows in RGB.
"""

from __future__ import annotations

from collections.abc import Sequence

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


class Open3DRenderer(Renderer):
    name = "open3d"

    def __init__(self, scene: Scene, threads: int = 0, ambient: float = 0.3):
        if threads < 0:
            raise ValueError(f"renderer threads must be >= 0 (0 = all cores), got {threads}")
        if not 0.0 <= ambient <= 1.0:
            raise ValueError(f"renderer ambient must be in [0, 1], got {ambient}")
        self.scene = scene
        self.threads = int(threads)
        self.ambient = float(ambient)
        self._rc = raycasting_scene(scene, self.threads)
        self._build_tables(scene)
        self._dirs_cache: dict[Intrinsics, tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ tables
    def _build_tables(self, scene: Scene) -> None:
        F = len(scene.faces)
        labels = np.zeros((F + 1, 2), dtype=np.uint16)
        labels[:F, 0] = scene.face_class
        labels[:F, 1] = scene.face_instance
        self._face_label = labels

        normals = np.zeros((F + 1, 3), dtype=np.float32)
        normals[:F] = face_normals(scene)
        self._face_normal = normals

        if scene.vertex_colors is not None:
            corner_rgb = scene.vertex_colors[scene.faces].astype(np.float32) / 255.0  # [F, 3, 3]
        else:
            corner_rgb = np.full((F, 3, 3), _DEFAULT_GREY / 255.0, dtype=np.float32)
        self._texture = None
        corner = np.zeros((F, 3, 5), dtype=np.float32)  # [F, corner, rgb + uv]
        corner[..., :3] = corner_rgb
        if scene.texture is not None:
            th, tw = scene.texture.shape[:2]
            # atlas coordinates in texels, so nearest lookup is a floor
            corner[..., 3:] = scene.corner_uv * np.array([tw, th], dtype=np.float32)
            self._texture = np.ascontiguousarray(scene.texture.reshape(-1, 3))  # [th*tw, 3] uint8
            self._tex_shape = (th, tw)
        table = np.zeros((F + 1, 3, 5), dtype=np.float32)
        table[:F, 0] = corner[:, 0]
        table[:F, 1] = corner[:, 1] - corner[:, 0]
        table[:F, 2] = corner[:, 2] - corner[:, 0]
        self._face_color = table
        self._num_faces = F

    def _camera_dirs(self, intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """Cached camera-frame pixel directions [H*W, 3] (z = 1) and their unit versions."""
        hit = self._dirs_cache.get(intrinsics)
        if hit is None:
            d = intrinsics.pixel_rays().reshape(-1, 3)  # [H*W, 3], z = 1
            unit = d / np.linalg.norm(d, axis=1, keepdims=True)
            hit = (np.ascontiguousarray(d), np.ascontiguousarray(unit, dtype=np.float32))
            if len(self._dirs_cache) > 8:
                self._dirs_cache.clear()
            self._dirs_cache[intrinsics] = hit
        return hit

    # ------------------------------------------------------------------ rays
    def make_rays(self, intrinsics: Intrinsics, cam_to_world: np.ndarray) -> np.ndarray:
        """[H*W, 6] float32 world rays (origin, direction with camera-frame z = 1), row-major pixels."""
        T = check_cam_to_world(cam_to_world)
        d, _ = self._camera_dirs(intrinsics)
        rays = np.empty((len(d), 6), dtype=np.float32)
        rays[:, :3] = T[:3, 3]
        np.matmul(d, T[:3, :3].T.astype(np.float32), out=rays[:, 3:])
        return rays

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
        want = set(check_modalities(modalities))
        H, W = intrinsics.height, intrinsics.width
        T = check_cam_to_world(cam_to_world)
        rays = self.make_rays(intrinsics, T)
        hit = self._rc.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=self.threads)
        prim = hit["primitive_ids"].numpy()  # [H*W] uint32, INVALID_ID on a miss
        f = np.minimum(prim, self._num_faces).astype(np.intp)  # misses -> background row F
        valid = f < self._num_faces  # [H*W]
        out: dict[str, np.ndarray] = {"valid": valid.reshape(H, W)}

        if "depth" in want:
            depth = hit["t_hit"].numpy()  # [H*W] float32, inf on a miss (fresh array: ours to edit)
            depth[~valid] = 0.0
            out["depth"] = depth.reshape(H, W)
        if "semseg" in want or "instance" in want:
            lab = self._face_label[f]  # [H*W, 2] uint16
            if "semseg" in want:
                out["semseg"] = lab[:, 0].reshape(H, W)
            if "instance" in want:
                out["instance"] = lab[:, 1].reshape(H, W)
        if "normal" in want or "rgb" in want:
            _, unit = self._camera_dirs(intrinsics)
            n_cam = self._face_normal[f] @ T[:3, :3].astype(np.float32)  # [H*W, 3] = R^T n per pixel
            cos = np.einsum("ij,ij->i", n_cam, unit)  # [H*W]; > 0 means we see the back face
            sign = np.where(cos > 0, np.float32(-1.0), np.float32(1.0))  # face the camera
            if "normal" in want:
                n_cam *= sign[:, None]
                out["normal"] = n_cam.reshape(H, W, 3)
            if "rgb" in want:
                out["rgb"] = self._shade(f, hit["primitive_uvs"].numpy(), np.abs(cos)).reshape(H, W, 3)
        return out

    def _shade(self, f: np.ndarray, bary: np.ndarray, cos: np.ndarray) -> np.ndarray:
        """[N, 3] uint8 colour of hits on faces ``f`` at barycentrics ``bary`` [N, 2], lit by ``cos``."""
        w = np.empty((len(f), 1, 3), dtype=np.float32)  # [N, 1, 3] = (1, u, v)
        w[:, 0, 0] = 1.0
        w[:, 0, 1:] = bary
        attr = np.matmul(w, self._face_color[f])[:, 0]  # [N, 5] rgb (0..1) + uv (texels)
        rgb = attr[:, :3]
        if self._texture is not None:
            th, tw = self._tex_shape
            tx = np.clip(attr[:, 3], 0, tw - 1).astype(np.intp)  # floor = nearest texel (uv >= 0)
            ty = np.clip(attr[:, 4], 0, th - 1).astype(np.intp)
            rgb = rgb * (self._texture[ty * tw + tx] * np.float32(1.0 / 255.0))
        light = cos * np.float32(255.0 * (1.0 - self.ambient)) + np.float32(255.0 * self.ambient)  # [N]
        rgb = rgb * light[:, None] + np.float32(0.5)  # background rows are 0 -> black
        return rgb.astype(np.uint8)
