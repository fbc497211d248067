import os
from pathlib import Path

import fsspec
import pytest

from pipeline.sources import (
    SourceError,
    build_manifest,
    list_images,
    load_or_create_manifest,
    open_corpus,
    read_image_bytes,
    resolve,
)


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "b").mkdir(parents=True)
    for name in ["b/2.jpg", "a.png", "b/1.JPG", "c.webp", "notes.txt", "z.jpeg"]:
        (root / name).write_bytes(b"x" * 10)
    (root / "dir.jpg").mkdir()
    os.symlink(root / "nowhere.jpg", root / "gone.jpg")
    return root


def test_listing_is_sorted_filtered_and_keeps_odd_entries(tmp_path):
    c = open_corpus(str(_corpus(tmp_path)))
    entries = list_images(c)
    names = [e[0] for e in entries]
    assert names == sorted(names)
    assert "notes.txt" not in names
    assert {"a.png", "b/1.JPG", "b/2.jpg", "c.webp", "z.jpeg", "dir.jpg", "gone.jpg"} == set(names)


def test_manifest_shards_and_limit(tmp_path):
    c = open_corpus(str(_corpus(tmp_path)))
    m = build_manifest(c, shard_size=3, limit=5)
    assert m.num_rows == 5
    assert m["shard"].to_pylist() == [0, 0, 0, 1, 1]
    assert m["idx"].to_pylist() == list(range(5))


def test_manifest_is_reused_and_settings_are_checked(tmp_path):
    root = _corpus(tmp_path)
    c = open_corpus(str(root))
    fs, out = fsspec.core.url_to_fs(str(tmp_path / "out"))
    m1 = load_or_create_manifest(c, fs, out, 3, None)
    (root / "new.jpg").write_bytes(b"x")  # added later: must not reshuffle the shards of a resumed run
    m2 = load_or_create_manifest(c, fs, out, 3, None)
    assert m1.equals(m2)
    with pytest.raises(ValueError, match="different settings"):
        load_or_create_manifest(c, fs, out, 4, None)
    # The same folder through a relative path is the same corpus.
    rel = os.path.relpath(root)
    assert load_or_create_manifest(open_corpus(rel), fs, out, 3, None).equals(m1)


@pytest.mark.parametrize("rel", ["../x.jpg", "/etc/passwd", "a/../../x.jpg", "", "a\\..\\x.jpg"])
def test_paths_cannot_escape_the_root(tmp_path, rel):
    c = open_corpus(str(_corpus(tmp_path)))
    with pytest.raises(SourceError) as e:
        resolve(c, rel)
    assert e.value.status == "bad_path"


def test_symlink_out_of_the_root_is_refused(tmp_path):
    root = _corpus(tmp_path)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"top secret")
    os.symlink(secret, root / "leak.jpg")
    c = open_corpus(str(root))
    with pytest.raises(SourceError) as e:
        read_image_bytes(c, "leak.jpg", 1000)
    assert e.value.status == "bad_path"


def test_read_errors_become_statuses(tmp_path):
    c = open_corpus(str(_corpus(tmp_path)))
    assert read_image_bytes(c, "a.png", 100) == b"x" * 10
    for rel, status in [("dir.jpg", "not_a_file"), ("gone.jpg", "unreadable"), ("missing.jpg", "unreadable")]:
        with pytest.raises(SourceError) as e:
            read_image_bytes(c, rel, 100)
        assert e.value.status == status, rel
    with pytest.raises(SourceError) as e:
        read_image_bytes(c, "a.png", 5)
    assert e.value.status == "too_large"


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus not found"):
        open_corpus(str(tmp_path / "nope"))
