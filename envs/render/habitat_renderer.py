"""Optional habitat-sim backend (``renderer=habitat``) behind the same interface as the default renderer.

habitat-sim renders on a GPU with OpenGL and is not installable from PyPI everywhere, so it is
imported lazily in ``HabitatRenderer.__init__``; ``renderer=open3d`` (the default) needs nothing.

How the scene reaches habitat: every instance (and the unlabelled faces, as id 0) is exported with
trimesh to its own glb, in habitat's frame, un-indexed so each triangle keeps its flat normal, with
vertex colours. Each glb becomes a rigid-object template (no centre-of-mass recentring) placed at
the origin of an empty ("NONE") stage with ``semantic_id`` = instance id, so habitat's SEMANTIC
sensor returns our instance ids and ``instance_class`` turns them into class ids.

Frames (the pure functions below are what the tests pin):
- world: ours is z-up, habitat's is y-up; ``ZUP_TO_YUP`` maps (x, y, z) -> (x, z, -y), a proper
  rotation, so windings (outward normals) survive;
- camera: ours is OpenCV (x right, y down, z forward), habitat's is OpenGL (x right, y up, looking
  down -z): ``CV_TO_GL`` = diag(1, -1, -1) on the camera axes.
habitat has no normal sensor: normals come from back-projected depth (``normals_from_depth``), taking
at each pixel the one-sided difference that does not cross a depth edge. Textures are not exported
(vertex colours only), and habitat cameras need square pixels and a centred principal point.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from tst.envs.camera import Intrinsics
from tst.envs.render.base import RENDER_MODALITIES, Renderer, check_cam_to_world, check_modalities
from tst.envs.scene import Scene

ZUP_TO_YUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # ours -> habitat world
CV_TO_GL = np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes <-> OpenGL camera axes (self-inverse)
INSTALL_HELP = ("renderer=habitat needs habitat-sim, which has no PyPI wheel for this platform: install it "
                "with conda (conda install habitat-sim headless -c conda-forge -c aihabitat) or build it "
                "from source (github.com/facebookresearch/habitat-sim). renderer=open3d is the default and "
                "needs nothing else")


def to_habitat_pose(cam_to_world: np.ndarray) -> np.ndarray:
    """Our cam_to_world (z-up world, OpenCV camera) -> habitat's (y-up world, OpenGL camera), 4x4."""
    T = np.eye(4)
    T[:3, :3] = ZUP_TO_YUP @ cam_to_world[:3, :3] @ CV_TO_GL
    T[:3, 3] = ZUP_TO_YUP @ cam_to_world[:3, 3]
    return T


def from_habitat_pose(T_habitat: np.ndarray) -> np.ndarray:
    """Inverse of ``to_habitat_pose``."""
    T = np.eye(4)
    T[:3, :3] = ZUP_TO_YUP.T @ T_habitat[:3, :3] @ CV_TO_GL
    T[:3, 3] = ZUP_TO_YUP.T @ T_habitat[:3, 3]
    return T


