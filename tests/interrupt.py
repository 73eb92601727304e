"""A stage run killed right after it logged a given step (the checkpoint is older): for resume tests."""

import pytest


def run_killed_after_logging(monkeypatch, run_module, run_stage, die_at: int = 3) -> None:
    """Call ``run_stage()`` with ``run_module.make_logger`` patched to raise KeyboardInterrupt once step
    ``die_at`` is logged (as a kill between a log line and the next checkpoint would leave the run)."""
    real = run_module.make_logger

    def dies_after_step(*a, **kw):
        lg = real(*a, **kw)
        log = lg.log

        def log_then_die(values, step=None):
            log(values, step=step)
            if step == die_at:
                raise KeyboardInterrupt
        lg.log = log_then_die
        return lg

    monkeypatch.setattr(run_module, "make_logger", dies_after_step)
    with pytest.raises(KeyboardInterrupt):
        run_stage()
    monkeypatch.setattr(run_module, "make_logger", real)
