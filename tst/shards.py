"""Shard I/O for the split-directory contract (ARCHITECTURE.md).

A split directory holds WebDataset-compatible ``shard-NNNNNN.tar`` files and a ``manifest.json``.
Sample ``K`` has members ``K.<modality>.<ext>`` (``K.rgb.png``, ``K.depth.png``, ``K.meta.json``…);
how each modality is encoded comes from ``tst.modalities.MODALITIES``. Shards are written under a
temporary name and renamed when complete, so a directory never holds half a shard.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np

from tst.modalities import MODALITIES
from tst.png import decode_png, encode_png

SHARD_PATTERN = "shard-{:06d}.tar"
_SHARD_RE = re.compile(r"^shard-(\d{6})\.tar$")


class ShardError(RuntimeError):
    """A shard or member cannot be read; the message names the shard and the member."""


# ---------------------------------------------------------------------------------------- encode
def _jpg(img: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_member(modality: str, value: Any, rgb_format: str = "png") -> tuple[str, bytes]:
    """(member suffix, bytes) for one modality of a sample, e.g. ("depth.png", b"...").

    A table modality with an encoder (depth, normal), or an image already in a PNG dtype, is stored
    as its entry says (``Modality.encode`` then PNG, or JPEG where the entry allows it and
    ``rgb_format`` asks); dicts and lists become JSON, other arrays ``.npy``."""
    m = MODALITIES.get(modality)
    png_ready = isinstance(value, np.ndarray) and value.dtype in (np.uint8, np.uint16) and value.ndim in (2, 3)
    if m is not None and m.stored is not None and (m.encode is not None or png_ready):
        suffix = m.suffix(rgb_format)
        arr = m.encode(value) if m.encode is not None else value
        return suffix, (_jpg(arr) if suffix.endswith(".jpg") else encode_png(arr))
    if m is not None and m.ships_stored and m.encode is None:  # e.g. a float rgb: the loader expects m.stored
        raise ValueError(f"modality {modality!r} is stored as {m.stored} [H, W(, C)]; got "
                         f"{getattr(value, 'dtype', type(value).__name__)} {getattr(value, 'shape', '')}")
    if isinstance(value, (dict, list)):
        return f"{modality}.json", json.dumps(value, separators=(",", ":")).encode()
    if png_ready:
        return f"{modality}.png", encode_png(value)
    if isinstance(value, np.ndarray):
        bio = io.BytesIO()
        np.save(bio, value, allow_pickle=False)
        return f"{modality}.npy", bio.getvalue()
    raise TypeError(f"cannot encode modality {modality!r} of type {type(value).__name__}")


def encode_sample(sample: dict[str, Any], rgb_format: str = "png") -> dict[str, bytes]:
    """{modality: array|dict} -> {member suffix: bytes}."""
    return dict(encode_member(m, v, rgb_format) for m, v in sample.items())


# ---------------------------------------------------------------------------------------- decode
def decode_member(suffix: str, data: bytes, stored: bool = False) -> Any:
    """Inverse of encode_member: the table entry's ``decode`` (depth -> float32 metres, normal ->
    float32 [-1, 1]); labels stay uint16, rgb uint8.

    ``stored=True`` stops at the array as stored (uint16 millimetres, uint8 ``(n+1)/2*255``): what
    the loader crops and resizes before it converts only the pixels it keeps to float.
    """
    modality, _, ext = suffix.rpartition(".")
    if ext == "json":
        return json.loads(data)
    if ext == "npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if ext in ("png", "jpg", "jpeg"):
        if ext == "png":
            img = decode_png(data)  # RGB(A) order
        else:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise ValueError("not a decodable image")
            if img.ndim == 3 and img.shape[2] == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        m = MODALITIES.get(modality)
        if stored or m is None or m.decode is None:
            return img
        return m.decode(img)
    return data


# ---------------------------------------------------------------------------------------- write
class ShardWriter:
    """Write samples into ``shard-NNNNNN.tar`` files of ``shard_size`` samples each.

    A shard becomes visible (renamed from its temporary name) only once it is complete and closed,
    so an interruption loses at most the shard in progress, which a resumed run writes again.
    """

    def __init__(self, split_dir: str | Path, shard_size: int, first_shard: int = 0) -> None:
        self.dir = Path(split_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shard_size = int(shard_size)
        self.index = first_shard
        self._tar: tarfile.TarFile | None = None
        self._tmp: Path | None = None
        self._count = 0
        self.written: list[Path] = []

    def _open(self) -> None:
        final = self.dir / SHARD_PATTERN.format(self.index)
        self._tmp = final.with_name(f".{final.name}.tmp")
        self._tar = tarfile.open(self._tmp, "w", format=tarfile.USTAR_FORMAT)
        self._count = 0

    def write(self, key: str, members: dict[str, bytes]) -> None:
        """Add one sample; ``members`` maps suffix ("rgb.png") to bytes (see encode_sample)."""
        if "." in key:
            raise ValueError(f"sample key {key!r} must not contain '.' (WebDataset splits keys at the first dot)")
        if self._tar is None:
            self._open()
        for suffix, data in members.items():
            info = tarfile.TarInfo(f"{key}.{suffix}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644  # mtime 0: same content -> same bytes
            self._tar.addfile(info, io.BytesIO(data))
        self._count += 1
        if self._count >= self.shard_size:
            self.close_shard()

    def close_shard(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        with open(self._tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        final = self.dir / SHARD_PATTERN.format(self.index)
        os.replace(self._tmp, final)
        self.written.append(final)
        self._tar, self._tmp = None, None
        self.index += 1

    def close(self) -> None:
        self.close_shard()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is None:
            self.close()
        elif self._tar is not None:  # interrupted: drop the partial shard
            self._tar.close()
            self._tmp.unlink(missing_ok=True)
            self._tar = None


# ---------------------------------------------------------------------------------------- read
def list_shards(split_dir: str | Path) -> list[Path]:
    """Complete shards of a split directory in order; fails naming the directory if there are none."""
    d = Path(split_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"split directory {d} does not exist (expected shard-NNNNNN.tar files "
                                f"and manifest.json, as written by `tst collect … out={d}`)")
    shards = sorted(p for p in d.iterdir() if _SHARD_RE.match(p.name))
    if not shards:
        raise FileNotFoundError(f"{d} holds no shard-NNNNNN.tar files; is it a split directory "
                                f"written by `tst collect`?")
    return shards


def read_manifest(split_dir: str | Path) -> dict:
    f = Path(split_dir) / "manifest.json"
    if not f.exists():
        raise FileNotFoundError(f"{f} is missing: every split directory has a manifest.json written by tst collect")
    return json.loads(f.read_text())


HASH_LIMIT = 64 * 2**20  # splits up to this size are also checked byte for byte (sha256) against the manifest
_HASHED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, so re-opening a split is free


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHED:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        _HASHED[key] = h.hexdigest()
    return _HASHED[key]


def check_manifest(split_dir: str | Path, shards: list[Path], on_error: str = "raise") -> dict | None:
    """Compare the shards on disk with the ``shards`` list of ``manifest.json`` (names and sizes; sha256
    too when the split is under ``HASH_LIMIT``). A mismatch means a shard was deleted, cut short or
    replaced after collection; reading on would silently train on other data, so it is refused (or
    warned about with ``on_error="warn"``). Returns the manifest (None without one: hand-made dirs)."""
    split_dir = Path(split_dir)
    f = split_dir / "manifest.json"
    if not f.is_file():
        return None
    manifest = json.loads(f.read_text())
    listed = manifest.get("shards")
    if not isinstance(listed, list):  # older or hand-written manifests carry no shard list
        return manifest
    want = {e["name"]: e for e in listed}
    have = {p.name: p for p in shards}
    problems = []
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing:
        problems.append(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    if extra:
        problems.append(f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not in the manifest")
    both = sorted(set(want) & set(have))
    sizes = {n: have[n].stat().st_size for n in both}
    problems += [f"{n} has {sizes[n]} bytes, the manifest says {want[n]['bytes']}" for n in both
                 if "bytes" in want[n] and sizes[n] != want[n]["bytes"]]
    if not problems and sum(sizes.values()) <= HASH_LIMIT:
        problems += [f"{n} has other content (sha256 differs from the manifest's)" for n in both
                     if "sha256" in want[n] and _sha256(have[n]) != want[n]["sha256"]]
    if problems:
        msg = (f"{split_dir} does not match its manifest.json: {'; '.join(problems)}. A shard was deleted, cut short "
               f"or replaced after collection; re-run the tst collect command that wrote it (with resume=true it "
               f"rewrites missing shards; delete a damaged one first), or copy the split again")
        if on_error == "raise":
            raise ShardError(msg)
        warnings.warn(msg + " — reading what is there", stacklevel=3)
    return manifest


SampleMembers = tuple[str, dict[str, tuple[int, int]]]  # (key, {member suffix: (byte offset, size)})


def index_shard(path: str | Path, on_error: str = "raise") -> list[SampleMembers]:
    """The byte range of every member of a shard, grouped by sample, from the tar headers alone (no
    member data is read): the one tar index, behind random access (``ShardDataset``) and stored-order
    reads (``iter_shard``).

    ``on_error="raise"`` fails naming the shard and the member where it breaks; ``"warn"`` keeps the
    samples before it (dropping the one it broke in, which may lack members) with a warning.
    """
    path = Path(path)
    entries: list[SampleMembers] = []
    member = "<header>"
    try:
        size = path.stat().st_size
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                member = info.name
                if not info.isfile():
                    continue
                if info.offset_data + info.size > size:
                    raise tarfile.ReadError("member data runs past the end of the file")
                key, _, suffix = info.name.partition(".")
                if not entries or entries[-1][0] != key:
                    entries.append((key, {}))
                entries[-1][1][suffix] = (info.offset_data, info.size)
            member = "<end of archive>"
            # tarfile stops quietly at a header boundary; a complete shard ends with two zero blocks.
            if size < tar.offset + 2 * tarfile.BLOCKSIZE:
                raise tarfile.ReadError("the end-of-archive marker is missing (file cut short)")
    except (tarfile.TarError, OSError, EOFError) as e:
        msg = f"shard {path} is corrupted or truncated at member {member}: {e}"
        if on_error == "raise":
            raise ShardError(msg) from e
        warnings.warn(msg + " — skipping the unreadable rest of this shard", stacklevel=3)
        entries = entries[:-1]
    return entries


def read_members(fh: BinaryIO, path: Path, key: str, members: dict[str, tuple[int, int]],
                 wanted: Callable[[str], bool] = lambda modality: True,
                 decode: bool = True, stored: bool = False) -> dict[str, Any]:
    """One sample ``{"__key__": key, modality: value}`` from its index entry, reading only the
    ``wanted`` modalities (one seek each); fails naming the shard and the member."""
    sample: dict[str, Any] = {"__key__": key}
    for suffix, (offset, size) in members.items():
        modality = suffix.rpartition(".")[0]
        if not wanted(modality):
            continue
        fh.seek(offset)
        data = fh.read(size)
        try:
            if len(data) != size:
                raise ValueError("member is cut short")
            sample[modality] = decode_member(suffix, data, stored=stored) if decode else data
        except Exception as e:
            raise ShardError(f"shard {path}: member {key}.{suffix} cannot be decoded ({e})") from e
    return sample


def iter_shard(path: str | Path, decode: bool = True, on_error: str = "raise") -> Iterator[dict[str, Any]]:
    """Yield samples ``{"__key__": K, "<modality>": value, …}`` of one shard in stored order.

    ``on_error="raise"`` fails naming the shard and the member; ``"warn"`` skips the rest of a
    corrupted shard (or a bad sample) with a warning.
    """
    path = Path(path)
    entries = index_shard(path, on_error)
    try:
        with open(path, "rb") as fh:
            for key, members in entries:
                yield read_members(fh, path, key, members, decode=decode)
    except OSError as e:
        if on_error != "warn":
            raise ShardError(f"shard {path} cannot be read: {e}") from e
        warnings.warn(f"shard {path} cannot be read: {e} — skipping the rest of this shard", stacklevel=2)
    except ShardError as e:
        if on_error != "warn":
            raise
        warnings.warn(f"{e} — skipping the rest of this shard", stacklevel=2)


def iter_split(split_dir: str | Path, decode: bool = True, on_error: str = "raise") -> Iterator[dict[str, Any]]:
    for shard in list_shards(split_dir):
        yield from iter_shard(shard, decode=decode, on_error=on_error)
