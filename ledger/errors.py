"""The error taxonomy shared by every layer of ledgerd.

Every failure a user can see is a :class:`LedgerError`. Its *category* fixes the
process exit code and whether retrying can help; its *code* is a stable,
machine-readable name for the exact rule that was broken; its *hint* tells a
person what to do next. The CLI, the daemon and the client stubs all speak in
these terms, so the same failure reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class Category(StrEnum):
    """The broad class of a failure; decides exit code and retryability."""

    INVALID_INPUT = "invalid_input"
    VERIFICATION_FAILED = "verification_failed"
    POLICY_BLOCKED = "policy_blocked"
    APPROVAL_REQUIRED = "approval_required"
    DEPENDENCY_MISSING = "dependency_missing"
    IO_FAILURE = "io_failure"
    STATE_CONTENTION = "state_contention"
    NETWORK_TRANSIENT = "network_transient"
    NETWORK_PERMANENT = "network_permanent"
    INTERNAL_FAILURE = "internal_failure"


@dataclass(frozen=True)
class CategoryInfo:
    """What a category means to a caller: the exit code and whether to retry."""

    exit_code: int
    retryable: bool


# Exit codes are part of the public contract (specs/errors.md): never renumber.
CATEGORY_INFO: Mapping[Category, CategoryInfo] = {
    Category.INVALID_INPUT: CategoryInfo(exit_code=2, retryable=False),
    Category.VERIFICATION_FAILED: CategoryInfo(exit_code=3, retryable=False),
    Category.POLICY_BLOCKED: CategoryInfo(exit_code=4, retryable=False),
    Category.APPROVAL_REQUIRED: CategoryInfo(exit_code=5, retryable=False),
    Category.DEPENDENCY_MISSING: CategoryInfo(exit_code=6, retryable=False),
    Category.IO_FAILURE: CategoryInfo(exit_code=7, retryable=False),
    Category.STATE_CONTENTION: CategoryInfo(exit_code=8, retryable=False),
    Category.NETWORK_TRANSIENT: CategoryInfo(exit_code=9, retryable=True),
    Category.NETWORK_PERMANENT: CategoryInfo(exit_code=10, retryable=False),
    Category.INTERNAL_FAILURE: CategoryInfo(exit_code=11, retryable=False),
}


class ErrorCode(StrEnum):
    """Stable names for every specific rule a request or a log can break."""

    # invalid_input
    INVALID_JSON = "INVALID_JSON"
    INVALID_EVENT = "INVALID_EVENT"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    UNKNOWN_SCHEMA_VERSION = "UNKNOWN_SCHEMA_VERSION"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    EMPTY_BATCH = "EMPTY_BATCH"
    NOT_FOUND = "NOT_FOUND"
    INVALID_KEY = "INVALID_KEY"
    INVALID_CHECKPOINT = "INVALID_CHECKPOINT"
    INVALID_PROOF_REQUEST = "INVALID_PROOF_REQUEST"
    DATA_DIR_NOT_FOUND = "DATA_DIR_NOT_FOUND"
    INVALID_REQUEST = "INVALID_REQUEST"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    INVALID_CONFIG = "INVALID_CONFIG"
    INVALID_DIFF = "INVALID_DIFF"
    INVALID_FINDINGS = "INVALID_FINDINGS"
    # verification_failed
    LEAF_UNREADABLE = "LEAF_UNREADABLE"
    SEQ_GAP = "SEQ_GAP"
    SEQ_MISMATCH = "SEQ_MISMATCH"
    CHAIN_BROKEN = "CHAIN_BROKEN"
    LEAF_HASH_MISMATCH = "LEAF_HASH_MISMATCH"
    TREE_HASH_MISMATCH = "TREE_HASH_MISMATCH"
    INDEX_MISMATCH = "INDEX_MISMATCH"
    CHECKPOINT_SIGNATURE_INVALID = "CHECKPOINT_SIGNATURE_INVALID"
    CHECKPOINT_BEYOND_LOG = "CHECKPOINT_BEYOND_LOG"
    CHECKPOINT_ROOT_MISMATCH = "CHECKPOINT_ROOT_MISMATCH"
    INCLUSION_PROOF_INVALID = "INCLUSION_PROOF_INVALID"
    CONSISTENCY_PROOF_INVALID = "CONSISTENCY_PROOF_INVALID"
    CHECKPOINT_ROLLBACK = "CHECKPOINT_ROLLBACK"
    SERVED_EVENT_MISMATCH = "SERVED_EVENT_MISMATCH"
    REPLAY_INPUT_DRIFT = "REPLAY_INPUT_DRIFT"
    # policy_blocked
    SOURCE_HEALTH_BLOCKED = "SOURCE_HEALTH_BLOCKED"
    UNSAFE_PATCH_ATTEMPT = "UNSAFE_PATCH_ATTEMPT"
    GATE_BLOCKED = "GATE_BLOCKED"
    # state_contention
    EVENT_ID_CONFLICT = "EVENT_ID_CONFLICT"
    WRONG_EXPECTED_VERSION = "WRONG_EXPECTED_VERSION"
    RUN_ALREADY_RECORDED = "RUN_ALREADY_RECORDED"
    DATA_DIR_LOCKED = "DATA_DIR_LOCKED"
    SPOOL_LOCKED = "SPOOL_LOCKED"
    # io_failure
    STORAGE_FAILURE = "STORAGE_FAILURE"
    FILE_UNREADABLE = "FILE_UNREADABLE"
    FILE_WRITE_FAILED = "FILE_WRITE_FAILED"
    # network_transient
    SERVER_UNAVAILABLE = "SERVER_UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    PROJECTION_BEHIND = "PROJECTION_BEHIND"
    # network_permanent
    PROTOCOL_ERROR = "PROTOCOL_ERROR"
    # internal_failure
    INTERNAL = "INTERNAL"


CODE_CATEGORY: Mapping[ErrorCode, Category] = {
    **{
        code: Category.INVALID_INPUT
        for code in (
            ErrorCode.INVALID_JSON,
            ErrorCode.INVALID_EVENT,
            ErrorCode.UNKNOWN_EVENT_TYPE,
            ErrorCode.UNKNOWN_SCHEMA_VERSION,
            ErrorCode.INVALID_ARGUMENT,
            ErrorCode.EMPTY_BATCH,
            ErrorCode.NOT_FOUND,
            ErrorCode.INVALID_KEY,
            ErrorCode.INVALID_CHECKPOINT,
            ErrorCode.INVALID_PROOF_REQUEST,
            ErrorCode.DATA_DIR_NOT_FOUND,
            ErrorCode.INVALID_REQUEST,
            ErrorCode.REQUEST_TOO_LARGE,
            ErrorCode.INVALID_CONFIG,
            ErrorCode.INVALID_DIFF,
            ErrorCode.INVALID_FINDINGS,
        )
    },
    **{
        code: Category.VERIFICATION_FAILED
        for code in (
            ErrorCode.LEAF_UNREADABLE,
            ErrorCode.SEQ_GAP,
            ErrorCode.SEQ_MISMATCH,
            ErrorCode.CHAIN_BROKEN,
            ErrorCode.LEAF_HASH_MISMATCH,
            ErrorCode.TREE_HASH_MISMATCH,
            ErrorCode.INDEX_MISMATCH,
            ErrorCode.CHECKPOINT_SIGNATURE_INVALID,
            ErrorCode.CHECKPOINT_BEYOND_LOG,
            ErrorCode.CHECKPOINT_ROOT_MISMATCH,
            ErrorCode.INCLUSION_PROOF_INVALID,
            ErrorCode.CONSISTENCY_PROOF_INVALID,
            ErrorCode.CHECKPOINT_ROLLBACK,
            ErrorCode.SERVED_EVENT_MISMATCH,
            ErrorCode.REPLAY_INPUT_DRIFT,
        )
    },
    ErrorCode.SOURCE_HEALTH_BLOCKED: Category.POLICY_BLOCKED,
    ErrorCode.UNSAFE_PATCH_ATTEMPT: Category.POLICY_BLOCKED,
    ErrorCode.GATE_BLOCKED: Category.POLICY_BLOCKED,
    **{
        code: Category.STATE_CONTENTION
        for code in (
            ErrorCode.EVENT_ID_CONFLICT,
            ErrorCode.WRONG_EXPECTED_VERSION,
            ErrorCode.RUN_ALREADY_RECORDED,
            ErrorCode.DATA_DIR_LOCKED,
            ErrorCode.SPOOL_LOCKED,
        )
    },
    **{
        code: Category.IO_FAILURE
        for code in (
            ErrorCode.STORAGE_FAILURE,
            ErrorCode.FILE_UNREADABLE,
            ErrorCode.FILE_WRITE_FAILED,
        )
    },
    ErrorCode.SERVER_UNAVAILABLE: Category.NETWORK_TRANSIENT,
    ErrorCode.DEADLINE_EXCEEDED: Category.NETWORK_TRANSIENT,
    ErrorCode.PROJECTION_BEHIND: Category.NETWORK_TRANSIENT,
    ErrorCode.PROTOCOL_ERROR: Category.NETWORK_PERMANENT,
    ErrorCode.INTERNAL: Category.INTERNAL_FAILURE,
}


class LedgerError(Exception):
    """Base of every error ledgerd raises on purpose.

    Subclasses pin the category; the code must belong to it, which keeps a
    code's exit status and retryability the same wherever it is raised.
    """

    category: ClassVar[Category] = Category.INTERNAL_FAILURE

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        hint: str,
        details: Mapping[str, object] | None = None,
    ) -> None:
        if CODE_CATEGORY[code] is not self.category:
            raise TypeError(f"{code} belongs to {CODE_CATEGORY[code]}, not {self.category}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.details: Mapping[str, object] = dict(details or {})
        self.report: Mapping[str, object] = {}

    def add_context(
        self, *, where: str | None = None, hint: str = "", **details: object
    ) -> LedgerError:
        """Say where the error happened (`where: message`), extend the hint, add details.

        For layers that re-raise an error from below with what only they know,
        such as the input line or the position in a batch.
        """
        if where is not None:
            self.message = f"{where}: {self.message}"
            self.args = (self.message,)
        self.hint += hint
        self.details = {**self.details, **details}
        return self

    def with_report(self, report: Mapping[str, object]) -> LedgerError:
        """Attach the report the failure was found in (a view a check failed on).

        The `--json` envelope then is that report with the envelope's members
        added: one document that says both what was seen and why it failed.
        """
        self.report = dict(report)
        return self

    @property
    def exit_code(self) -> int:
        return CATEGORY_INFO[self.category].exit_code

    @property
    def retryable(self) -> bool:
        return CATEGORY_INFO[self.category].retryable

    def to_dict(self) -> dict[str, object]:
        """The `--json` error envelope (specs/errors.md)."""
        body: dict[str, object] = {
            **self.report,
            "ok": False,
            "error": self.message,
            "error_code": str(self.code),
            "error_category": str(self.category),
            "retryable": self.retryable,
            "hint": self.hint,
        }
        if self.details:
            body["details"] = dict(self.details)
        return body

    def __str__(self) -> str:
        return f"{self.category}/{self.code}: {self.message} (hint: {self.hint})"


class InvalidInput(LedgerError):
    category = Category.INVALID_INPUT


class VerificationFailed(LedgerError):
    category = Category.VERIFICATION_FAILED


class PolicyBlocked(LedgerError):
    category = Category.POLICY_BLOCKED


class ApprovalRequired(LedgerError):
    category = Category.APPROVAL_REQUIRED


class DependencyMissing(LedgerError):
    category = Category.DEPENDENCY_MISSING


class IoFailure(LedgerError):
    category = Category.IO_FAILURE


class StateContention(LedgerError):
    category = Category.STATE_CONTENTION


class NetworkTransient(LedgerError):
    category = Category.NETWORK_TRANSIENT


class NetworkPermanent(LedgerError):
    category = Category.NETWORK_PERMANENT


class InternalFailure(LedgerError):
    category = Category.INTERNAL_FAILURE


#: Each category's exception class: how an error that crossed a process boundary
#: (as the `--json` envelope or a gRPC status) is raised again as the same class.
ERROR_CLASSES: Mapping[Category, type[LedgerError]] = {
    cls.category: cls
    for cls in (
        InvalidInput,
        VerificationFailed,
        PolicyBlocked,
        ApprovalRequired,
        DependencyMissing,
        IoFailure,
        StateContention,
        NetworkTransient,
        NetworkPermanent,
        InternalFailure,
    )
}
