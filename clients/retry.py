"""How client calls retry: only retryable categories, full-jitter backoff, bounded twice over.

A call is retried only when its error is retryable (network_transient: the
daemon unreachable, restarting, or too slow). Waits grow exponentially with
full jitter, and both the number of attempts and the total time are bounded.
A wrong expected version, bad input or a verification failure is never retried.
"""

from __future__ import annotations

from dataclasses import dataclass

import tenacity

from ledger.errors import LedgerError


@dataclass(frozen=True)
class RetryPolicy:
    """Retry and deadline settings for one client; every call has a deadline."""

    #: Tries in all, the first included; None: bounded by `overall_deadline_s` alone
    #: (for long-lived streams that should ride out a restart).
    max_attempts: int | None = 6
    #: The backoff ceiling grows from this, doubling each attempt (full jitter below it).
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    #: No retry starts after this long since the first attempt.
    overall_deadline_s: float = 30.0
    #: The deadline of each attempt.
    call_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("initial_backoff_s", "max_backoff_s", "overall_deadline_s", "call_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    def _arguments(self) -> dict[str, object]:
        # stop_before_delay, not stop_after_delay: the latter only looks at the
        # time already spent, so after a failure just inside the deadline it
        # still slept and started one more attempt past it, and that attempt,
        # left with a ~0 s timeout, could end in DEADLINE_EXCEEDED in place of
        # the real failure. This one also counts the coming sleep.
        stop: tenacity.stop.stop_base = tenacity.stop_before_delay(self.overall_deadline_s)
        if self.max_attempts is not None:
            stop = tenacity.stop_after_attempt(self.max_attempts) | stop
        return {
            "retry": tenacity.retry_if_exception(_is_retryable),
            "wait": tenacity.wait_random_exponential(
                multiplier=self.initial_backoff_s, max=self.max_backoff_s
            ),
            "stop": stop,
            "reraise": True,
        }

    def retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(**self._arguments())  # type: ignore[arg-type]

    def async_retrying(self) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(**self._arguments())  # type: ignore[arg-type]


#: For one-shot tools that must answer quickly: a single attempt.
NO_RETRY = RetryPolicy(max_attempts=1)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, LedgerError) and exc.retryable
