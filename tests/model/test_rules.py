"""The relative-path rule: its fast regex path and its explaining checks agree on every input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.model._rules import _VALID_PATH, check_relative_path


def _detailed_rule_accepts(value: str) -> bool:
    return (
        0 < len(value) <= 4096
        and not any(
            ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029\\" for ch in value
        )
        and not value.startswith("/")
        and all(part not in ("", ".", "..") for part in value.split("/"))
    )


_PATHISH = st.text(
    alphabet=st.sampled_from(
        ["a", "b", ".", "/", "\\", "\x00", "\x7f", "\x85", "\u2028", " ", "é", "\n"]
    )
)


@given(_PATHISH)
def test_fast_path_and_detailed_rule_agree(value: str) -> None:
    assert bool(_VALID_PATH.fullmatch(value)) == _detailed_rule_accepts(value)
    if _detailed_rule_accepts(value):
        check_relative_path(value, "path")
    else:
        with pytest.raises(ValueError, match="`path`"):
            check_relative_path(value, "path")


@pytest.mark.parametrize("value", ["a", "a/b.py", ".github/x", "a..b", "...", "dir with space/f"])
def test_ordinary_paths_pass(value: str) -> None:
    check_relative_path(value, "path")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "1..4096"),
        ("/etc/passwd", "relative"),
        ("a//b", "normalised"),
        ("a/../b", "normalised"),
        ("./a", "normalised"),
        ("a\\b", "backslashes"),
        ("a\nb", "control"),
        ("x" * 4097, "1..4096"),
    ],
)
def test_bad_paths_say_why(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_relative_path(value, "path")
