"""CaptionTokenizer: trained locally, round trips through its JSON file, handles bad captions."""

import pytest

from tst.transfer.tokenizer import CaptionTokenizer

CAPTIONS = ["A red chair on the left.", "a blue table", "", "   ", "un café près de la fenêtre"]


def test_encode_decode_round_trip_and_save_load(tmp_path):
    tok = CaptionTokenizer.train(CAPTIONS)
    ids = tok.encode("a red chair on the left")
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id and tok.unk_id not in ids
    assert tok.decode(ids) == "a red chair on the left"
    assert tok.decode(tok.encode("Un CAFÉ")) == "un café"  # NFKC + lower-case, non-ASCII kept
    assert tok.decode(tok.encode("a purple chair")) == "a [UNK] chair"
    loaded = CaptionTokenizer.load(tok.save(tmp_path / "tokenizer.json"))
    assert loaded.vocab_size == tok.vocab_size
    assert loaded.encode("a blue table on the left") == tok.encode("a blue table on the left")


def test_decode_stops_at_eos_and_truncation_keeps_eos():
    tok = CaptionTokenizer.train(CAPTIONS)
    ids = tok.encode("a red chair on the left", max_len=4)
    assert len(ids) == 4 and ids[-1] == tok.eos_id and tok.decode(ids) == "a red"
    assert tok.decode([tok.bos_id, *tok.encode("a blue table")[1:], *tok.encode("red")[1:]]) == "a blue table"


def test_empty_training_set_and_missing_file_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="no non-empty training captions"):
        CaptionTokenizer.train(["", "  "])
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        CaptionTokenizer.load(tmp_path / "tokenizer.json")
