"""Projections: views folded from the log (verdicts, source health, runs), rebuildable at will."""

from __future__ import annotations

from ledger.projections.engine import (
    ProjectionEngine,
    ProjectionStatus,
    ProjectionView,
    default_projections,
)
from ledger.projections.queries import ProjectionQueries

__all__ = [
    "ProjectionEngine",
    "ProjectionQueries",
    "ProjectionStatus",
    "ProjectionView",
    "default_projections",
]
