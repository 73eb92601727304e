"""Derived members: edges (old two-argument call) and captions (need the scene)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.collect.test_captions import frame, scene_with_chairs
from tst.collect.members import extra_members
from tst.shards import decode_member, encode_member


def test_edges_with_the_old_signature():
    f = frame()
    out = extra_members(f, ["edges"])
    assert list(out) == ["edges"] and out["edges"].dtype == np.uint8
    assert set(np.unique(out["edges"])) <= {0, 255} and out["edges"][31:33].any()  # wall/floor boundary


def test_caption_member_encodes_as_json():
    f = frame()
    out = extra_members(f, ["edges", "caption"], scene=scene_with_chairs(), rng=np.random.default_rng(0))
    caps = out["caption"]["captions"]
    assert len(caps) == 5 and len(set(caps)) >= 3 and any("table" in c for c in caps)
    suffix, data = encode_member("caption", out["caption"])
    assert suffix == "caption.json" and decode_member(suffix, data) == {"captions": caps}
    assert json.loads(data)["captions"][0] == caps[0]
    again = extra_members(f, ["caption"], scene=scene_with_chairs(), rng=np.random.default_rng(0))
    assert again["caption"]["captions"] == caps


def test_caption_fails_clearly():
    with pytest.raises(ValueError, match="needs the scene"):
        extra_members(frame(), ["caption"])
    f = frame()
    del f["instance"]
    with pytest.raises(ValueError, match="instance"):
        extra_members(f, ["caption"], scene=scene_with_chairs())
    with pytest.raises(KeyError, match="caption"):
        extra_members(frame(), ["sam"])
