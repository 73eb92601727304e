"""Helpers shared by the collect tests: tiny scene factories and a config composer."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tests.envs.fixtures import make_box_room
from tst.envs.render.open3d_renderer import Open3DRenderer

BOX_SCENE = {"_target_": "tests.envs.fixtures.make_box_room"}


def seeded_room(seed: int):
    """A box room whose size depends on ``seed``: a stand-in for a generator of other spaces."""
    return make_box_room(width=3.5 + 0.25 * (seed % 4), depth=3.0, scene_id=f"room{seed}")


class SlowRenderer(Open3DRenderer):
    """The real renderer, throttled so that a test can kill a collection in the middle."""

    def __init__(self, scene, threads: int = 0, delay: float = 0.0, **kwargs):
        super().__init__(scene, threads=threads, **kwargs)
        self.delay = delay

    def render(self, *args, **kwargs):
        time.sleep(self.delay)
        return super().render(*args, **kwargs)


def compose_collect(out: Path, *overrides: str, **values):
    """configs/collect.yaml composed with Hydra overrides, then plain ``values`` set on top.

    Defaults for tests: the box room, 64x64, logger none, no progress bar.
    """
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from tst.cli import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("collect", overrides=["logger=none", "resolution=64", "progress=false", f"out={out}",
                                            *overrides])
    OmegaConf.set_struct(cfg, False)
    cfg.scene = dict(BOX_SCENE)
    for k, v in values.items():
        OmegaConf.update(cfg, k, v, merge=False)
    return cfg


def relabelled_room(scene_id: str = "relabelled"):
    """The box room with its classes listed in another order (table = 1, …, floor = 4) plus an unused
    class: a scene whose class ids mean something else than the box room's."""
    scene = make_box_room(scene_id=scene_id)
    names = ["unlabelled", "table", "wall", "ceiling", "floor", "lamp"]
    old_to_new = np.array([names.index(n) for n in scene.class_names])
    scene.instance_class = old_to_new[scene.instance_class].astype(np.int32)
    scene.class_names = names
    return scene.validate()
