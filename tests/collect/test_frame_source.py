"""FrameSource: how the in-process collector sets up its renderers."""

from types import SimpleNamespace

from tests.envs.fixtures import make_box_room
from tst.collect.collector import FrameSource
from tst.envs.render.open3d_renderer import Open3DRenderer


def test_renderers_shade_on_one_thread_while_png_encoding_takes_the_other_cores():
    job = SimpleNamespace(scenes=[make_box_room()])
    alone = FrameSource(job, Open3DRenderer, threads=2).renderer(0)
    assert (alone.threads, alone.shade_threads) == (2, 2)
    shared = FrameSource(job, Open3DRenderer, threads=2, encoding_in_parallel=True).renderer(0)
    assert (shared.threads, shared.shade_threads) == (2, 1)
