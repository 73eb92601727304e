"""tst.pair_published: a grid published in parts pairs as one sweep's rows do."""

import numpy as np
import pytest

from tst.aggregate import write_tables
from tst.pair_published import main, read_rows, table
from tst.paired import paired_gain


def _rows():
    rng = np.random.default_rng(1)
    rows = []
    for scene in (3, 4, 5):
        for seed in (0, 1):
            base = 20.0 + 5.0 * scene + rng.normal(0, 1)
            for init, gain in (("tst", 3.0), ("other", 1.0), ("scratch", 0.0)):
                rows.append({"scene": scene, "init": init, "objective": "multimae" if init != "scratch" else "none",
                             "task": "det", "seed": seed, "status": "ok",
                             "det/AP50": base + gain + rng.normal(0, 0.3), "det/AP": base / 2})
    return rows


def test_parts_pair_like_the_whole_grid(tmp_path, capsys):
    rows = _rows()
    a, b = tmp_path / "a", tmp_path / "b"
    write_tables([r for r in rows if r["init"] != "scratch"], a)  # the first session: tst and other
    write_tables([r for r in rows if r["init"] == "scratch"], b)  # a later one: scratch
    got = read_rows([a / "jobs.csv", b / "jobs.csv"])
    assert len(got) == len(rows)
    for base in ("scratch", "other"):
        whole, parts = paired_gain(rows, "tst", base, "det/AP50"), paired_gain(got, "tst", base, "det/AP50")
        assert parts.n == whole.n == 6
        assert (parts.mean, parts.lo, parts.hi) == pytest.approx((whole.mean, whole.lo, whole.hi), abs=1e-6)
    assert paired_gain(got, "tst", "scratch", "det/AP50").significant  # +3 over noise of 0.3
    text = table(got, ["det/AP50", "det/AP"])
    lines = text.splitlines()
    assert lines[0] == "| tst − | det/AP50 | det/AP |" and len(lines) == 4
    assert paired_gain(rows, "tst", "scratch", "det/AP50").mean == pytest.approx(3.0, abs=0.5)
    assert lines[3] == "| scratch | " + " | ".join(paired_gain(rows, "tst", "scratch", m).text() + " (n=6)"
                                                   for m in ("det/AP50", "det/AP")) + " |"
    assert main([str(a / "jobs.csv"), str(b / "jobs.csv"), "--metrics", "det/AP50,det/AP"]) == 0
    assert capsys.readouterr().out == text


def test_a_cell_published_twice_or_a_wrong_file_is_refused(tmp_path):
    rows = _rows()
    a, b = tmp_path / "a", tmp_path / "b"
    write_tables(rows, a)
    write_tables(rows[:3], b)
    with pytest.raises(ValueError, match="is in both"):
        read_rows([a / "jobs.csv", b / "jobs.csv"])
    (tmp_path / "x.csv").write_text("scene,init\n3,tst\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        read_rows([tmp_path / "x.csv"])
    with pytest.raises(FileNotFoundError, match="published sweep"):
        read_rows([tmp_path / "none.csv"])
    with pytest.raises(ValueError, match="no 'tst' rows"):
        table([r for r in read_rows([a / "jobs.csv"]) if r["init"] != "tst"], ["det/AP50"])
