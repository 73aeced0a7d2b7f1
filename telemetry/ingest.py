"""Ingest a raw pass from the landing directory into the immutable archive (ICD §1).

The antenna terminal writes ``<pass_id>_<channel>.bin`` files and, last, by atomic rename,
the manifest ``<pass_id>.json`` (``satellite, norad_id, station, pass_id, aos, los,
max_elevation_deg, channels: [{name, file, bytes, sha256}], terminal``). Ingest is the
first thing that touches a landed pass, and nothing downstream reads the landing
directory:

1. the manifest is parsed and checked (keys, types, satellite known to the station,
   channel file names inside the landing directory);
2. the channel files and then the manifest are **moved** into
   ``<archive>/.<pass_id>.tmp-<pid>/`` (a rename on the same file system — no copy of
   hundreds of MB; a copy with fsync across file systems);
3. sizes and SHA-256 are verified **on the archived copies** against the manifest;
4. ``SHA256SUMS`` (``sha256sum -c`` format, channel files and manifest) is written, every
   file is made read-only (0444) and the directory 0555, and the directory is renamed to
   ``<archive>/<satellite>/<YYYY>/<MM>/<pass_id>/`` (AOS year and month, UTC).

A pass that fails any check is **quarantined, never deleted**: whatever files exist go to
``<quarantine>/<pass_id>[-n]/`` with ``reason.json`` (the error, per-file expected/actual
size and hash), and the typed error (:class:`~srd.errors.ManifestError` or
:class:`~srd.errors.ChecksumError`) is raised with ``quarantine`` in its context so the
caller alerts. Ingesting an already archived pass is a no-op that re-verifies nothing but
the manifest identity; a landing duplicate of it that is byte-identical is removed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from srd.errors import ChecksumError, ConfigError, ManifestError, SrdError, StorageError

MANIFEST_KEYS = ("satellite", "norad_id", "station", "pass_id", "aos", "los", "max_elevation_deg",
                 "channels", "terminal")
CHANNEL_KEYS = ("name", "file", "bytes", "sha256")
SUMS = "SHA256SUMS"
_CHUNK = 4 << 20


@dataclass(frozen=True)
class IngestReport:
    """Outcome of one ingest (paths absolute; ``status`` archived | already-archived)."""

    pass_id: str
    satellite: str
    status: str
    archive_dir: str
    manifest: str
    aos: str
    los: str
    channels: tuple[dict, ...]
    bytes: int
    seconds: float
    moved: bool = True          # False when the archive was copied across file systems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


@dataclass
class _Check:
    name: str
    file: str
    expected_bytes: int | None
    expected_sha256: str | None
    actual_bytes: int | None = None
    actual_sha256: str | None = None
    problem: str | None = None
    extra: dict = field(default_factory=dict)


def sha256_file(path: Path) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while b := f.read(_CHUNK):
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def _parse_utc(s: Any, path: Path, field: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(str(s).replace("Z", "+00:00"))
    except ValueError:
        raise ManifestError(f"not an ISO-8601 UTC time: {s!r}", path=path, field=field) from None
    if t.tzinfo is None:
        raise ManifestError(f"time without zone: {s!r} (ICD §1: UTC)", path=path, field=field)
    return t.astimezone(dt.timezone.utc)


def read_manifest(path: str | Path, cfg=None) -> dict[str, Any]:
    """Parse and check a pass manifest (ICD §1). Raises ManifestError naming file and field."""
    path = Path(path)
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError("pass manifest not found", path=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"cannot read pass manifest ({e})", path=path) from None
    except ValueError as e:
        raise ManifestError(f"pass manifest is not JSON ({e})", path=path) from None
    if not isinstance(m, dict):
        raise ManifestError("pass manifest is not a JSON object", path=path)
    for k in MANIFEST_KEYS:
        if k not in m:
            raise ManifestError("required key missing (ICD §1)", path=path, field=k)
    pid = m["pass_id"]
    if not isinstance(pid, str) or not pid or "/" in pid or pid.startswith("."):
        raise ManifestError(f"pass_id {pid!r} is not a usable name", path=path, field="pass_id")
    if path.name != f"{pid}.json":
        raise ManifestError(f"manifest file name must be <pass_id>.json = {pid}.json (ICD §1)",
                            path=path, field="pass_id")
    aos, los = _parse_utc(m["aos"], path, "aos"), _parse_utc(m["los"], path, "los")
    if los <= aos:
        raise ManifestError(f"LOS {m['los']} is not after AOS {m['aos']}", path=path, field="los")
    chans = m["channels"]
    if not isinstance(chans, list) or not chans:
        raise ManifestError("channels must be a non-empty list", path=path, field="channels")
    seen = set()
    for i, c in enumerate(chans):
        if not isinstance(c, dict):
            raise ManifestError("channel entry is not an object", path=path, field=f"channels[{i}]")
        for k in CHANNEL_KEYS:
            if k not in c:
                raise ManifestError("required key missing", path=path, field=f"channels[{i}].{k}")
        f = c["file"]
        if not isinstance(f, str) or Path(f).name != f or f in (SUMS, path.name) or f.startswith("."):
            raise ManifestError(f"channel file {f!r} must be a plain file name beside the manifest",
                                path=path, field=f"channels[{i}].file")
        if f in seen:
            raise ManifestError(f"channel file {f!r} listed twice", path=path, field=f"channels[{i}].file")
        seen.add(f)
        if not isinstance(c["bytes"], int) or c["bytes"] < 0:
            raise ManifestError(f"bytes {c['bytes']!r} is not a size", path=path, field=f"channels[{i}].bytes")
        s = str(c["sha256"]).lower()
        if len(s) != 64 or any(ch not in "0123456789abcdef" for ch in s):
            raise ManifestError("sha256 is not 64 hex digits", path=path, field=f"channels[{i}].sha256")
    if cfg is not None:
        try:
            sat = cfg.satellite(str(m["satellite"]))
        except ConfigError:
            raise ManifestError(f"satellite {m['satellite']!r} is not configured at this station",
                                path=path, field="satellite") from None
        if int(m["norad_id"]) != sat.norad_id:
            raise ManifestError(f"norad_id {m['norad_id']} is not {sat.name}'s ({sat.norad_id})",
                                path=path, field="norad_id")
        m["satellite"] = sat.name
    m["_aos"], m["_los"] = aos, los
    return m


def archive_dir_for(cfg, satellite: str, aos: dt.datetime, pass_id: str, archive_root: Path | None = None) -> Path:
    root = Path(archive_root) if archive_root else cfg.directory("archive")
    return root / satellite / f"{aos:%Y}" / f"{aos:%m}" / pass_id


def _move(src: Path, dst: Path) -> bool:
    """Rename ``src`` to ``dst`` (True), or copy+fsync then unlink across file systems (False)."""
    try:
        os.replace(src, dst)
        return True
    except OSError as e:
        if e.errno != 18:          # EXDEV
            raise
    tmp = dst.with_name(dst.name + ".part")
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        shutil.copyfileobj(fi, fo, _CHUNK)
        fo.flush()
        os.fsync(fo.fileno())
    os.replace(tmp, dst)
    src.unlink()
    return False


def _make_read_only(d: Path) -> None:
    for p in d.iterdir():
        p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    d.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def _quarantine(cfg, quarantine_root: Path | None, pass_id: str, files: list[Path], err: SrdError,
                checks: list[_Check], manifest_text: str | None) -> Path:
    root = Path(quarantine_root) if quarantine_root else cfg.directory("quarantine")
    root.mkdir(parents=True, exist_ok=True)
    base = root / (pass_id or "unnamed")
    q, n = base, 1
    while True:
        try:
            q.mkdir()
            break
        except FileExistsError:
            n += 1
            q = base.with_name(f"{base.name}-{n}")
    for f in files:
        if f.exists():
            _move(f, q / f.name)
    reason = {"pass_id": pass_id, "quarantined_at": dt.datetime.now(dt.timezone.utc).isoformat(),
              "reason": err.message, "error": err.to_dict(),
              "files": [asdict(c) for c in checks]}
    if manifest_text is not None and not (q / f"{pass_id}.json").exists():
        (q / "manifest-as-landed.json").write_text(manifest_text)
    tmp = q / ".reason.json.tmp"
    tmp.write_text(json.dumps(reason, indent=2, default=str))
    os.replace(tmp, q / "reason.json")
    return q


def verify_archive(pass_dir: str | Path) -> list[str]:
    """Re-hash every file listed in ``SHA256SUMS`` of an archived pass; returns the names
    checked. Raises ChecksumError on the first mismatch (names the file)."""
    d = Path(pass_dir)
    try:
        lines = (d / SUMS).read_text().splitlines()
    except OSError as e:
        raise StorageError(f"archived pass has no readable {SUMS} ({e.strerror})", path=d) from None
    names = []
    for ln in lines:
        want, name = ln.split(None, 1)
        name = name.lstrip("*")
        got, _ = sha256_file(d / name)
        if got != want:
            raise ChecksumError(f"archived file changed: sha256 {got[:16]}…, {SUMS} says {want[:16]}…",
                                path=d / name, field="sha256")
        names.append(name)
    return names


def ingest(manifest: str | Path, cfg, *, archive_root: str | Path | None = None,
           quarantine_root: str | Path | None = None) -> IngestReport:
    """Move the pass of ``manifest`` (in the landing directory) into the archive, verified.

    Returns an :class:`IngestReport`; raises ManifestError/ChecksumError after quarantining
    a bad pass (``error.context['quarantine']`` is where it went). Two ingests of the same
    pass (a re-announced pass, a resumed flow) take turns on a lock file
    ``<archive>/.locks/<pass_id>.lock``; the second finds the pass archived."""
    import fcntl
    root = Path(archive_root) if archive_root else cfg.directory("archive")
    locks = root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = Path(manifest).name
    with open(locks / f"{name[:-5] if name.endswith('.json') else name}.lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        return _ingest(manifest, cfg, archive_root, quarantine_root)


def _ingest(manifest, cfg, archive_root, quarantine_root) -> IngestReport:
    t0 = time.monotonic()
    manifest = Path(manifest).resolve()
    landing = manifest.parent
    text = None
    try:
        text = manifest.read_text()
    except OSError:
        pass
    pass_id_guess = manifest.name[:-5] if manifest.name.endswith(".json") else manifest.name
    if text is None:
        # already moved by an earlier ingest (a flow re-run after a crash): the archive has it
        root = Path(archive_root) if archive_root else cfg.directory("archive")
        hits = [p for p in root.glob(f"*/[0-9][0-9][0-9][0-9]/[0-9][0-9]/{pass_id_guess}/{manifest.name}")]
        if len(hits) == 1:
            m = read_manifest(hits[0], cfg)
            return _already_archived(m, hits[0], hits[0].parent, t0)
    try:
        m = read_manifest(manifest, cfg)
    except ManifestError as e:
        if text is None:          # nothing landed: nothing to quarantine
            raise
        files = [manifest]
        try:
            for c in json.loads(text).get("channels", []):
                f = landing / Path(str(c.get("file", ""))).name
                if c.get("file") and f.is_file():
                    files.append(f)
        except (ValueError, AttributeError, TypeError):
            pass
        q = _quarantine(cfg, quarantine_root, pass_id_guess, files, e, [], None)
        e.context["quarantine"] = str(q)
        raise
    pid, sat = m["pass_id"], m["satellite"]
    final = archive_dir_for(cfg, sat, m["_aos"], pid, Path(archive_root) if archive_root else None)
    chans = m["channels"]
    if final.exists():
        return _already_archived(m, manifest, final, t0)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{pid}.tmp-{os.getpid()}"
    # resume a crashed ingest of the same pass (its tmp dir from another pid)
    stale = [p for p in final.parent.glob(f".{pid}.tmp-*") if p != tmp]
    tmp.mkdir(exist_ok=True)
    for s in stale:
        for p in s.iterdir():
            if not (tmp / p.name).exists():
                os.replace(p, tmp / p.name)
        shutil.rmtree(s, ignore_errors=True)

    checks = [_Check(c["name"], c["file"], c["bytes"], str(c["sha256"]).lower()) for c in chans]
    moved_all = True
    for c in checks:            # move first: nothing reads the landing copy
        src, dst = landing / c.file, tmp / c.file
        if src.is_file():
            moved_all &= _move(src, dst)
    problems = []
    for c in checks:            # then verify the archived copies
        p = tmp / c.file
        if not p.is_file():
            c.problem = "missing"
            problems.append(f"{c.name}: {c.file} missing")
            continue
        c.actual_sha256, c.actual_bytes = sha256_file(p)
        if c.actual_bytes != c.expected_bytes:
            c.problem = "size"
            problems.append(f"{c.name}: {c.actual_bytes} bytes, manifest says {c.expected_bytes}")
        elif c.actual_sha256 != c.expected_sha256:
            c.problem = "sha256"
            problems.append(f"{c.name}: sha256 {c.actual_sha256[:16]}…, manifest {c.expected_sha256[:16]}…")
    if problems:
        missing = any(c.problem in ("missing", "size") for c in checks)
        cls = ManifestError if missing else ChecksumError
        err = cls(("incomplete pass: " if missing else "corrupt pass: ") + "; ".join(problems),
                  path=manifest, field="channels")
        files = [tmp / c.file for c in checks] + [manifest]
        q = _quarantine(cfg, quarantine_root, pid, files, err, checks, None)
        shutil.rmtree(tmp, ignore_errors=True)
        err.context["quarantine"] = str(q)
        raise err
    moved_all &= _move(manifest, tmp / manifest.name)
    man_sha, _ = sha256_file(tmp / manifest.name)
    sums = "".join(f"{c.actual_sha256}  {c.file}\n" for c in checks) + f"{man_sha}  {manifest.name}\n"
    (tmp / SUMS).write_text(sums)
    _make_read_only(tmp)
    try:
        os.rename(tmp, final)
    except OSError as e:
        raise StorageError(f"cannot rename the archived pass into place ({e.strerror})", path=final) from None
    return IngestReport(pid, sat, "archived", str(final), str(final / manifest.name),
                        m["_aos"].isoformat(), m["_los"].isoformat(),
                        tuple({"name": c.name, "file": c.file, "bytes": c.actual_bytes,
                               "sha256": c.actual_sha256} for c in checks),
                        sum(c.actual_bytes or 0 for c in checks), round(time.monotonic() - t0, 3), moved_all)


def _already_archived(m: dict, manifest: Path, final: Path, t0: float) -> IngestReport:
    """The pass is archived: accept a byte-identical landing duplicate (removing it), refuse
    a different pass under the same id (left in landing, ManifestError)."""
    archived = final / manifest.name
    if manifest.exists() and manifest.resolve() != archived.resolve():
        if archived.read_bytes() != manifest.read_bytes():
            raise ManifestError(f"pass {m['pass_id']} is already archived at {final} with a "
                                "different manifest; not ingesting over it", path=manifest, field="pass_id")
        for c in m["channels"]:
            f = manifest.parent / c["file"]
            if f.is_file() and sha256_file(f)[0] != str(c["sha256"]).lower():
                raise ManifestError(f"landing copy of {c['file']} differs from the archived pass",
                                    path=f, field="sha256")
        for c in m["channels"]:
            (manifest.parent / c["file"]).unlink(missing_ok=True)
        manifest.unlink()
    return IngestReport(m["pass_id"], m["satellite"], "already-archived", str(final), str(archived),
                        m["_aos"].isoformat(), m["_los"].isoformat(),
                        tuple({"name": c["name"], "file": c["file"], "bytes": c["bytes"],
                               "sha256": str(c["sha256"]).lower()} for c in m["channels"]),
                        sum(int(c["bytes"]) for c in m["channels"]), round(time.monotonic() - t0, 3), False)


@dataclass(frozen=True)
class ArchivedPass:
    pass_id: str
    satellite: str
    aos: dt.datetime
    los: dt.datetime
    manifest: Path

    def to_dict(self) -> dict:
        return {"pass_id": self.pass_id, "satellite": self.satellite, "aos": self.aos.isoformat(),
                "los": self.los.isoformat(), "manifest": str(self.manifest)}


def list_archived(cfg, since: dt.datetime | None = None, until: dt.datetime | None = None,
                  satellites: list[str] | None = None, archive_root: str | Path | None = None) -> list[ArchivedPass]:
    """Archived passes whose AOS is in [since, until] (UTC), optionally of some satellites,
    in AOS order. Only complete archive directories (renamed into place) are listed."""
    root = Path(archive_root) if archive_root else cfg.directory("archive")
    want = {cfg.satellite(s).name for s in satellites} if satellites else None
    out = []
    if not root.is_dir():
        return out
    for sat_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if want is not None and sat_dir.name not in want:
            continue
        for pdir in sorted(sat_dir.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/*")):
            if pdir.name.startswith(".") or not (pdir / SUMS).exists():
                continue
            mf = pdir / f"{pdir.name}.json"
            m = read_manifest(mf)
            aos, los = m["_aos"], m["_los"]
            if (since is None or aos >= since) and (until is None or aos <= until):
                out.append(ArchivedPass(m["pass_id"], sat_dir.name, aos, los, mf))
    return sorted(out, key=lambda a: (a.aos, a.pass_id))
