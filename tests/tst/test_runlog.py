"""log.jsonl after a resume: the steps replayed since the checkpoint are logged once, not twice."""

import json

from tst.runlog import RunLogger


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_drop_after_removes_the_replayed_tail(tmp_path):
    with RunLogger(tmp_path) as lg:
        for s in (1, 2, 3, 4):
            lg.log({"train/loss": 1.0 / s}, step=s)
        lg.log({"note": "no step"})
    with RunLogger(tmp_path) as lg:  # resumed from the step-2 checkpoint
        lg.drop_after(2)
        for s in (3, 4, 5):
            lg.log({"train/loss": 0.5 / s}, step=s)
    assert _steps(tmp_path / "log.jsonl") == [1, 2, None, 3, 4, 5]
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert rows[3]["train/loss"] == 0.5 / 3  # the new step 3, not the old one


def test_a_line_cut_short_by_a_kill_is_dropped_too(tmp_path):
    (tmp_path / "log.jsonl").write_text('{"step": 1, "a": 1}\n{"step": 2, "a"')
    with RunLogger(tmp_path) as lg:
        lg.drop_after(1)
        lg.log({"a": 2}, step=2)
    assert _steps(tmp_path / "log.jsonl") == [1, 2]
