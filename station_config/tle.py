"""Two-line element sets: parsing and validation (format per NORAD/Spacetrack Report #3).

Checks what a corrupted or mistyped TLE file breaks: line lengths, line numbers, the
modulo-10 checksum of each line, matching catalogue numbers. Propagation itself is done
by SGP4 in the stages (skyfield/sgp4), not here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from srd.errors import TLEError


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum over the first 68 columns (digits count, '-' counts 1)."""
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


@dataclass(frozen=True)
class TLE:
    """One validated element set. ``epoch`` is UTC."""

    name: str
    line1: str
    line2: str
    norad_id: int
    epoch: dt.datetime
    source: str

    def age_days(self, now: dt.datetime) -> float:
        """Age of the element set at ``now`` (days)."""
        return (now - self.epoch).total_seconds() / 86400.0


def _epoch(field: str) -> dt.datetime:
    yy, doy = int(field[:2]), float(field[2:])
    year = 2000 + yy if yy < 57 else 1900 + yy
    return dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=doy - 1)


def parse_tle(text: str, source: str = "<string>") -> TLE:
    """Parse a 2- or 3-line TLE; raise :class:`TLEError` naming ``source``, the line and why."""
    lines = [ln.rstrip() for ln in text.strip("\n").splitlines() if ln.strip()]
    if len(lines) == 3:
        name, l1, l2 = lines[0].strip(), lines[1], lines[2]
    elif len(lines) == 2:
        name, l1, l2 = "", lines[0], lines[1]
    else:
        raise TLEError(f"expected 2 or 3 non-empty lines, found {len(lines)}", path=source)
    first = len(lines) - 2
    for n, (ln, tag) in enumerate(((l1, "1"), (l2, "2")), start=first + 1):
        if len(ln) != 69:
            raise TLEError(f"line {n} has {len(ln)} characters, a TLE line has 69", path=source,
                           field=f"line {n}")
        if ln[0] != tag:
            raise TLEError(f"line {n} must start with '{tag}'", path=source, field=f"line {n}")
        if not ln[68].isdigit() or tle_checksum(ln) != int(ln[68]):
            raise TLEError(f"line {n} checksum mismatch: column 69 says {ln[68]!r}, "
                           f"computed {tle_checksum(ln)}", path=source, field=f"line {n}")
    try:
        n1, n2 = int(l1[2:7]), int(l2[2:7])
        epoch = _epoch(l1[18:32])
        float(l2[8:16]); float(l2[17:25]); float("0." + l2[26:33]); float(l2[52:63])
    except ValueError as e:
        raise TLEError(f"unparseable numeric field ({e})", path=source) from None
    if n1 != n2:
        raise TLEError(f"catalogue numbers differ between lines ({n1} vs {n2})", path=source)
    return TLE(name=name, line1=l1, line2=l2, norad_id=n1, epoch=epoch, source=source)


def read_tle(path: Path) -> TLE:
    """Read and validate a TLE file."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise TLEError(f"cannot read TLE file ({e.strerror})", path=path) from None
    return parse_tle(text, str(path))
