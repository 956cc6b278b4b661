"""``safe_join`` (one name) and ``safe_join_all`` (a folder's worth) give the same paths and the same refusals."""
from __future__ import annotations

import pytest

from explorer.errors import UserError
from explorer.project.paths import safe_join, safe_join_all

NAMES = ["a.jpg", "sub/b.jpg", "sub/deeper/c.jpg", "inlink.jpg", "outlink.jpg", "linked_dir/d.jpg",
         "sub/../a.jpg", "./a.jpg", "sub//b.jpg", "../escape.jpg", "sub/../../escape.jpg", "/etc/passwd",
         "C:x.jpg", "C:/x.jpg", "", "sub\\b.jpg", "missing/e.jpg", "."]


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "images"
    (root / "sub" / "deeper").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    for rel in ("a.jpg", "sub/b.jpg", "sub/deeper/c.jpg"):
        (root / rel).write_bytes(b"x")
    (outside / "o.jpg").write_bytes(b"x")
    (outside / "d.jpg").write_bytes(b"x")
    (root / "inlink.jpg").symlink_to(root / "sub" / "b.jpg")
    (root / "outlink.jpg").symlink_to(outside / "o.jpg")
    (root / "linked_dir").symlink_to(outside)
    return root


def _one(root, name):
    try:
        return safe_join(root, name)
    except UserError as e:
        return str(e)


def test_safe_join_resolves_inside_and_refuses_the_rest(root):
    assert safe_join(root, "sub/b.jpg") == (root / "sub" / "b.jpg").resolve()
    assert safe_join(root, "inlink.jpg") == (root / "sub" / "b.jpg").resolve()  # a link inside the folder
    assert safe_join(root, "sub/../a.jpg") == (root / "a.jpg").resolve()
    assert safe_join(root, "sub\\b.jpg") == (root / "sub" / "b.jpg").resolve()  # Windows separators
    for name in ("outlink.jpg", "linked_dir/d.jpg", "../escape.jpg", "sub/../../escape.jpg"):
        with pytest.raises(UserError, match="points outside the image folder"):
            safe_join(root, name)
    for name in ("/etc/passwd", "C:x.jpg", "C:/x.jpg", ""):
        with pytest.raises(UserError, match="must be relative to the image folder"):
            safe_join(root, name)


def test_safe_join_all_equals_safe_join_name_by_name(root):
    got = [p if not isinstance(p, UserError) else str(p) for p in safe_join_all(root, NAMES)]
    assert got == [_one(root, name) for name in NAMES]
    assert sum(isinstance(p, str) for p in got) == 8
