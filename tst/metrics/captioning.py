"""Captioning evaluator: pycocoevalcap's BLEU-1..4, METEOR, ROUGE-L and CIDEr behind the detectron2 interface.

The scores must be the ones papers report, so the scorers are pycocoevalcap's own, on its own scale
(BLEU/METEOR/ROUGE-L in 0–1, CIDEr roughly 0–10). Two of its parts run Java: the Stanford PTB
tokenizer and METEOR. Without a ``java`` executable we still report BLEU, ROUGE-L and CIDEr, on text
tokenised by a small Python stand-in (lower-case words, punctuation dropped, as the PTB step does),
and leave ``caption/METEOR`` out, with a warning saying exactly that.

Bad input is handled explicitly: an image without any non-empty reference caption cannot be scored,
so it is left out and listed in a warning (all of them missing is an error); an empty predicted caption is scored as the empty string (it earns zero) and
counted in a warning; non-ASCII text is kept (both Java tools read UTF-8), with newlines and the
METEOR field separator ``|||`` removed because they would break the line protocols.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

METRIC_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
JAVA_KEYS = ("METEOR",)  # keys that need a Java runtime


def java_available() -> bool:
    return shutil.which("java") is not None


def clean_caption(text: Any) -> str:
    """Unicode-normalise, drop newlines / ``|||`` and collapse whitespace; non-ASCII letters stay."""
    if not isinstance(text, str):
        raise TypeError(f"a caption must be a string, got {type(text).__name__}: {text!r}")
    text = unicodedata.normalize("NFKC", text).replace("|||", " ")
    return " ".join(text.split())


_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def simple_tokenize(text: str) -> str:
    """Python stand-in for the PTB tokenizer: lower-case words, punctuation removed."""
    return " ".join(_WORD.findall(text.lower()))


class CaptionEvaluator:
    """``inputs[i]`` has ``image_id`` and ``captions`` (reference strings); ``outputs[i]["caption"]``
    is the predicted string. ``use_java=None`` detects Java; ``False`` forces the Python fallback."""

    def __init__(self, prefix: str = "caption", use_java: bool | None = None):
        self.prefix = prefix
        self.use_java = java_available() if use_java is None else bool(use_java)
        if self.use_java and not java_available():
            raise RuntimeError("CaptionEvaluator(use_java=True) but no `java` on PATH; install a JRE "
                               "(e.g. openjdk-17-jre-headless) or pass use_java=None")
        self.reset()

    def reset(self) -> None:
        self.references: dict[int, list[str]] = {}
        self.predictions: dict[int, str] = {}
        self.skipped: list[int] = []  # images without any non-empty reference caption

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> None:
        if len(inputs) != len(outputs):
            raise ValueError(f"process: {len(inputs)} inputs but {len(outputs)} outputs")
        for inp, out in zip(inputs, outputs):
            image_id = int(inp["image_id"])
            refs = [clean_caption(c) for c in inp["captions"]]
            refs = [r for r in refs if r]
            if not refs:  # nothing to score against: leave the image out, and say so in evaluate()
                self.skipped.append(image_id)
                continue
            self.references[image_id] = refs
            self.predictions[image_id] = clean_caption(out["caption"])

    def results(self) -> list[dict]:
        """The standard caption results list ``[{image_id, caption}]``."""
        return [{"image_id": i, "caption": c} for i, c in sorted(self.predictions.items())]

    def save_results(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.results(), ensure_ascii=False), encoding="utf-8")
        return path

    def _tokenize(self, captions: dict[int, list[str]]) -> dict[int, list[str]]:
        """image id -> tokenised captions; empty captions stay empty (the PTB jar may drop their lines)."""
        if not self.use_java:
            return {k: [simple_tokenize(c) for c in v] for k, v in captions.items()}
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        keyed = {(k, j): [{"caption": c}] for k, v in captions.items() for j, c in enumerate(v) if c}
        out: dict[int, list[str]] = {k: [""] * len(v) for k, v in captions.items()}
        if keyed:
            index = {n: key for n, key in enumerate(keyed)}
            tok = PTBTokenizer().tokenize({n: keyed[key] for n, key in index.items()})
            for n, (k, j) in index.items():
                out[k][j] = tok[n][0]
        return out

    def evaluate(self) -> dict[str, float]:
        if self.skipped:
            log.warning("caption: %d images have no non-empty reference caption and are left out of the "
                        "scores (image ids %s)", len(self.skipped), self.skipped[:10])
        if not self.predictions:
            raise ValueError("CaptionEvaluator.evaluate: no image with a reference caption was processed")
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge

        n_empty = sum(1 for c in self.predictions.values() if not c)
        if n_empty:
            log.warning("caption: %d of %d predicted captions are empty; they are scored as empty strings",
                        n_empty, len(self.predictions))
        ids = sorted(self.predictions)
        gts = self._tokenize({i: self.references[i] for i in ids})
        res = self._tokenize({i: [self.predictions[i]] for i in ids})
        p = self.prefix
        scores: dict[str, float] = {}
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        for n, v in enumerate(bleu, start=1):
            scores[f"{p}/BLEU-{n}"] = float(v)
        if self.use_java:
            from pycocoevalcap.meteor.meteor import Meteor

            meteor = Meteor()
            scores[f"{p}/METEOR"] = float(meteor.compute_score(gts, res)[0])
            del meteor  # stops the Java process now rather than at interpreter exit
        else:
            why = "use_java=False" if java_available() else "no `java` on PATH"
            log.warning("caption: %s, so %s is skipped (left out of the metrics) and captions are tokenised "
                        "by a Python stand-in instead of the Stanford PTB tokenizer",
                        why, ", ".join(f"{p}/{k}" for k in JAVA_KEYS))
        scores[f"{p}/ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
        scores[f"{p}/CIDEr"] = float(Cider().compute_score(gts, res)[0])
        return scores
