"""Progress bars with an ETA for transfer, deploy and the agent walk, drawn on a terminal only."""

import io
import sys

import pytest

from tests.transfer.synthetic import write_split
from tests.transfer.test_deploy import compose_deploy, deploy_space
from tests.transfer.test_trust import _cfg
from tst.transfer.deploy import run as deploy
from tst.transfer.run import run as transfer


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_transfer_shows_train_and_eval_progress_on_a_terminal_only(tmp_path, monkeypatch):
    split = write_split(tmp_path / "split", n=8)
    monkeypatch.setattr(sys, "stderr", tty := _Tty())
    transfer(_cfg(split, tmp_path / "tty", "steps=3"))
    assert "transfer semseg" in tty.getvalue() and "3/3" in tty.getvalue() and "transfer eval" in tty.getvalue()
    monkeypatch.setattr(sys, "stderr", pipe := io.StringIO())
    transfer(_cfg(split, tmp_path / "pipe", "steps=3"))
    assert "transfer" not in pipe.getvalue()


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return deploy_space(tmp_path_factory)


def test_deploy_and_the_agent_walk_show_progress(space, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", tty := _Tty())
    deploy(compose_deploy([space["semseg"]], space["eval"], tmp_path / "tty", "agent=true", "demo.steps=3",
                          "demo.threads=1", "overlays=1"))
    text = tty.getvalue()
    assert "deploy semseg" in text and "agent walk" in text and "3/3" in text
    monkeypatch.setattr(sys, "stderr", tty := _Tty())
    deploy(compose_deploy([space["semseg"]], space["eval"], tmp_path / "off", "overlays=1", "progress=false"))
    assert "deploy semseg" not in tty.getvalue()
