"""Template text past the loader's bounds is a template format error, never a crash of the parser."""

from __future__ import annotations

import pytest

from selfmaker.domain.cfn import loader
from selfmaker.domain.cfn.errors import TemplateError

DEPTH = loader.MAX_DEPTH


@pytest.mark.parametrize("text", [
    "A: " + "[" * DEPTH + "]" * DEPTH,
    '{"A": ' + "[" * DEPTH + "]" * DEPTH + "}",
    "A:\n" + "".join(" " * level + "- \n" for level in range(1, DEPTH + 1)),
    "A: " + "[" * 5000 + "]" * 5000,
    '{"A": ' + "[" * 5000 + "]" * 5000 + "}",
    "A: " + "{a: " * 5000 + "1" + "}" * 5000,
])
def test_nesting_past_the_limit_is_refused(text):
    with pytest.raises(TemplateError) as exc:
        loader.load(text)
    assert f"nested deeper than {DEPTH} levels" in str(exc.value)
    assert str(exc.value).startswith("Template format error: ")


def test_nesting_up_to_the_limit_loads_alike_in_yaml_and_json():
    inner = "[" * (DEPTH - 1) + "1" + "]" * (DEPTH - 1)  # the top mapping is the first level
    assert loader.load("A: " + inner) == loader.load('{"A": ' + inner + "}")


@pytest.mark.parametrize("text", ["A: " + "9" * 5000, '{"A": ' + "9" * 5000 + "}", '{"A": NaN}', '{"A": 1e400}'])
def test_numbers_past_the_limit_are_refused(text):
    with pytest.raises(TemplateError):
        loader.load(text)


def test_ordinary_numbers_still_load():
    assert loader.load("A: 12345\nB: 0x1F\nC: 1.5\n") == {"A": 12345, "B": 31, "C": 1.5}
