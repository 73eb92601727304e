"""Tiny labelled sets in the ``tst.dataset.collate`` batch layout, and a tiny encoder, for transfer tests.

Each 64x64 image is a grey floor (class 1) with one or two coloured rectangles: red chairs (class 2)
and blue tables (class 3), each its own instance, and captions that name what is visible.
"""

import torch
from timm.models.vision_transformer import VisionTransformer

VOCAB = {1: "floor", 2: "chair", 3: "table"}
COLOURS = {1: (0.5, 0.5, 0.5), 2: (0.9, 0.1, 0.1), 3: (0.1, 0.2, 0.9)}
WORDS = {2: "red chair", 3: "blue table"}


def tiny_encoder(patch_size: int = 8, seed: int = 0) -> VisionTransformer:
    torch.manual_seed(seed)
    return VisionTransformer(img_size=64, patch_size=patch_size, embed_dim=48, depth=2, num_heads=2)


def make_batch(n: int = 4, size: int = 64, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    rgb = torch.zeros(n, 3, size, size)
    semseg = torch.ones(n, size, size, dtype=torch.long)
    instance = torch.zeros(n, size, size, dtype=torch.long)
    captions = []
    for i in range(n):
        classes = [2, 3] if i % 3 == 2 else [2 + i % 2]
        for k, c in enumerate(classes):
            w, h = (int(torch.randint(14, 26, (), generator=g)) for _ in range(2))
            x0 = int(torch.randint(0, size - w, (), generator=g)) if len(classes) == 1 else k * 32 + 2
            y0 = int(torch.randint(0, size - h, (), generator=g))
            semseg[i, y0:y0 + h, x0:x0 + w] = c
            instance[i, y0:y0 + h, x0:x0 + w] = k + 1
        side = "left" if (semseg[i, :, :32] > 1).sum() >= (semseg[i, :, 32:] > 1).sum() else "right"
        text = " and a ".join(WORDS[c] for c in classes)
        captions.append({"captions": [f"a {text} on the {side}", f"there is a {text}"]})
        rgb[i] = torch.tensor([COLOURS[int(c)] for c in semseg[i].flatten()]).T.reshape(3, size, size)
    rgb = (rgb + 0.03 * torch.randn(rgb.shape, generator=g)).clamp(0, 1)
    depth = torch.tensor([0.0, 3.0, 1.5, 2.0])[semseg][:, None].clone()  # [n, 1, H, W] metres by class
    depth[:, :, :4, :4] = 0.0  # a corner with no hit (ignored by the depth loss and metrics)
    return {"rgb": rgb, "semseg": semseg, "instance": instance, "caption": captions, "depth": depth,
            "__key__": [f"{i:06d}" for i in range(n)]}


def overfit(task, model: torch.nn.Module, batch: dict, steps: int, lr: float) -> list[float]:
    """Plain AdamW steps on one batch; returns the loss curve."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = task.loss(model, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def evaluate(task, model: torch.nn.Module, batch: dict) -> dict:
    ev = task.evaluator()
    ids = list(range(len(batch["rgb"])))
    ev.process(task.ground_truth(batch, ids), task.predict(model, batch))
    return ev.evaluate()


def write_split(split_dir, n: int = 8, seed: int = 0, classes: dict | None = None):
    """``make_batch`` written as a real split directory (shards + manifest.json with ``classes``)."""
    import json
    from pathlib import Path

    import numpy as np

    from tst.shards import ShardWriter, encode_sample

    b = make_batch(n, seed=seed)
    with ShardWriter(split_dir, shard_size=4) as w:
        for i in range(n):
            sample = {"rgb": (b["rgb"][i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8),
                      "semseg": b["semseg"][i].numpy().astype(np.uint16),
                      "instance": b["instance"][i].numpy().astype(np.uint16),
                      "depth": b["depth"][i, 0].numpy(),
                      "caption": b["caption"][i]}
            w.write(f"{i:06d}", encode_sample(sample))
    classes = classes or {0: "unlabelled", **VOCAB}
    manifest = {"split": "external", "classes": {str(k): v for k, v in classes.items()}, "counts": {"external": n}}
    (Path(split_dir) / "manifest.json").write_text(json.dumps(manifest))
    return Path(split_dir)
