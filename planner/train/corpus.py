"""Training text: the Python standard library's own source (always present, offline) or a user's file.

A corpus is a list of documents plus a manifest hash over their names and contents, so a run can say
exactly what it trained on. The held-out split is chosen per chunk (~8 KB of whole lines) by a hash of
the document name and chunk index: stable across machines, independent of file order, and close to the
asked-for share of bytes even when one document is huge.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sysconfig
from pathlib import Path

from pydantic import BaseModel, Field

from planner.core.settings import data_dir
from planner.errors import PlannerError

STDLIB = "stdlib"
CHUNK_CHARS = 8192
SKIP_DIRS = {"site-packages", "test", "tests", "idlelib", "__pycache__"}  # tests are huge and repetitive


class CorpusSpec(BaseModel):
    """Where the text comes from and how much of it to use."""

    source: str = Field(default=STDLIB, description="'stdlib', or a path to a .txt or .jsonl file")
    max_bytes: int | None = Field(default=None, gt=0, description="use only this much text (a fixed slice)")
    heldout_fraction: float = Field(default=0.05, gt=0, lt=0.5, description="share of documents held out")
    text_field: str = Field(default="text", description="the field holding the text in a JSON-lines file")


class Corpus(BaseModel):
    spec: CorpusSpec
    names: list[str]
    texts: list[str] = Field(repr=False)
    manifest_sha256: str
    bytes: int

    def split(self) -> tuple[list[str], list[str]]:
        """(train, held-out) chunks of the documents."""
        chunks = [(_unit_hash(f"{name}#{i}"), chunk) for name, text in zip(self.names, self.texts)
                  for i, chunk in enumerate(_chunks(text))]
        cut = max(self.spec.heldout_fraction, min(h for h, _ in chunks))  # a small corpus still holds one out
        train = [c for h, c in chunks if h > cut]
        heldout = [c for h, c in chunks if h <= cut]
        if not train:
            raise PlannerError("the corpus is too small to hold out documents for evaluation; "
                               "give it more documents or raise heldout_fraction")
        return train, heldout


def _chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    out, current, length = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        length += len(line)
        if length >= size:
            out.append("".join(current))
            current, length = [], 0
    if current:
        out.append("".join(current))
    return out


def _unit_hash(name: str) -> float:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


@functools.cache  # the library does not change while we run; walking it costs ~0.3-0.8 s per Verify-page rerun
def stdlib_files() -> tuple[tuple[str, Path], ...]:
    """(relative name, path) of the standard library's .py files, tests excluded, in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(root).parts)]
    # Order by a hash of the name, so a `max_bytes` slice samples the whole library, not just `a*`.
    return tuple(sorted(((str(p.relative_to(root)), p) for p in files), key=lambda item: _unit_hash(item[0])))


def _read_documents(spec: CorpusSpec) -> list[tuple[str, str]]:
    if spec.source == STDLIB:
        return [(name, path.read_text(encoding="utf-8", errors="replace")) for name, path in stdlib_files()]
    path = Path(spec.source).expanduser()
    if not path.is_file():
        raise PlannerError(f"corpus file {path} not found; give a .txt or .jsonl file, or 'stdlib'")
    if path.suffix in (".jsonl", ".json"):
        lines = _jsonl_texts(path.name, path.read_text(encoding="utf-8"), spec.text_field)
        return [(f"{path.name}#{i}", text) for i, text in lines]
    text = path.read_text(encoding="utf-8", errors="replace")
    docs = [d for d in text.split("\n\n\n") if d.strip()]  # blank-line-separated documents, if any
    return [(f"{path.name}#{i}", d) for i, d in enumerate(docs)]


def _jsonl_texts(name: str, text: str, field: str) -> list[tuple[int, str]]:
    """(line index, text) of every non-blank line of a JSON-lines corpus; the one reading of the format,
    for a corpus file and an upload alike. A line that is not an object with a string `field` is an error."""
    docs = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError; deep nesting recurses
            raise PlannerError(f"{name} line {i + 1} is not JSON ({getattr(err, 'msg', type(err).__name__)}); "
                               f"each line must be an object like {{\"{field}\": \"...\"}}") from None
        if not isinstance(row, dict) or not isinstance(row.get(field), str):
            raise PlannerError(f"{name} line {i + 1} has no string field {field!r}; each line must be an object "
                               f"like {{\"{field}\": \"...\"}}")
        docs.append((i, row[field]))
    return docs


def estimated_bytes(spec: CorpusSpec) -> int:
    """Size of the text a spec selects, without reading it (for the ladder's repeated-data warning)."""
    if spec.source == STDLIB:
        total = sum(path.stat().st_size for _, path in stdlib_files())
    else:
        path = Path(spec.source).expanduser()
        total = path.stat().st_size if path.is_file() else _PENDING_SIZES.get(str(path), 0)
    return min(total, spec.max_bytes) if spec.max_bytes else total


