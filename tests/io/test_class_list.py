"""The one class-list reader of every importer (classification, segmentation, YOLO, VOC)."""
from __future__ import annotations

import pytest

from explorer.errors import UserError
from explorer.io.table_files import class_list


def test_list_text_file_with_bom_and_blank_lines_and_yaml(tmp_path):
    assert class_list(None) is None
    assert class_list(["cat", 2]) == ["cat", "2"]
    (tmp_path / "classes.txt").write_bytes("\ufeffcat\n\n dog \r\nbird\n".encode("utf-8"))
    assert class_list(tmp_path / "classes.txt") == ["cat", "dog", "bird"]
    (tmp_path / "data.yaml").write_text("names:\n  1: car\n  0: person\n")
    assert class_list(str(tmp_path / "data.yaml")) == ["person", "car"]
    (tmp_path / "list.yml").write_text("names: [a, 7]\n")
    assert class_list(tmp_path / "list.yml") == ["a", "7"]


@pytest.mark.parametrize("source, text, message", [
    ("empty.txt", "\n\n", "the class list .*empty.txt is empty"),
    ("dup.txt", "cat\ndog\ncat\n", r"class names must be unique, but got \['cat', 'dog', 'cat'\]"),
    ("gap.yaml", "names: {0: a, 2: b}\n", r"'names' keys must be 0..1, got \[0, 2\]"),
    ("bad.yaml", "names: 3\n", "'names' must be a list of class names"),
    ("broken.yaml", "names: [a, b\n", "malformed YAML at line 2, column 1"),
    ("missing.txt", None, "classes file .*missing.txt not found"),
])
def test_bad_class_lists_are_user_errors(tmp_path, source, text, message):
    if text is not None:
        (tmp_path / source).write_text(text)
    with pytest.raises(UserError, match=message):
        class_list(tmp_path / source)
    with pytest.raises(UserError, match="the class list is empty"):
        class_list([])


def test_yolo_and_classification_read_class_files_alike(tmp_path):
    from explorer.io.yolo import resolve_class_names

    (tmp_path / "classes.txt").write_bytes("\ufeffperson\ncar\n".encode("utf-8"))
    names, path = resolve_class_names(None, tmp_path)
    assert names == class_list(tmp_path / "classes.txt") == ["person", "car"] and path == tmp_path / "classes.txt"
    with pytest.raises(UserError, match="class names must be unique"):
        resolve_class_names(["a", "a"])
