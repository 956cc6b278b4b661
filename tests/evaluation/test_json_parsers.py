"""load_json reads with orjson when it can and with the standard parser otherwise: the values must be the same."""
import json

import pytest

from explorer.errors import UserError
from explorer.io.jsonfile import _parse_int, load_json

CASES = {
    "plain": '{"images": [{"id": 1, "width": 640.5}], "x": [-0, 1e-5, 0.1, 1E5, 12345678901234567]}',
    "int64 edges": "[9223372036854775807, -9223372036854775808, 18446744073709551615]",
    # orjson would read these as floats; -2**63 - 1 would even round to the valid id -2**63
    "beyond int64": "[-9223372036854775809, 18446744073709551616, 123456789012345678901234567890]",
    "nan and inf literals": "[NaN, Infinity, -Infinity, 1e400]",
    "lone surrogate": '["\\ud800"]',
    "bom": "\ufeff[1, 2]",
    "long fraction": "[0.00012345678901234567890]",
    "huge int": "[" + "9" * 500 + "]",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_json_equals_the_standard_parser(tmp_path, name):
    text = CASES[name]
    f = tmp_path / "x.json"
    f.write_text(text, encoding="utf-8")
    want = json.loads(text.lstrip("\ufeff"), parse_int=_parse_int)
    got = load_json(f, what="labels")
    assert repr(got) == repr(want)  # repr: exact types and NaN compare equal
    assert json.dumps(got) == json.dumps(want)


def test_beyond_int64_stays_an_exact_int(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('[{"id": -9223372036854775809}]')
    v = load_json(f, what="labels")[0]["id"]
    assert type(v) is int and v == -(2**63) - 1


def test_errors_still_name_line_and_column(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"a": 1,\n "b": }')
    with pytest.raises(UserError, match="line 2, column 7"):
        load_json(f, what="labels")
    f.write_text("   \n")
    with pytest.raises(UserError, match="is empty"):
        load_json(f, what="labels")
    f.write_bytes(b'["\xff"]')
    with pytest.raises(UserError, match="cannot be read"):
        load_json(f, what="labels")
