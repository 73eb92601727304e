"""tst.publish: a finished analysis copied into the docs with the command, git hash and date beside it."""

import json

import pytest
import yaml

from tst.publish import main, publish


def test_publish_copies_the_report_and_records_how_it_was_made(tmp_path):
    src = tmp_path / "sweep"
    src.mkdir()
    (src / "report.md").write_text("# gain\n")
    (src / "gain.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (src / "results.csv").write_text("init\n")
    (src / "huge.pt").write_bytes(b"x")  # never copied
    (src / "provenance.json").write_text(json.dumps({"git": "abc123", "time": "2026-11-30T17:00:00Z"}))
    (src / "config.yaml").write_text(yaml.safe_dump({"grid": {"scenes": [3, 4]}}))
    (src / "sweep.json").write_text(json.dumps({"jobs": [{"status": "ok"}, {"status": "done"}, {"status": "failed"}]}))
    dest = publish(src, tmp_path / "docs" / "gain", "tst sweep experiment=analysis_gain")
    assert sorted(p.name for p in dest.iterdir()) == ["RUN.md", "gain.png", "report.md", "results.csv"]
    run = (dest / "RUN.md").read_text()
    assert "`tst sweep experiment=analysis_gain`" in run and "`abc123`" in run and "2 of 3" in run
    assert '"scenes": [3, 4]' in run and "2026-11-30T17:00:00Z" in run


def test_publish_refuses_a_sweep_without_a_report(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no report.md"):
        publish(tmp_path, tmp_path / "out", "x")
    assert main([]) == 2