def quat_coeffs(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion as habitat's ``quat_from_coeffs`` takes it: (x, y, z, w), w >= 0."""
    return Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat(canonical=True)


def hfov_deg(intrinsics: Intrinsics) -> float:
    """habitat's pinhole camera is (resolution, hfov) only: square pixels, principal point centred."""
    k = intrinsics
    if abs(k.fx - k.fy) > 1e-6 * k.fx or abs(k.cx - k.width / 2) > 1e-6 or abs(k.cy - k.height / 2) > 1e-6:
        raise ValueError(f"renderer=habitat supports square pixels (fx == fy) and a centred principal point "
                         f"(cx = width/2, cy = height/2), got {k.to_dict()}; use Intrinsics.from_fov or "
                         f"renderer=open3d")
    return float(np.rad2deg(2.0 * np.arctan(0.5 * k.width / k.fx)))


def normals_from_depth(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """[H, W] z-depth -> [H, W, 3] float32 unit camera-frame (OpenCV) normals facing the camera.

    Per axis, the one-sided difference (backward or forward) with the smaller depth jump is used, so
    pixels next to a silhouette take their normal from their own surface. Zero where depth is 0.
    """
    d = np.asarray(depth, dtype=np.float32)
    P = intrinsics.pixel_rays() * d[..., None]  # [H, W, 3] camera-frame points
    valid = d > 0

    def tangent(axis: int) -> np.ndarray:  # [H, W, 3] d P / d pixel along axis (1 = u, 0 = v)
        n = d.shape[axis]
        diff = np.diff(P, axis=axis)  # P[i + 1] - P[i], one shorter along axis
        ok = np.take(valid, np.arange(1, n), axis) & np.take(valid, np.arange(n - 1), axis)
        jump = np.where(ok, np.abs(diff[..., 2]), np.inf)

        def pad(a: np.ndarray, fill: float, front: bool) -> np.ndarray:
            width = [(0, 0)] * a.ndim
            width[axis] = (1, 0) if front else (0, 1)
            return np.pad(a, width, constant_values=fill)

        use_fwd = pad(jump, np.inf, front=False) <= pad(jump, np.inf, front=True)
        return np.where(use_fwd[..., None], pad(diff, 0.0, front=False), pad(diff, 0.0, front=True))

    n = np.cross(tangent(1), tangent(0))  # [H, W, 3]
    n *= np.where((n * P).sum(-1, keepdims=True) > 0, -1.0, 1.0)  # face the camera
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    good = valid[..., None] & (norm > 0)
    return np.where(good, n / np.where(norm > 0, norm, 1.0), 0.0).astype(np.float32)


def labels_from_semantic(semantic: np.ndarray, instance_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """habitat SEMANTIC ids (our instance ids) -> (instance uint16, semseg uint16); unknown ids -> 0."""
    ids = np.asarray(semantic).astype(np.int64)
    ids = np.where((ids >= 0) & (ids < len(instance_class)), ids, 0)
    return ids.astype(np.uint16), np.asarray(instance_class)[ids].astype(np.uint16)


def export_instance_meshes(scene: Scene, folder: Path) -> list[tuple[int, Path]]:
    """One glb per instance id present (0 included), in habitat's y-up frame, flat-shaded, coloured."""
    import trimesh

    colors = scene.vertex_colors if scene.vertex_colors is not None else np.full((len(scene.vertices), 3), 200, np.uint8)
    out = []
    for inst in np.unique(scene.face_instance):
        f = scene.faces[scene.face_instance == inst]  # [n, 3]
        v = scene.vertices[f].reshape(-1, 3).astype(np.float64) @ ZUP_TO_YUP.T  # un-indexed: [3n, 3]
        tri = np.arange(len(v)).reshape(-1, 3)
        fn = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
        fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-12)
        rgba = np.concatenate([colors[f].reshape(-1, 3), np.full((len(v), 1), 255, np.uint8)], axis=1)
        mesh = trimesh.Trimesh(vertices=v, faces=tri, vertex_normals=np.repeat(fn, 3, axis=0),
                               vertex_colors=rgba, process=False)
        path = Path(folder) / f"instance_{int(inst):05d}.glb"
        mesh.export(path, file_type="glb", include_normals=True)
        out.append((int(inst), path))
    return out


class HabitatRenderer(Renderer):
    """habitat-sim rendering of a ``Scene``: rgb, depth, semseg, instance from sensors; normals from depth."""

    name = "habitat"

    def __init__(self, scene: Scene, gpu_device_id: int = 0, threads: int = 0):
        """``threads`` is accepted for interface parity with the CPU renderer (the collector passes it)
        and unused: habitat renders on the GPU ``gpu_device_id``."""
        try:
            import habitat_sim
        except ImportError as e:
            raise ImportError(INSTALL_HELP) from e
        self._hs = habitat_sim
        self.scene = scene.validate()
        self.gpu_device_id = int(gpu_device_id)
        self._tmp = tempfile.TemporaryDirectory(prefix="tst-habitat-")
        self._assets = export_instance_meshes(scene, Path(self._tmp.name))
        self._sim, self._sim_key = None, None

    def _simulator(self, intrinsics: Intrinsics):
        """A simulator whose sensors match (width, height, hfov); rebuilt only when those change."""
        key = (intrinsics.width, intrinsics.height, round(hfov_deg(intrinsics), 6))
        if self._sim is not None and self._sim_key == key:
            return self._sim
        self._close_sim()
        import magnum as mn

        hs = self._hs
        backend = hs.SimulatorConfiguration()
        backend.scene_id = "NONE"
        backend.gpu_device_id = self.gpu_device_id
        backend.enable_physics = False
        specs = []
        for uuid, kind in (("rgb", hs.SensorType.COLOR), ("depth", hs.SensorType.DEPTH),
                           ("semantic", hs.SensorType.SEMANTIC)):
            spec = hs.CameraSensorSpec()
            spec.uuid, spec.sensor_type = uuid, kind
            spec.sensor_subtype = hs.SensorSubType.PINHOLE
            spec.resolution = [intrinsics.height, intrinsics.width]
            spec.hfov = mn.Deg(key[2])
            spec.position = [0.0, 0.0, 0.0]  # the sensor sits at the agent origin: agent pose = camera pose
            specs.append(spec)
        agent = hs.agent.AgentConfiguration()
        agent.sensor_specifications = specs
        sim = hs.Simulator(hs.Configuration(backend, [agent]))
        templates, objects = sim.get_object_template_manager(), sim.get_rigid_object_manager()
        for inst, path in self._assets:
            handle = f"tst_instance_{inst}"
            tmpl = templates.create_new_template(handle)
            tmpl.render_asset_handle = str(path)
            tmpl.compute_COM_from_shape = False  # keep the exported world coordinates as they are
            tmpl.com = mn.Vector3(0.0, 0.0, 0.0)
            templates.register_template(tmpl, specified_handle=handle)
            obj = objects.add_object_by_template_handle(handle)
            obj.motion_type = hs.physics.MotionType.STATIC
            obj.semantic_id = inst
        self._sim, self._sim_key = sim, key
        return sim

    def render(self, intrinsics: Intrinsics, cam_to_world: np.ndarray,
               modalities: Sequence[str] = RENDER_MODALITIES) -> dict[str, np.ndarray]:
        mods = check_modalities(modalities)
        T = to_habitat_pose(check_cam_to_world(cam_to_world))
        sim = self._simulator(intrinsics)
        from habitat_sim.utils.common import quat_from_coeffs

        state = self._hs.AgentState()
        state.position = T[:3, 3].astype(np.float32)
        state.rotation = quat_from_coeffs(quat_coeffs(T[:3, :3]))
        sim.get_agent(0).set_state(state)
        obs = sim.get_sensor_observations()
        depth = np.asarray(obs["depth"], dtype=np.float32)
        valid = depth > 0
        out: dict[str, np.ndarray] = {"valid": valid}
        if "rgb" in mods:
            out["rgb"] = np.where(valid[..., None], np.asarray(obs["rgb"])[..., :3], 0).astype(np.uint8)
        if "depth" in mods:
            out["depth"] = depth
        if "normal" in mods:
            out["normal"] = normals_from_depth(depth, intrinsics)
        if "semseg" in mods or "instance" in mods:
            instance, semseg = labels_from_semantic(obs["semantic"], self.scene.instance_class)
            instance[~valid], semseg[~valid] = 0, 0
            out.update({k: a for k, a in (("semseg", semseg), ("instance", instance)) if k in mods})
        return out

    def _close_sim(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim, self._sim_key = None, None

    def close(self) -> None:
        self._close_sim()
        self._tmp.cleanup()
