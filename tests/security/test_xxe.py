"""VOC XML is parsed without DTDs, entities or external references (defusedxml): an XXE file that would read
/etc/passwd and a billion-laughs file are each one named ``unsafe_xml`` problem; the valid files are imported."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from explorer.io import import_project

VALID = ("<annotation><filename>{name}.png</filename><size><width>6</width><height>4</height></size><object>"
         "<name>{cls}</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>"
         "</annotation>")
XXE = ('<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
       + VALID.format(name="b", cls="&xxe;"))
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + ']>\n' + VALID.format(name="c", cls="&lol9;"))
EXTERNAL_DTD = ('<?xml version="1.0"?>\n<!DOCTYPE annotation SYSTEM "http://127.0.0.1:9/x.dtd">\n'
                + VALID.format(name="d", cls="dtd"))


def test_xxe_and_billion_laughs_are_named_and_the_valid_file_kept(tmp_path):
    images, ann = tmp_path / "images", tmp_path / "Annotations"
    images.mkdir()
    ann.mkdir()
    for name in "abcd":
        Image.new("RGB", (6, 4)).save(images / f"{name}.png")
    (ann / "a.xml").write_text(VALID.format(name="a", cls="cat"))
    (ann / "b.xml").write_text(XXE)
    (ann / "c.xml").write_text(LAUGHS)
    (ann / "d.xml").write_text(EXTERNAL_DTD)
    project, report = import_project(tmp_path / "p", images=images, labels=ann, format="voc")
    assert project.categories["name"].tolist() == ["cat"]
    assert len(project.labels) == 1 and project.labels["image_id"].tolist() == [1]
    unsafe = [p for p in report.problems if p.kind == "unsafe_xml"]
    assert sorted(Path(p.file).name for p in unsafe) == ["b.xml", "c.xml", "d.xml"]
    assert all(p.record == "file" and "refused" in p.message for p in unsafe)
    everything = " ".join(str(p) for p in report.problems) + " ".join(project.categories["name"])
    assert "root:" not in everything and "lollol" not in everything
