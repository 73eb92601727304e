"""Camera policies: where a camera goes in a scene (random poses, an agent's walk, exploration).

They live with the scenes, not in a stage, because two stages use them: ``collect`` plans the
poses it renders, and the deploy agent demo (``tst.transfer.agent_demo``) walks with ``WalkPolicy``.
"""
