"""``tst export``: write a scene in another dataset's on-disk format.

    tst export scene=synth scene.seed=3 out=runs/apartment3            # -> a Replica scene folder
    tst collect scene=replica scene.path=runs/apartment3 ...           # read back by the Replica loader

Exporting procedural apartments to the Replica layout lets the Replica loader (and any tool that
reads Replica, habitat-sim included) run on the same scenes as the generator. The run directory
is the scene folder: ``mesh.ply``, ``habitat/mesh_semantic.ply`` and ``habitat/info_semantic.json``
next to the ``config.yaml`` / ``provenance.json`` / ``metrics.json`` every stage writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from tst.envs.loaders.replica import write_replica
from tst.envs.scene import Scene
from tst.rundir import open_run_dir

log = logging.getLogger(__name__)

# format name -> writer(scene, folder, cfg)
FORMATS: dict[str, Callable[[Scene, object, DictConfig], None]] = {
    "replica": lambda scene, path, cfg: write_replica(scene, path, object_id_type=str(cfg.get("object_id_type", "int32"))),
}


def run(cfg: DictConfig) -> dict:
    """Instantiate ``cfg.scene``, write it in ``cfg.format`` into the run directory, report sizes."""
    if cfg.format not in FORMATS:
        raise ValueError(f"export config: format={cfg.format!r} is not supported; choose one of {sorted(FORMATS)}")
    scene: Scene = instantiate(cfg.scene)
    rd = open_run_dir(cfg)
    FORMATS[cfg.format](scene, rd.path, cfg)
    used = np.unique(scene.face_class)
    metrics = rd.write_metrics({
        "export/triangles": int(len(scene.faces)),
        "export/vertices": int(len(scene.vertices)),
        "export/instances": int(scene.num_instances),
        "export/classes": int((used > 0).sum()),
    })
    log.info("exported %s as %s to %s", scene.summary(), cfg.format, rd.path)
    return metrics
