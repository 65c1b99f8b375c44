"""Moving data from the original "Common Package" layout into cnop's tables.

>>> from cnop.data.migrate import migrate_from_common  # doctest: +SKIP
>>> report = migrate_from_common(client, client, TableNames.from_env("old-"), TableNames())
>>> report.ok, report.to_dict()["counts"]["user"]  # doctest: +SKIP

The command line form is ``python -m cnop.data migrate-from-common`` (see MIGRATING.md).
"""

from cnop.data.migrate._convert import ConversionError, derived_id, exact_decimal
from cnop.data.migrate._report import (
    Entity,
    EntityCounts,
    MigrationReport,
    Problem,
    ProblemKind,
)
from cnop.data.migrate._runner import migrate_from_common

__all__ = [
    "ConversionError",
    "Entity",
    "EntityCounts",
    "MigrationReport",
    "Problem",
    "ProblemKind",
    "derived_id",
    "exact_decimal",
    "migrate_from_common",
]
