"""Corpus listing and the manifest: a deterministic, numbered list of images cut into shards.

The manifest is written once per output directory and reused on every rerun, so shard membership never
changes under a resumed run even if files were added to the corpus meanwhile.
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")

MANIFEST_SCHEMA = pa.schema(
    [
        ("idx", pa.int64()),  # position in the corpus order; rows of a shard are written in this order
        ("image_id", pa.string()),  # relative POSIX path: stable across machines and storage backends
        ("shard", pa.int32()),
        ("kind", pa.string()),  # what the listing saw: file | directory | other (links, sockets, ...)
    ]
)


class SourceError(Exception):
    """A problem with one listed entry, recorded as that row's status."""

    def __init__(self, status: str, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


@dataclass(frozen=True)
class Corpus:
    url: str
    fs: Any  # fsspec filesystem
    root: str  # protocol-stripped root path on `fs`

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)


def _protocols(fs: Any) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def open_corpus(url: str, storage_options: dict | None = None) -> Corpus:
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    root = root.rstrip("/") or "/"
    if not fs.exists(root):
        raise FileNotFoundError(f"corpus not found: {url}")
    return Corpus(url=url, fs=fs, root=root)


def list_images(corpus: Corpus) -> list[tuple[str, str]]:
    """(relative path, kind) of every entry with an image extension, sorted by path.

    Directories and broken links with an image name are listed too: they become rows with a status instead
    of vanishing, so a user can see why `x.jpg` has no face.
    """
    found = corpus.fs.find(corpus.root, withdirs=True, detail=True)
    out = []
    prefix = corpus.root.rstrip("/") + "/"
    for path, info in found.items():
        if not path.lower().endswith(IMAGE_EXTENSIONS) or not path.startswith(prefix):
            continue
        out.append((path[len(prefix) :], str(info.get("type", "file"))))
    out.sort()
    return out


def build_manifest(corpus: Corpus, shard_size: int, limit: int | None = None) -> pa.Table:
    entries = list_images(corpus)
    if limit:
        entries = entries[:limit]
    n = len(entries)
    return pa.table(
        {
            "idx": pa.array(range(n), pa.int64()),
            "image_id": pa.array([e[0] for e in entries], pa.string()),
            "shard": pa.array([i // shard_size for i in range(n)], pa.int32()),
            "kind": pa.array([e[1] for e in entries], pa.string()),
        },
        schema=MANIFEST_SCHEMA,
    )


def load_or_create_manifest(corpus: Corpus, out_fs: Any, out_root: str, shard_size: int, limit: int | None) -> pa.Table:
    """Reuse OUT/manifest.parquet when it was made for the same corpus, shard size and limit."""
    path = posixpath.join(out_root, "manifest.parquet")
    # The same folder named two ways (relative, absolute, through a link) is the same corpus.
    ident = os.path.realpath(corpus.root) if corpus.is_local else corpus.url
    params = {"corpus": ident, "shard_size": shard_size, "limit": limit or 0}
    if out_fs.exists(path):
        with out_fs.open(path, "rb") as fh:
            table = pq.read_table(fh)
        meta = json.loads((table.schema.metadata or {}).get(b"mgmtn.manifest", b"{}"))
        if meta != params:
            raise ValueError(
                f"{out_root} holds a run with different settings {meta}; this run asks for {params}. "
                "Use another --out, or delete the old output to start over."
            )
        return table
    table = build_manifest(corpus, shard_size, limit)
    table = table.replace_schema_metadata({"mgmtn.manifest": json.dumps(params, sort_keys=True)})
    out_fs.makedirs(out_root, exist_ok=True)
    tmp = posixpath.join(out_root, f".manifest.parquet.tmp-{os.getpid()}")
    with out_fs.open(tmp, "wb") as fh:
        pq.write_table(table, fh)
    out_fs.mv(tmp, path)
    return table


def resolve(corpus: Corpus, rel: str) -> str:
    """Corpus-relative path -> path on the corpus filesystem, refusing anything that leaves the root."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        raise SourceError("bad_path", f"not a corpus-relative path: {rel!r}")
    norm = posixpath.normpath(rel)
    if norm.startswith("../") or norm == ".." or norm == ".":
        raise SourceError("bad_path", f"path escapes the corpus root: {rel!r}")
    full = posixpath.join(corpus.root, norm)
    if corpus.is_local:
        real, root = os.path.realpath(full), os.path.realpath(corpus.root)
        if os.path.lexists(full) and os.path.exists(full) and not real.startswith(root.rstrip("/") + "/"):
            raise SourceError("bad_path", f"link leaves the corpus root: {rel!r} -> {real}")
    return full


def read_image_bytes(corpus: Corpus, rel: str, max_bytes: int) -> bytes:
    """Bytes of one listed image; every failure becomes a SourceError with a row status."""
    full = resolve(corpus, rel)
    try:
        if corpus.fs.isdir(full):
            raise SourceError("not_a_file", "a directory with an image name")
        size = corpus.fs.size(full)
        if size is not None and size > max_bytes:
            raise SourceError("too_large", f"{size} bytes is over the {max_bytes}-byte limit")
        return corpus.fs.cat_file(full)
    except SourceError:
        raise
    except FileNotFoundError as e:
        raise SourceError("unreadable", f"missing or a broken link: {e}") from e
    except (IsADirectoryError, NotADirectoryError) as e:
        raise SourceError("not_a_file", str(e)) from e
    except OSError as e:
        raise SourceError("unreadable", f"{type(e).__name__}: {e}") from e
