"""The JSON policy's Unicode rule: which strings UTF-8 cannot encode, where they are, and what
jobq records instead when it must keep the text."""

from __future__ import annotations

from typing import Any

import pytest

from jobq.domain.errors import InvalidJob
from jobq.domain.jsonvalues import as_unicode, dumps, is_unicode, unicode_problem


@pytest.mark.parametrize(
    ("text", "good"),
    [
        ("", True),
        ("plain", True),
        ("é ß 漢字 \U0001f600", True),
        ("\ufffd", True),
        # chr(): ruff reads string literals with surrogates as one and the same
        (chr(0xD800), False),
        (f"a{chr(0xDFFF)}b", False),
        (chr(0xDCFF), False),  # a byte that was not UTF-8, as Python keeps it (surrogateescape)
        (chr(0xD83D) + chr(0xDE00), False),  # a pair in a Python string: two code points, not 😀
    ],
)
def test_is_unicode(text: str, good: bool) -> None:
    assert is_unicode(text) is good
    assert is_unicode(as_unicode(text))


def test_as_unicode_replaces_each_surrogate_and_keeps_the_rest() -> None:
    assert as_unicode("a\ud800b\udcffc") == "a\ufffdb\ufffdc"
    text = "é \U0001f600"
    assert as_unicode(text) is text


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"s": "fine", "n": 1, "x": None}, None),
        ("\ud800", "payload"),
        ({"s": ["ok", "b\ud800"]}, "payload.s[1]"),
        ({"a": {"b": [{"c": "\udfff"}]}}, "payload.a.b[0].c"),
        ({"\ud800": 1}, 'payload["\\ud800"]'),
        ({"a b": {"k\udfff": "v"}}, 'payload["a b"]["k\\udfff"]'),
        ({"first": "\ud800", "second": "\ud800"}, "payload.first"),  # in document order
        ([[1, 2], [3, "\ud800"]], "payload[1][1]"),
    ],
)
def test_unicode_problem_names_the_first_bad_string(value: Any, path: str | None) -> None:
    assert unicode_problem(value, "payload") == path


def test_a_path_from_the_top_has_no_leading_dot() -> None:
    assert unicode_problem({"jobs": [{}, {"payload": {"s": "\ud800"}}]}) == "jobs[1].payload.s"


def test_dumps_refuses_a_string_that_is_not_unicode_naming_where() -> None:
    with pytest.raises(InvalidJob) as raised:
        dumps({"to": ["a", "\ud800"]}, what="payload")
    assert str(raised.value).startswith("payload is not valid Unicode at payload.to[1]: ")
    assert str(raised.value).isascii()
    with pytest.raises(InvalidJob, match=r"^the handler's result is not valid Unicode at result\."):
        dumps({"s": "\udfff"}, what="the handler's result", path="result")
    assert dumps({"s": "é \U0001f600"}, what="payload") == '{"s":"é \U0001f600"}'
