"""tst: test-space training.

The stage folders of the repository install as sub-packages of this one: ``tst.envs``,
``tst.collect``, ``tst.pretrain``, ``tst.transfer`` (see pyproject.toml).
"""

__version__ = "0.1.0"
