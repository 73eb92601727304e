"""Captioning task: tokenizer + transformer decoder on ViT tokens, scored with pycocoevalcap.

The protocol is ``tst.transfer.tasks.base.Task``. A sample's ``caption`` member is
``{"captions": [...]}`` (what collect writes), a list of strings or one string. Training picks one
non-empty reference per sample at random each step (teacher forcing); samples without any caption
are left out of the loss. Prediction decodes greedily or with beam search; with the test space's map,
``in_space`` decodes again under the classes the map shows in the view, then re-ranks the beam's
hypotheses by them (``caption_space``). The
tokenizer travels with the head as ``tokenizer.json``; results go to ``captions_results.json``; the
plugin returns ``out["caption"]`` (str).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tst.metrics.captioning import CaptionEvaluator
from tst.tasks import TASKS
from tst.transfer import overlay as ov
from tst.transfer.caption_model import CaptionModel
from tst.transfer.caption_space import MAP_PENALTY, name_patterns, rerank, token_bias, token_classes
from tst.transfer.tasks.base import Task, TaskSpec, at_size
from tst.transfer.tokenizer import CaptionTokenizer

DECODING = ("greedy", "beam")


def caption_texts(value: Any) -> list[str]:
    """A sample's caption member -> its list of reference strings (empty ones dropped)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        if "captions" not in value:
            raise ValueError(f"caption member has no 'captions' field: {sorted(value)}; "
                             "expected {\"captions\": [\"…\", …]}")
        value = value["captions"]
    if isinstance(value, str):
        value = [value]
    return [c for c in value if isinstance(c, str) and c.strip()]


def train_tokenizer(captions: Iterable[Any], min_freq: int = 1) -> CaptionTokenizer:
    """Build the word vocabulary from the training split's caption members."""
    return CaptionTokenizer.train((t for v in captions for t in caption_texts(v)), min_freq=min_freq)


