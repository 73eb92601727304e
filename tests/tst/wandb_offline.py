"""Read what an offline wandb run wrote (``<run dir>/wandb/offline-run-*/``) without uploading it.

The ``.wandb`` file is a LevelDB-log-format stream (7-byte file header, 32 KiB blocks, 7-byte record
headers) of ``wandb_internal_pb2.Record`` protobufs; wandb >= 0.19 no longer ships a Python reader."""

from __future__ import annotations

import json
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK, HEADER = 32768, 7


def _records(path: Path) -> list[bytes]:
    data, pos, part, out = path.read_bytes(), HEADER, b"", []
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # block trailer padding
            pos += BLOCK - pos % BLOCK
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        part += data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 4):  # FULL or LAST
            out.append(part)
            part = b""
    return out


def _parsed(path: Path, timeout: float) -> list[pb.Record]:
    """The run's records once its ``exit`` record is on disk: ``run.finish()`` returns before
    wandb's service process has flushed the file."""
    deadline = time.monotonic() + timeout
    while True:
        recs = []
        for raw in _records(path) if path.is_file() else []:
            recs.append(pb.Record())
            recs[-1].ParseFromString(raw)
        if any(r.WhichOneof("record_type") == "exit" for r in recs) or time.monotonic() > deadline:
            return recs
        time.sleep(0.1)


def offline_run(run_dir: str | Path, timeout: float = 30.0) -> dict:
    """{"history": [{key: value}], "summary": {key: value}, "config": {...}, "images": [png paths]};
    nested values come flattened, e.g. an image under ``k`` as ``k/_type``, ``k/width``…"""
    runs = sorted(Path(run_dir).glob("wandb/offline-run-*"))
    assert len(runs) == 1, f"expected one offline wandb run under {run_dir}, found {runs}"
    out: dict = {"history": [], "summary": {}, "config": {}}
    records = _parsed(next(runs[0].glob("run-*.wandb")), timeout)
    out["images"] = sorted(runs[0].glob("files/media/images/**/*.png"))  # media are written before the exit record
    for rec in records:
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            out["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            out["summary"].update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.summary.update})
        elif kind in ("config", "run"):
            items = rec.config.update if kind == "config" else rec.run.config.update
            out["config"].update({i.key: json.loads(i.value_json) for i in items})
    return out
