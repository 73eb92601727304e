"""Progress bars with an ETA on a terminal, nothing on a pipe or in a log file."""

import io
import sys

from tst.progress import bar, say


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_bar_with_eta_on_a_terminal_and_none_on_a_pipe(monkeypatch, capsys):
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    for _ in bar(range(4), desc="pretrain", unit="step"):
        pass
    assert "pretrain" in tty.getvalue() and "4/4" in tty.getvalue() and "<00:00" in tty.getvalue()  # elapsed<ETA
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    for _ in bar(range(4), desc="pretrain"):
        say("a log line")
    assert pipe.getvalue() == ""
    assert capsys.readouterr().out == "a log line\n" * 4
    monkeypatch.setattr(sys, "stderr", tty := _Tty())
    for _ in bar(range(4), desc="off", enabled=False):
        pass
    assert tty.getvalue() == ""
