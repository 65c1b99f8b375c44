"""What a migration run found and did: counts per entity and every problem, as data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Entity", "EntityCounts", "MigrationReport", "Problem", "ProblemKind", "source_label"]


class Entity(str, Enum):
    """The kinds of record the original package stored, in the order they are copied."""

    USER = "user"
    BALANCE = "balance"
    BALANCE_TRANSACTION = "balance_transaction"
    ASSET_BALANCE = "asset_balance"
    ASSET_TRANSACTION = "asset_transaction"
    ORDER = "order"
    ASSET = "asset"


class ProblemKind(str, Enum):
    """Why a record was not copied as it is, or what a check found."""

    #: A value cnop refuses (bad username, NaN amount, a third decimal in USD...).
    INVALID = "invalid"
    #: Two source records claim one target key or one email.
    DUPLICATE = "duplicate"
    #: The record belongs to a user that is not copied, or names an order that is not there.
    ORPHAN = "orphan"
    #: A state cnop cannot hold as it is (an open order, a cancelled ledger record).
    UNSUPPORTED = "unsupported"
    #: The source item is not one the original package writes.
    UNRECOGNISED = "unrecognised"
    #: The target already holds a different item under the same key.
    CONFLICT = "conflict"
    #: In the source, a balance is not the sum of its ledger (reported, never fixed).
    LEDGER_MISMATCH = "ledger_mismatch"
    #: After the copy, a target balance is not the sum of its target ledger.
    TARGET_LEDGER_MISMATCH = "target_ledger_mismatch"


def source_label(table: str, *key: str) -> str:
    """A printable name for a source item: JSON-escaped, so a newline or NUL shows as such."""
    return " ".join([table, *(json.dumps(part) for part in key)])


@dataclass(frozen=True)
class Problem:
    """One finding. ``source`` names the item (never its secret attributes)."""

    kind: ProblemKind
    entity: Entity
    source: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "entity": self.entity.value,
            "source": self.source,
            "message": self.message,
        }


@dataclass
class EntityCounts:
    """Per entity: read from the source, refused, and what happened to the rest.

    ``written`` were put by this run (``would_write`` in a dry run), ``present`` were
    already in the target exactly as this run would write them (an earlier run), and
    ``conflicts`` were in the target with different contents (left as they are).
    """

    read: int = 0
    refused: int = 0
    written: int = 0
    present: int = 0
    conflicts: int = 0

    def to_dict(self, *, dry_run: bool) -> dict[str, int]:
        return {
            "read": self.read,
            "refused": self.refused,
            "would_write" if dry_run else "written": self.written,
            "present": self.present,
            "conflicts": self.conflicts,
        }


@dataclass
class MigrationReport:
    """The outcome of one run; ``ok`` is True only when nothing needs attention."""

    dry_run: bool
    counts: dict[Entity, EntityCounts] = field(
        default_factory=lambda: {entity: EntityCounts() for entity in Entity}
    )
    problems: list[Problem] = field(default_factory=list)
    #: Source items that have no place in cnop and are left behind on purpose (lock items).
    skipped: dict[str, int] = field(default_factory=dict)
    #: Conversions worth knowing about that are not problems (counted, by what was done).
    notes: dict[str, int] = field(default_factory=dict)
    #: Whether the ledgers in the target were checked against the balances after the copy.
    target_verified: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: ProblemKind, entity: Entity, source: str, message: str) -> None:
        self.problems.append(Problem(kind, entity, source, message))

    def note(self, what: str, count: int = 1) -> None:
        self.notes[what] = self.notes.get(what, 0) + count

    def problem_count(self, kind: ProblemKind) -> int:
        return sum(1 for p in self.problems if p.kind is kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "counts": {e.value: c.to_dict(dry_run=self.dry_run) for e, c in self.counts.items()},
            "problem_counts": {
                kind.value: self.problem_count(kind)
                for kind in ProblemKind
                if self.problem_count(kind)
            },
            "problems": [p.to_dict() for p in self.problems],
            "skipped": dict(self.skipped),
            "notes": dict(self.notes),
            "target_verified": self.target_verified,
        }