# ---- uploads ------------------------------------------------------------------------------------
# One way to keep an uploaded corpus (Verify and Adapt pages, CLI): checked as text, then stored under a
# content-addressed name in the state directory's uploads/ folder. The name is chosen by us, never the
# user, and ends in .txt/.jsonl, so it can never be mistaken for a checkpoint (those are checkpoint.pt
# files in a finished run's folder, loaded with weights_only=True).
UPLOAD_SUFFIXES = (".txt", ".jsonl")
# The one upload limit (100 MB): Streamlit's server.maxUploadSize and planner.fitting.files.MAX_UPLOAD_MB
# (not imported: that would load the whole fitting package here); tests/test_security.py keeps them equal.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# Leading bytes of files that are not text: pickle protocols 2-5, zip (torch.save's format), gzip, ELF.
BINARY_MAGIC = {b"\x80\x02": "a pickle", b"\x80\x03": "a pickle", b"\x80\x04": "a pickle",
                b"\x80\x05": "a pickle", b"PK\x03\x04": "a zip archive (e.g. a torch checkpoint)",
                b"\x1f\x8b": "a gzip archive", b"\x7fELF": "a program"}
_PENDING_SIZES: dict[str, int] = {}  # checked, not yet saved uploads: their size, for design-time estimates


class CorpusUpload(BaseModel):
    """An uploaded corpus that passed the checks: where it is (or will be) kept, and what it holds."""

    name: str = Field(description="the file name the user gave (shown, never used as a path)")
    path: Path = Field(description="uploads/<sha256 of the text><suffix> under the state directory")
    sha256: str
    bytes: int


def upload_folder() -> Path:
    return data_dir() / "uploads"


def _as_text(name: str, data: bytes) -> str:
    """The upload as text, or a PlannerError saying why it is not text."""
    for magic, what in BINARY_MAGIC.items():
        if data.startswith(magic):
            raise PlannerError(f"{name} looks like {what}, not text: upload a UTF-8 .txt or .jsonl corpus")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its byte-order mark: keep it, as UTF-8
        return data.decode("utf-16")
    if b"\0" in data:
        raise PlannerError(f"{name} holds NUL bytes, so it is binary, not text: upload a UTF-8 .txt or .jsonl corpus")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise PlannerError(f"{name} is not UTF-8 text (byte {err.start}): save it as UTF-8 and upload again") from None


def check_upload(name: str, data: bytes) -> CorpusUpload:
    """Check an uploaded corpus without writing anything (a refused launch leaves no file behind)."""
    return _checked(name, data)[0]


def _checked(name: str, data: bytes) -> tuple[CorpusUpload, bytes]:
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise PlannerError(f"a corpus must be a .txt or .jsonl file (got {Path(name).name!r})")
    if len(data) > MAX_UPLOAD_BYTES:
        raise PlannerError(f"{Path(name).name} is {len(data) / 2**20:.0f} MB, over the "
                           f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB upload limit")
    text = _as_text(Path(name).name, data)
    if not text.strip():
        raise PlannerError(f"{Path(name).name} holds no text")
    if suffix == ".jsonl":
        _jsonl_texts(Path(name).name, text, "text")
    encoded = text.encode("utf-8")
    digest = hashlib.sha256(encoded).hexdigest()
    upload = CorpusUpload(name=Path(name).name, path=upload_folder() / f"{digest}{suffix}", sha256=digest,
                          bytes=len(encoded))
    _PENDING_SIZES[str(upload.path)] = upload.bytes
    while len(_PENDING_SIZES) > 64:  # a long-lived server sees many uploads: keep only the latest
        _PENDING_SIZES.pop(next(iter(_PENDING_SIZES)))
    return upload, encoded


def save_upload(name: str, data: bytes) -> Path:
    """Check an uploaded corpus and keep it (once: same text, same file); returns its path.
    Call it only once a launch has passed its own checks."""
    upload, encoded = _checked(name, data)
    if not upload.path.is_file():
        tmp = upload.path.with_suffix(upload.path.suffix + f".{os.getpid()}.part")
        try:
            upload.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(encoded)
            tmp.replace(upload.path)  # a reader never sees half a file
        except OSError as err:
            with contextlib.suppress(OSError):  # a partial file must not stay; the error below matters more
                tmp.unlink(missing_ok=True)
            raise PlannerError(f"cannot keep the uploaded corpus in {upload.path.parent}: {err.strerror or err}; "
                               "free space or fix the permissions of the state directory") from None
    _PENDING_SIZES.pop(str(upload.path), None)
    return upload.path


def load_corpus(spec: CorpusSpec | None = None) -> Corpus:
    spec = spec or CorpusSpec()
    docs, used, total = [], hashlib.sha256(), 0
    for name, text in _read_documents(spec):
        if spec.max_bytes is not None and total >= spec.max_bytes:
            break
        if spec.max_bytes is not None:  # cut in bytes (the unit of the limit), never inside a character
            text = text.encode("utf-8")[: spec.max_bytes - total].decode("utf-8", errors="ignore")
        size = len(text.encode("utf-8"))
        docs.append((name, text))
        used.update(name.encode() + b"\0" + hashlib.sha256(text.encode("utf-8")).digest())
        total += size
    if total == 0:
        raise PlannerError(f"corpus {spec.source!r} holds no text")
    return Corpus(spec=spec, names=[n for n, _ in docs], texts=[t for _, t in docs],
                  manifest_sha256=used.hexdigest(), bytes=total)
