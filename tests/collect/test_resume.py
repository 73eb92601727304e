"""Resume: a killed `tst collect` re-run with the same config ends with the same content hash as an
uninterrupted run, skipping the shards already written; frames= may grow with resume=true."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.collect import compose_collect
from tst.collect.run import run
from tst.rundir import RunDirError
from tst.shards import iter_split

REPO = Path(__file__).resolve().parents[2]
TST = Path(sys.executable).parent / "tst"
# A real collection, throttled (50 ms per frame) so that the kill lands between shards 1 and 12.
SLOW = ["frames=24", "shard_size=2", "split=eval", "renderer._target_=tests.collect.SlowRenderer",
        "+renderer.delay=0.05"]


def _hash(split_dir: Path) -> str:
    return json.loads((split_dir / "manifest.json").read_text())["content_hash"]


def _cli(out: Path, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline"}
    args = [str(TST), "collect", f"hydra.searchpath=[file://{REPO}/tests/collect/configs]", "scene=box_room",
            "logger=none", "resolution=64", "progress=false", f"out={out}", *overrides]
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_killed_collection_resumes_to_the_same_content_hash(tmp_path):
    killed = tmp_path / "killed"
    proc = _cli(killed, *SLOW)
    deadline = time.monotonic() + 120
    while not list(killed.glob("shard-*.tar")):
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no shard appeared in 120 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = sorted(p.name for p in killed.glob("shard-*.tar"))
    assert 1 <= len(written) < 12 and not (killed / "manifest.json").exists()

    again = _cli(killed, *SLOW, "workers=2")  # same config; workers may differ
    log = again.communicate(timeout=300)[0].decode()
    assert again.returncode == 0, log[-3000:]
    metrics = json.loads((killed / "metrics.json").read_text())
    assert metrics["collect/frames"] == 24
    assert metrics["collect/frames_rendered"] <= 24 - 2 * len(written)  # complete shards were skipped

    clean = tmp_path / "clean"
    cfg = compose_collect(clean, *SLOW)
    cfg.renderer.delay = 0.0
    run(cfg)
    assert _hash(killed) == _hash(clean)
    assert [s["__key__"] for s in iter_split(killed)] == [f"{i:08d}" for i in range(24)]  # no duplicate, none missing
    assert not list(killed.glob(".shard-*"))


def test_same_config_rerun_skips_everything(tmp_path):
    first = run(compose_collect(tmp_path / "a", "frames=6", "shard_size=4"))
    again = run(compose_collect(tmp_path / "a", "frames=6", "shard_size=4"))
    assert again["collect/frames_rendered"] == 0 and again["content_hash"] == first["content_hash"]


def test_resume_extends_frames_to_the_hash_of_a_clean_run(tmp_path):
    run(compose_collect(tmp_path / "grow", "frames=10", "shard_size=4"))  # shard 2 holds 2 of 4 samples
    with pytest.raises(RunDirError, match="frames: 10 -> 16"):
        run(compose_collect(tmp_path / "grow", "frames=16", "shard_size=4"))  # without resume=true: refused
    grown = run(compose_collect(tmp_path / "grow", "frames=16", "shard_size=4", "resume=true"))
    assert grown["collect/frames_rendered"] == 8  # shard 2 rewritten whole, shard 3 new
    clean = run(compose_collect(tmp_path / "clean", "frames=16", "shard_size=4"))
    assert grown["content_hash"] == clean["content_hash"]

    shrunk = run(compose_collect(tmp_path / "grow", "frames=6", "shard_size=4", "resume=true"))
    assert sorted(p.name for p in (tmp_path / "grow").glob("shard-*")) == ["shard-000000.tar", "shard-000001.tar"]
    assert shrunk["collect/frames"] == 6 and shrunk["collect/frames_rendered"] == 2


def test_damaged_shard_is_rewritten_on_resume(tmp_path):
    first = run(compose_collect(tmp_path / "d", "frames=8", "shard_size=4"))
    shard = tmp_path / "d" / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[:5000])  # e.g. copied over a flaky link
    (tmp_path / "d" / ".shard-000002.tar.tmp").write_bytes(b"left by a killed run")
    again = run(compose_collect(tmp_path / "d", "frames=8", "shard_size=4"))
    assert again["collect/frames_rendered"] == 4 and again["content_hash"] == first["content_hash"]
    assert not list((tmp_path / "d").glob(".shard-*"))
