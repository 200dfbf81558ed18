"""Typed calls are checked by mypy in the caller's code: a wrong payload type, an unknown
option or a result read as the wrong type is a mypy error (tests/typing/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

CASES = Path(__file__).parent.parent / "typing"


def mypy_errors(*files: Path) -> dict[tuple[str, int], str]:
    out, err, _ = api.run(["--strict", "--no-error-summary", *map(str, files)])
    assert not err, err
    errors: dict[tuple[str, int], str] = {}
    for line in out.splitlines():
        found = re.match(r"(.+?):(\d+): error: (.*)", line)
        if found:
            errors[(Path(found[1]).name, int(found[2]))] = found[3]
    return errors


def marked_lines(file: Path) -> set[int]:
    lines = file.read_text().splitlines()
    return {number for number, text in enumerate(lines, start=1) if text.endswith("# error")}


@pytest.mark.slow
def test_mypy_accepts_typed_calls_and_refuses_wrong_ones() -> None:
    good, bad = CASES / "typed_calls_ok.py", CASES / "typed_calls_bad.py"
    errors = mypy_errors(good, bad)
    assert {line for name, line in errors if name == good.name} == set(), errors
    wanted = marked_lines(bad)
    assert len(wanted) == 6
    assert {line for name, line in errors if name == bad.name} == wanted, errors
    assert 'expected "EmailIn"' in errors[(bad.name, min(wanted))]
