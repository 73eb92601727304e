"""Word-level caption tokenizer trained locally (Hugging Face ``tokenizers``) from the training captions.

Captions of a rendered space use a small closed vocabulary, so a word-level model is enough and keeps
decoded captions readable for the evaluator; nothing is downloaded. The whole tokenizer (normaliser,
pre-tokenizer, vocabulary, special tokens) is one JSON file saved next to the head checkpoint, so
deploy decodes exactly as training encoded.

Text is NFKC-normalised and lower-cased; non-ASCII letters stay (``café`` is one word); a word not
seen in training becomes ``[UNK]``. Empty captions are skipped when training (and counted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

log = logging.getLogger(__name__)

PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[EOS]", "[UNK]"
SPECIALS = [PAD, BOS, EOS, UNK]  # ids 0, 1, 2, 3


class CaptionTokenizer:
    """Encode captions to ``[BOS] … [EOS]`` id lists and decode ids back to a plain string."""

    def __init__(self, tokenizer: Tokenizer):
        self.tok = tokenizer
        ids = [tokenizer.token_to_id(s) for s in SPECIALS]
        if ids != list(range(len(SPECIALS))):
            raise ValueError(f"tokenizer special tokens must be {SPECIALS} with ids 0..3, got {ids}")
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = ids

    @classmethod
    def train(cls, captions: Iterable[str], min_freq: int = 1) -> CaptionTokenizer:
        texts = [c for c in captions if isinstance(c, str) and c.strip()]
        if not texts:
            raise ValueError("CaptionTokenizer.train: no non-empty training captions; the caption split "
                             "needs K.caption.json members with at least one caption")
        tok = Tokenizer(WordLevel(unk_token=UNK))
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation runs
        tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces, tidies " ."
        tok.train_from_iterator(texts, WordLevelTrainer(special_tokens=SPECIALS, min_frequency=min_freq))
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """``[BOS] w1 … wn [EOS]``, truncated to ``max_len`` ids (keeping the final ``[EOS]``)."""
        ids = [self.bos_id, *self.tok.encode(text).ids, self.eos_id]
        if max_len is not None and len(ids) > max_len:
            if max_len < 2:
                raise ValueError(f"max_len must be >= 2 (BOS + EOS), got {max_len}")
            ids = ids[: max_len - 1] + [self.eos_id]
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text, stopping at the first ``[EOS]``, dropping ``[BOS]`` / ``[PAD]``."""
        out = []
        for i in (int(x) for x in ids):
            if i == self.eos_id:
                break
            if i not in (self.bos_id, self.pad_id):
                out.append(i)
        return self.tok.decode(out, skip_special_tokens=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.tok.save(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> CaptionTokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"caption tokenizer {path} does not exist (a caption transfer run "
                                    "saves tokenizer.json next to its checkpoint)")
        return cls(Tokenizer.from_file(str(path)))
