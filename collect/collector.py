"""The collector engine: planned poses in, complete shards out — in-process or in N worker processes.

Every pose is planned up front in the main process, so sample ``i`` always has the same pose and
key, and shard ``k`` always holds samples ``[k*S, (k+1)*S)``. A shard is the unit of work: a
worker renders and writes a whole shard through ``ShardWriter`` (atomic rename when complete), so

- any number of workers writes byte-identical shards (each shard depends only on its poses);
- an interrupted collection loses at most the shards in progress, and a re-run skips every shard
  already on disk with the expected keys, ending with the same bytes as an uninterrupted run;
- memory stays flat: frames stream from the renderer through the encoder to the tar file.

Within a worker, PNG encoding of frame ``i`` runs in a small thread pool while frame ``i + 1`` is
ray cast (OpenCV and Embree release the GIL), which is where most of the end-to-end speed comes from.
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import numpy as np

from tst.collect.camera import Camera
from tst.collect.members import extra_members
from tst.envs.camera import Intrinsics
from tst.envs.scene import Scene
from tst.modalities import get_modality
from tst.shards import SHARD_PATTERN, ShardError, ShardWriter, encode_sample, index_shard

RendererFactory = Callable[..., Any]  # called as make_renderer(scene=scene, threads=n) -> Renderer
WORKER_PRELOAD = ("tst.collect.collector", "tst.envs.render.open3d_renderer")  # imported once by the forkserver


class CollectError(RuntimeError):
    """The collection cannot go on; the message says what happened, what is kept and what to do."""


def sample_key(index: int) -> str:
    return f"{index:08d}"


@dataclass
class CollectJob:
    """Everything a worker needs to render and write any shard of a split (picklable)."""

    split_dir: Path
    split: str
    scenes: list[Scene]
    poses: np.ndarray  # [N, 4, 4] float64 cam_to_world, OpenCV axes
    scene_index: np.ndarray  # [N] int, which scene each pose belongs to
    intrinsics: Intrinsics
    modalities: tuple[str, ...]  # rendered modalities written, e.g. ("rgb", "depth", "normal")
    extras: tuple[str, ...] = ()  # derived members (tst.collect.members), e.g. ("edges",)
    class_lookup: list[np.ndarray] = field(default_factory=list)  # per scene [C] local -> split class id
    shard_size: int = 256
    rgb_format: str = "png"
    seed: int = 0
    camera: Camera = field(default_factory=Camera)  # the sensor the rgb is seen through (collect/camera.py)

    @property
    def num_frames(self) -> int:
        return len(self.poses)

    @property
    def num_shards(self) -> int:
        return (self.num_frames + self.shard_size - 1) // self.shard_size

    def shard_range(self, k: int) -> range:
        return range(k * self.shard_size, min((k + 1) * self.shard_size, self.num_frames))

    def member_suffixes(self) -> list[str]:
        """Member suffixes of every sample, in the order they are written."""
        names = [*self.modalities, *self.extras, "meta"]  # each entry of the modality table owns its suffix
        return [get_modality(m).suffix(self.rgb_format) for m in names]


# ---------------------------------------------------------------------------------------- resume
def shard_is_complete(job: CollectJob, k: int) -> bool:
    """Whether shard ``k`` exists on disk holding exactly the members its samples should have."""
    path = job.split_dir / SHARD_PATTERN.format(k)
    if not path.exists():
        return False
    try:  # the shared tar index: headers only, and a shard cut short is not complete
        names = [f"{key}.{suffix}" for key, members in index_shard(path) for suffix in members]
    except ShardError:
        return False
    want = [f"{sample_key(i)}.{s}" for i in job.shard_range(k) for s in job.member_suffixes()]
    return names == want


def pending_shards(job: CollectJob) -> list[int]:
    """Shards still to write; also removes leftovers of an interrupted run (temporary files) and shards
    beyond the current frame count (a resume with a smaller ``frames=``)."""
    for tmp in job.split_dir.glob(".shard-*.tar.tmp"):
        tmp.unlink()
    for path in job.split_dir.glob("shard-*.tar"):
        try:
            k = int(path.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if k >= job.num_shards:
            path.unlink()
    return [k for k in range(job.num_shards) if not shard_is_complete(job, k)]


# ---------------------------------------------------------------------------------------- frames
class FrameSource:
    """Renders sample ``i`` of a job into its members (one renderer per scene, built once)."""

    def __init__(self, job: CollectJob, make_renderer: RendererFactory, threads: int,
                 encoding_in_parallel: bool = False) -> None:
        self.job, self.make_renderer, self.threads = job, make_renderer, threads
        self.encoding_in_parallel = encoding_in_parallel
        self._renderers: dict[int, Any] = {}

    def renderer(self, s: int) -> Any:
        if s not in self._renderers:
            r = self.make_renderer(scene=self.job.scenes[s], threads=self.threads)
            if self.encoding_in_parallel and hasattr(r, "shade_threads"):
                # the encoder threads take the other cores while this one shades: shading alone, no
                # waiting on a shading thread they crowd out (bench collect: 0.61-0.64 vs 0.54-0.61)
                r.shade_threads = 1
            self._renderers[s] = r
        return self._renderers[s]

    def frame(self, i: int) -> dict[str, Any]:
        """The sample dict {modality: array, "meta": dict} of sample ``i``, not yet encoded."""
        job = self.job
        s = int(job.scene_index[i])
        scene, pose = job.scenes[s], job.poses[i]
        frame = self.renderer(s).render(job.intrinsics, pose, modalities=job.modalities)
        if "semseg" in frame and job.class_lookup:
            frame["semseg"] = job.class_lookup[s][frame["semseg"]]  # [H, W] uint16 split class ids
        sample = {m: frame[m] for m in job.modalities}
        if job.extras:
            frame["cam_to_world"] = pose
            rng = np.random.default_rng([job.seed, i])
            sample.update(extra_members(frame, list(job.extras), scene=scene, rng=rng))
        if "rgb" in sample and not job.camera.identity:  # after the labels and derived members: the scene as it is
            sample["rgb"] = job.camera.apply(sample["rgb"], np.random.default_rng([job.seed, i, 1]))
        sample["meta"] = {"intrinsics": job.intrinsics.to_dict(), "cam_to_world": pose.tolist(),
                          "scene_id": scene.scene_id, "split": job.split, "index": i}
        return sample

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()


def write_shard(source: FrameSource, k: int, encoder: ThreadPoolExecutor | None, depth: int = 4,
                on_frame: Callable[[], None] | None = None) -> int:
    """Render, encode and write shard ``k``; returns the number of samples written.

    With an ``encoder`` pool, up to ``depth`` frames are being encoded while the next is cast.
    """
    job = source.job

    def encode(sample: dict[str, Any]) -> dict[str, bytes]:
        return encode_sample(sample, rgb_format=job.rgb_format)

    indices = job.shard_range(k)
    try:
        with ShardWriter(job.split_dir, shard_size=len(indices), first_shard=k) as writer:
            pending: deque[tuple[int, Future | dict[str, bytes]]] = deque()  # in sample order

            def drain(keep: int) -> None:
                while len(pending) > keep:
                    j, enc = pending.popleft()
                    writer.write(sample_key(j), enc.result() if isinstance(enc, Future) else enc)
                    if on_frame:
                        on_frame()

            for i in indices:
                sample = source.frame(i)
                pending.append((i, encoder.submit(encode, sample) if encoder else encode(sample)))
                drain(depth if encoder else 0)
            drain(0)
    except OSError as e:
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        raise CollectError(
            f"cannot write shard {SHARD_PATTERN.format(k)} in {job.split_dir}: {e.strerror or e}. "
            f"{'The disk is full: free space or choose' if full else 'Choose'} a writable out=<dir> with free "
            f"space; the shards already written are kept and a re-run with the same config resumes.") from e
    return len(indices)


# ---------------------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}
_BARRIER_TIMEOUT_S = 600.0


def _init_worker(job: CollectJob, make_renderer: RendererFactory, encode_threads: int, barrier: Any) -> None:
    """Build this worker's renderers once (1 render thread each) and render one frame per scene, so
    one-time costs (acceleration structure, JIT caches) are paid before the first shard; then wait
    for the other workers, so that a pool that is ``warm()`` has every process ready."""
    source = FrameSource(job, make_renderer, threads=1)
    for s in range(len(job.scenes)):
        first = int(np.flatnonzero(job.scene_index == s)[0]) if (job.scene_index == s).any() else None
        if first is not None:
            source.renderer(s).render(job.intrinsics, job.poses[first], modalities=job.modalities)
    _WORKER["source"] = source
    _WORKER["encoder"] = ThreadPoolExecutor(encode_threads) if encode_threads > 0 else None
    barrier.wait(_BARRIER_TIMEOUT_S)


_ONE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _pool_context() -> mp.context.BaseContext:
    """forkserver where available: the server imports open3d & co. once (seconds) and every worker
    forks from it, instead of each spawned worker importing them again; a fork of this process could
    inherit Embree/TBB thread pools in a broken state, so plain fork is never used.

    The server starts with BLAS/OpenMP limited to one thread: workers render with one thread by
    design, and N workers x all-core BLAS pools oversubscribe the cores (measured here: a single
    worker went from ~30 to ~46 frames/s at 256x256 with one BLAS thread)."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))
    saved = {k: os.environ.get(k) for k in _ONE_THREAD_ENV}
    os.environ.update({k: "1" for k in _ONE_THREAD_ENV})
    try:
        forkserver.ensure_running()  # no-op when this process already started its server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ctx


