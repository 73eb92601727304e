"""The lr schedule both training loops use (moved from tests/pretrain/test_loop.py with tst.schedule)."""

import math

import pytest

from tst.schedule import lr_at


def test_warmup_then_cosine():
    kw = dict(lr=1.0, warmup=4, steps=14, min_lr=0.1)
    assert [lr_at(s, **kw) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, **kw) == pytest.approx(1.0)
    assert lr_at(9, **kw) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(14, **kw) == pytest.approx(0.1) and lr_at(100, **kw) == 0.1
    assert all(lr_at(s, **kw) >= lr_at(s + 1, **kw) for s in range(4, 14))
