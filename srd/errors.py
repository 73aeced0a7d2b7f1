"""The one exception hierarchy of the project.

Every error raised on purpose by the system derives from :class:`SrdError`. Each subclass
also inherits the matching builtin (``ValueError``, ``OSError``, ``KeyError``...) so callers
that only know the builtin still catch it, and each carries its context (file, offset, field)
as attributes, so a CLI or a flow can report it without parsing the message.

Exit codes (``srd`` CLI) are attached to the classes: an operator's script can tell bad
configuration from bad telemetry from a missing key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


class SrdError(Exception):
    """Root of every error the system raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, offset: int | None = None,
                 field: str | None = None, **context: Any) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.offset = offset
        self.field = field
        self.context = context
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.field:
            where.append(f"field '{self.field}'")
        return (": ".join([", ".join(where), self.message]) if where else self.message)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form (used by ``--json`` and reports)."""
        return {"error": type(self).__name__, "message": self.message, "path": self.path,
                "offset": self.offset, "field": self.field,
                **{k: v for k, v in self.context.items() if _jsonable(v)}}


def _jsonable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, type(None), list, dict))


class ConfigError(SrdError, ValueError):
    """Station configuration is malformed: names the file and the key."""

    exit_code = 3


class TLEError(ConfigError):
    """A two-line element set is malformed (length, checksum, fields)."""


class UnknownSatelliteError(ConfigError, KeyError):
    """A satellite name that the station configuration does not define."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self._format()


class KeyMissingError(SrdError, KeyError):
    """An AES key id is referenced but no key file is configured or readable. Never carries key bytes."""

    exit_code = 4

    def __str__(self) -> str:
        return self._format()


class TelemetryError(SrdError, ValueError):
    """Raw telemetry or a pass manifest is unusable (names file and byte offset)."""

    exit_code = 5


class ManifestError(TelemetryError):
    """A pass manifest is missing, unreadable or inconsistent with its channel files."""


class ChecksumError(TelemetryError):
    """A file's SHA-256 does not match its manifest."""


class DecodeError(SrdError, ValueError):
    """A decoder layer met input it cannot interpret (names file, offset, field)."""

    exit_code = 6


class CompressionError(DecodeError):
    """A compressed image block cannot be decompressed."""


class ProductError(SrdError, ValueError):
    """A Level-1/ortho product is missing, malformed or inconsistent."""

    exit_code = 7


class GeometryError(SrdError, ValueError):
    """A geometric computation did not converge or left its domain (names the pixel/point)."""

    exit_code = 7


class StorageError(SrdError, OSError):
    """Archive, product or catalogue storage could not be read or written."""

    exit_code = 8


class CatalogueError(SrdError, RuntimeError):
    """The catalogue store refused or failed an operation."""

    exit_code = 9


class ServiceError(SrdError, RuntimeError):
    """A station service (Prefect server, HTTP server, STAC API) could not be started."""

    exit_code = 11
