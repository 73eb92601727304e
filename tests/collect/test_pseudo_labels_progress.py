"""`tst collect augment` shows progress with an ETA on a terminal, and checks its source split's manifest."""

import io
import json
import sys

import pytest

from tests.collect.test_coco import make_labelled_split
from tests.collect.test_pseudo_labels import TIMM, cfg
from tst.collect.manifest import shard_hashes
from tst.collect.pseudo_labels import run
from tst.shards import ShardError


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_and_a_lost_source_shard_refused(tmp_path, monkeypatch):
    split = make_labelled_split(tmp_path / "src", n=5, captions=True, shard_size=3)
    monkeypatch.setattr(sys, "stderr", tty := _Tty())
    run(cfg(split, tmp_path / "out", TIMM))
    assert "augment feat" in tty.getvalue() and "5/5" in tty.getvalue()
    manifest = json.loads((split / "manifest.json").read_text())
    manifest["content_hash"], manifest["shards"] = shard_hashes(split)
    (split / "manifest.json").write_text(json.dumps(manifest))
    (split / "shard-000001.tar").unlink()
    with pytest.raises(ShardError, match=r"shard-000001\.tar is missing"):
        run(cfg(split, tmp_path / "out2", TIMM))