def _worker_shard(k: int) -> tuple[int, int]:
    return k, write_shard(_WORKER["source"], k, _WORKER["encoder"])


def _ready(_: int) -> bool:
    return "source" in _WORKER


class WorkerPool:
    """``workers`` processes that each render and write whole shards of one job."""

    def __init__(self, job: CollectJob, make_renderer: RendererFactory, workers: int, encode_threads: int = 0):
        ctx = _pool_context()
        self.workers = max(1, int(workers))
        self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(job, make_renderer, encode_threads, ctx.Barrier(self.workers)))

    def warm(self) -> None:
        """Start every process and return once all have built their renderers (benchmarks time after this)."""
        assert all(self._pool.map(_ready, range(self.workers)))

    def run(self, shards: Sequence[int], progress: Callable[[int], None] | None = None) -> int:
        """Write ``shards``; returns frames written. Needs at least ``workers`` shards or a ``warm()``
        pool (each worker waits in its start-up for the others)."""
        done = 0
        futures = {self._pool.submit(_worker_shard, k) for k in shards}
        try:
            while futures:
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                for f in finished:
                    _, n = f.result()  # re-raises a worker's CollectError / render error here
                    done += n
                    if progress:
                        progress(n)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return done

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def collect(job: CollectJob, make_renderer: RendererFactory, shards: Sequence[int], workers: int = 1,
            render_threads: int = 0, encode_threads: int = 2, in_process: bool | None = None,
            progress: Callable[[int], None] | None = None) -> int:
    """Write ``shards`` of ``job``; returns the number of frames written.

    In process (the default for ``workers <= 1``) renders here with ``render_threads`` (0 = all
    cores); otherwise ``min(workers, len(shards))`` worker processes each build their renderers once
    with one render thread and take whole shards. ``encode_threads`` (0 = inline) PNG-encode while
    the next frame is cast. ``progress(n)`` is called as frames are written (per frame in process,
    per shard from workers).
    """
    job.split_dir.mkdir(parents=True, exist_ok=True)
    shards = list(shards)
    if not shards:
        return 0
    if in_process is None:
        in_process = workers <= 1
    if not in_process:
        with WorkerPool(job, make_renderer, min(workers, len(shards)), encode_threads) as pool:
            return pool.run(shards, progress)
    done = 0
    source = FrameSource(job, make_renderer, render_threads, encoding_in_parallel=encode_threads > 0)
    encoder = ThreadPoolExecutor(encode_threads) if encode_threads > 0 else None
    try:
        for k in shards:
            done += write_shard(source, k, encoder, on_frame=(lambda: progress(1)) if progress else None)
    finally:
        source.close()
        if encoder:
            encoder.shutdown()
    return done