class CaptionTask(Task):
    info = TASKS["caption"]
    collect_hint = "collect it with extras=[caption]"

    def __init__(self, tokenizer: CaptionTokenizer, max_len: int = 32, decoding: str = "greedy",
                 beam_size: int = 3, model_kwargs: Mapping | None = None, use_java: bool | None = None):
        if decoding not in DECODING:
            raise KeyError(f"unknown decoding {decoding!r}; known: {list(DECODING)}")
        self.tokenizer, self.max_len, self.decoding, self.beam_size = tokenizer, max_len, decoding, beam_size
        self.model_kwargs, self.use_java = dict(model_kwargs or {}), use_java

    @classmethod
    def from_config(cls, spec: TaskSpec) -> CaptionTask:
        t = spec.config
        tok = train_tokenizer((spec.train[i]["caption"] for i in spec.train_indices), min_freq=int(t["min_freq"]))
        return cls(tok, max_len=int(t["max_len"]), decoding=t["decoding"], beam_size=int(t["beam_size"]),
                   model_kwargs=t.get("model_kwargs"), use_java=t.get("use_java"))

    @classmethod
    def from_head_config(cls, head_config: Mapping[str, Any], run_dir: Path) -> CaptionTask:
        tok = CaptionTokenizer.load(Path(run_dir) / head_config.get("tokenizer", "tokenizer.json"))
        return cls(tok, max_len=int(head_config["max_len"]), decoding=head_config["decoding"],
                   beam_size=int(head_config["beam_size"]), model_kwargs=head_config.get("model_kwargs"))

    def build_model(self, encoder: nn.Module) -> CaptionModel:
        t = self.tokenizer
        return CaptionModel(encoder, t.vocab_size, pad_id=t.pad_id, bos_id=t.bos_id, eos_id=t.eos_id,
                            max_len=self.max_len, **self.model_kwargs)

    def loss(self, model: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        rows, seqs = [], []
        for i, v in enumerate(batch["caption"]):
            texts = caption_texts(v)
            if texts:
                pick = texts[int(torch.randint(len(texts), ()))]
                rows.append(i)
                seqs.append(torch.tensor(self.tokenizer.encode(pick, self.max_len)))
        rgb = batch["rgb"]
        if not rows:  # no caption in the whole batch: nothing to learn from it
            return {"loss": sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0}
        tokens = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=self.tokenizer.pad_id)
        return {"loss": model.loss(rgb[rows], tokens.to(rgb.device))}  # tokens [B', T]

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``{"caption": str}`` per image; beam search adds ``"candidates"``: its finished hypotheses as
        (caption, length-normalised log-prob), best first."""
        if self.decoding == "beam":
            found = model.beam_candidates(batch["rgb"], beam_size=self.beam_size)
            return [{"caption": self.tokenizer.decode(c[0][0]),
                     "candidates": [(self.tokenizer.decode(ids), score) for ids, score in c]} for c in found]
        return [{"caption": self.tokenizer.decode(s)} for s in model.greedy(batch["rgb"])]

    def in_space(self, model: nn.Module, rgb: torch.Tensor, size: int, outputs: list[dict[str, Any]],
                 labels: Sequence[np.ndarray], names: Mapping[int, str]) -> list[dict[str, Any]]:
        """Captions decoded again under the views' space labels: every word of a class the labels leave out
        costs ``MAP_PENALTY`` in the search (``caption_space.token_bias``), then the finished hypotheses are
        re-ranked by the classes they name (``caption_space.rerank``). Greedy decoding steers its one hypothesis."""
        classes = token_classes(self.tokenizer.tok.get_vocab(), names)
        bias = np.stack([token_bias(classes, self.tokenizer.vocab_size, lab, penalty=MAP_PENALTY) for lab in labels])
        found = model.beam_candidates(at_size(rgb, size), beam_size=self.beam_size if self.decoding == "beam" else 1,
                                      token_bias=torch.from_numpy(bias))  # bias [B, V]
        patterns = name_patterns(names)
        out = []
        for o, lab, cands in zip(outputs, labels, found):
            texts = [(self.tokenizer.decode(ids), score) for ids, score in cands]
            out.append({**o, "caption": rerank(texts, lab, patterns), "candidates": texts})
        return out

    def ground_truth(self, batch: Mapping[str, Any], image_ids: list[int]) -> list[dict[str, Any]]:
        return [{"image_id": i, "captions": caption_texts(v)} for i, v in zip(image_ids, batch["caption"])]

    def evaluator(self) -> CaptionEvaluator:
        return CaptionEvaluator(use_java=self.use_java)

    def head_config(self) -> dict[str, Any]:
        return {"task": self.name, "max_len": self.max_len, "decoding": self.decoding,
                "beam_size": self.beam_size, "model_kwargs": self.model_kwargs, "tokenizer": "tokenizer.json"}

    def save_artifacts(self, out_dir: str | Path) -> list[Path]:
        return [self.tokenizer.save(Path(out_dir) / "tokenizer.json")]

    def write_results(self, evaluator: CaptionEvaluator, out_dir: Path) -> Path:
        return evaluator.save_results(out_dir / "captions_results.json")

    def draw(self, ax: Any, image: np.ndarray, item: Mapping[str, Any]) -> None:
        text = item.get("caption") or "\n".join(item.get("captions", [])[:3])
        ax.text(0.0, 0.5, text, wrap=True, fontsize=8, va="center")

    def scoring_task(self, covered, keep, image_size, options, trained) -> CaptionTask:
        # the head's own task; only the scorer's Java choice is deploy's (caption_use_java)
        return CaptionTask(self.tokenizer, self.max_len, self.decoding, self.beam_size, self.model_kwargs,
                           use_java=options.get("use_java"))

    def overlay_row(self, big: np.ndarray, f: int, gt: Mapping, out: Mapping, threshold: float) -> np.ndarray:
        h, w = big.shape[:2]
        return ov.hstack([big, ov.text_panel(h, w, " / ".join(gt["captions"][:3])), ov.text_panel(h, w, out["caption"])],
                         ["rgb", "caption references", "caption prediction"])

    def plugin_output(self, o: Mapping[str, Any], score_threshold: float) -> dict[str, Any]:
        return {"caption": o["caption"]}
