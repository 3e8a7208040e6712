"""The error taxonomy: stable categories, exit codes and the --json envelope."""

from __future__ import annotations

import pytest

from ledger.errors import (
    CATEGORY_INFO,
    CODE_CATEGORY,
    ERROR_CLASSES,
    Category,
    ErrorCode,
    InvalidInput,
    NetworkTransient,
    StateContention,
)


def test_every_category_has_a_distinct_nonzero_exit_code_and_a_class() -> None:
    codes = [CATEGORY_INFO[c].exit_code for c in Category]
    assert len(set(codes)) == len(Category)
    assert 0 not in codes
    assert 1 not in codes
    assert set(ERROR_CLASSES) == set(Category)
    assert all(ERROR_CLASSES[c].category is c for c in Category)


def test_every_error_code_belongs_to_exactly_one_category() -> None:
    assert set(CODE_CATEGORY) == set(ErrorCode)


def test_only_transient_network_failures_are_retryable() -> None:
    assert [c for c in Category if CATEGORY_INFO[c].retryable] == [Category.NETWORK_TRANSIENT]


def test_a_code_from_another_category_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        StateContention(ErrorCode.INVALID_JSON, "x", hint="y")


def test_the_json_envelope_carries_category_code_retryability_and_hint() -> None:
    error = InvalidInput(
        ErrorCode.INVALID_EVENT, "bad field", hint="fix it", details={"field": "$.x"}
    )
    assert error.to_dict() == {
        "ok": False,
        "error": "bad field",
        "error_code": "INVALID_EVENT",
        "error_category": "invalid_input",
        "retryable": False,
        "hint": "fix it",
        "details": {"field": "$.x"},
    }
    assert error.exit_code == 2
    assert "invalid_input/INVALID_EVENT" in str(error)


def test_network_transient_errors_say_they_may_be_retried() -> None:
    assert NetworkTransient.category is Category.NETWORK_TRANSIENT
    assert CATEGORY_INFO[NetworkTransient.category].retryable


def test_an_error_with_its_report_is_one_document_the_envelope_wins() -> None:
    from ledger.errors import PolicyBlocked

    error = PolicyBlocked(ErrorCode.SOURCE_HEALTH_BLOCKED, "blocked", hint="fix it")
    report = {"blocking": ["svc"], "ok": True, "hint": "from the report"}
    body = error.with_report(report).to_dict()
    assert body["blocking"] == ["svc"]
    # The envelope's members are authoritative where the report has the same names.
    assert body["ok"] is False
    assert body["hint"] == "fix it"
    assert body["error_code"] == "SOURCE_HEALTH_BLOCKED"
    assert next(iter(body)) == "blocking"
