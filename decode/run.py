"""The decode stage: raw channel bits → Level 0 directory + ``decode_report.json``.

``run(manifest_or_channel_file, out_dir, cfg) -> DecodeReport``

1. Input: a pass manifest (ICD §1: satellite, pass_id, channels with bytes and SHA-256) or a
   bare channel file (satellite from ``satellite=`` or from the SCID of its first good frames).
   Manifest problems (unreadable JSON, missing fields, missing files, wrong sizes, SHA-256
   mismatch, unknown satellite) are :class:`~srd.errors.ManifestError` /
   :class:`~srd.errors.ChecksumError` entries in a ``failed`` report.
2. Per channel, streaming in ``chunk_bytes`` pieces (bounded memory whatever the pass size):
   :class:`decode.sync.ChannelDecoder` (sync, derandomise, RS) → :class:`decode.frames.FrameDemux`
   (AOS checks, VC demux, count gaps) → :class:`decode.packets.PacketAssembler` per VC →
   per-APID packet files (image and other APIDs) or the ancillary merger (the ancillary VC is
   sent on both channels). The SHA-256 of each file is computed on the same read.
3. Ancillary packets merged and de-duplicated, written in time order + decoded arrays.
4. Image payload: key check, decryption, decompression into band images (:mod:`decode.payload`).
5. Report written beside the outputs, the directory renamed into place.

``ccsds_only``: another mission's CCSDS stream (e.g. Suomi-NPP) — frames and packets are checked
generically (no VC/APID maps, no ICD time code), every APID is written as a packet file, no
ancillary or image products.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from decode import formats as F
from decode.frames import FrameDemux, parse_headers
from decode.level0 import (PacketFiles, commit, packet_file_name, temp_dir,
                           time_order_packet_file, write_ancillary)
from decode.packets import (PH, SH, AncillaryMerger, ApidTracker, MpduStats, PacketAssembler,
                            Packet)
from decode.report import (STATUS_DATA_LOSS, STATUS_FAILED, STATUS_OK, ChannelReport,
                           DecodeReport)
from srd.errors import (ChecksumError, ManifestError, TelemetryError,
                        UnknownSatelliteError)

DEFAULT_CHUNK = 8 << 20
#: passes at least this large decode their channels in parallel processes: starting a spawned
#: worker (imports, cached kernels) costs seconds, worth it only for multi-GB passes
PARALLEL_MIN_BYTES = 2 << 30
MANIFEST_FIELDS = {"satellite": str, "pass_id": str, "channels": list}


@dataclass
class _Channel:
    name: str
    path: Path
    bytes: int | None = None
    sha256: str | None = None


@dataclass
class _Input:
    pass_id: str
    satellite: object | None
    channels: list[_Channel] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------- input resolution

def read_manifest(path: Path, cfg) -> _Input:
    """Parse and check a pass manifest (ICD §1); raises :class:`ManifestError`."""
    try:
        m = json.loads(Path(path).read_text())
    except OSError as e:
        raise ManifestError(f"cannot read the manifest ({e.strerror})", path=path) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"not valid JSON ({e})", path=path) from None
    if not isinstance(m, dict):
        raise ManifestError("manifest is not a JSON object", path=path)
    for k, t in MANIFEST_FIELDS.items():
        if k not in m:
            raise ManifestError("required field is missing", path=path, field=k)
        if not isinstance(m[k], t):
            raise ManifestError(f"must be a {t.__name__}", path=path, field=k)
    pid = m["pass_id"]
    if not pid or pid.startswith(".") or any(c in pid for c in "/\\\0") or pid != pid.strip():
        raise ManifestError(f"pass_id {pid!r} is not a plain directory name", path=path, field="pass_id")
    try:
        sat = cfg.satellite(m["satellite"])
    except UnknownSatelliteError as e:
        raise ManifestError(f"satellite {m['satellite']!r} is not configured ({e.message})",
                            path=path, field="satellite") from None
    inp = _Input(pass_id=m["pass_id"], satellite=sat)
    if not m["channels"]:
        raise ManifestError("no channel listed", path=path, field="channels")
    names = set()
    for i, c in enumerate(m["channels"]):
        fld = f"channels[{i}]"
        if not isinstance(c, dict) or not all(k in c for k in ("name", "file", "bytes", "sha256")):
            raise ManifestError("channel entry needs name, file, bytes, sha256", path=path, field=fld)
        if c["name"] in names:
            raise ManifestError(f"channel {c['name']!r} listed twice", path=path, field=fld)
        if c["name"] not in sat.virtual_channels.modules_by_channel:
            raise ManifestError(f"channel {c['name']!r} not in the profile of {sat.name} "
                                f"({sorted(sat.virtual_channels.modules_by_channel)})", path=path,
                                field=f"{fld}.name")
        names.add(c["name"])
        f = Path(path).parent / str(c["file"])
        if not f.is_file():
            raise ManifestError(f"channel file {f} not found", path=path, field=f"{fld}.file")
        if not isinstance(c["bytes"], int) or f.stat().st_size != c["bytes"]:
            raise ManifestError(f"channel {c['name']}: file has {f.stat().st_size} bytes, manifest "
                                f"says {c['bytes']}", path=path, field=f"{fld}.bytes")
        inp.channels.append(_Channel(c["name"], f, c["bytes"], str(c["sha256"]).lower()))
    return inp


def detect_scid(path: Path, coding, limit: int = 32 << 20) -> int | None:
    """Modal SCID of the first RS-valid AOS frames of a channel file (None if none in ``limit``)."""
    from decode.sync import ChannelDecoder
    dec = ChannelDecoder(coding)
    seen: dict[int, int] = {}
    with open(path, "rb") as f:
        read = 0
        while read < limit:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            read += len(chunk)
            b = dec.work(chunk)
            if len(b.frames):
                h = parse_headers(np.asarray(b.frames)[np.asarray(b.ok, bool)])
                for s in h["scid"][h["version"] == F.AOS_VERSION_VALUE].tolist():
                    seen[s] = seen.get(s, 0) + 1
                if sum(seen.values()) >= 16:
                    break
    return max(seen, key=seen.get) if seen else None


def _channel_name_from_file(path: Path, sat) -> str | None:
    stem = path.stem
    for name in sat.virtual_channels.modules_by_channel:
        if stem.endswith(f"_{name}"):
            return name
    return None


# ---------------------------------------------------------------------------- per channel

class _Sink:
    """Where packets go: ancillary merger or the per-APID packet files (+ accounting)."""

    def __init__(self, pkt_files: PacketFiles, sat, ccsds_only: bool) -> None:
        self.files = pkt_files
        self.ccsds_only = ccsds_only
        self.anc_vc = None if ccsds_only else sat.virtual_channels.ancillary
        self.ancillary: list[Packet] = []        # merged across channels by the caller
        self.tracker = ApidTracker(expected_length=None if ccsds_only else _expected_length(sat),
                                   timed=not ccsds_only)

    def put(self, pkts: list[Packet]) -> None:
        for p in pkts:
            if p.vcid == self.anc_vc:
                self.ancillary.append(p)
            else:
                self.tracker.add(p)
                self.files.write(p)


def _expected_length(sat) -> Callable[[int], int | None]:
    a = sat.apids
    fixed = {a.ephemeris: F.EPHEMERIS.itemsize, a.attitude: F.ATTITUDE.itemsize,
             a.housekeeping: F.HOUSEKEEPING.itemsize, a.datatake: F.DATATAKE_START.itemsize}
    fixed = {k: SH + v for k, v in fixed.items()}
    return fixed.get


def _apid_ok(sat, vcid: int) -> Callable[[int], bool]:
    vcm, a = sat.virtual_channels, sat.apids
    if vcid == vcm.ancillary:
        allowed = {a.ephemeris, a.attitude, a.housekeeping, a.datatake}
        return allowed.__contains__
    m = vcm.module_of_vc(vcid)
    allowed = {a.image(m, b) for b in a.band_offset}
    return allowed.__contains__


class ChannelPipeline:
    """Frames of one physical channel → packets into ``sink`` (AOS checks, VC demux, M_PDU)."""

    def __init__(self, sat, channel: str | None, sink: _Sink, ccsds_only: bool) -> None:
        vcm = sat.virtual_channels
        if ccsds_only:
            allowed = None
        elif channel is None:
            allowed = {vcm.ancillary, vcm.idle, *vcm.image_by_module.values()}
        else:
            allowed = vcm.vcids_of_channel(channel)
        self.sat, self.sink, self.ccsds_only = sat, sink, ccsds_only
        self.demux = FrameDemux(sat.scid, vcm.idle, allowed)
        self.zone = sat.coding.frame_length - F.AOS_HEADER_LENGTH - F.MPDU_HEADER_LENGTH
        self.asm: dict[int, PacketAssembler] = {}
        self.uncorrectable = 0

    def consume(self, frames, ok) -> None:
        """One batch: ``frames`` (n, frame_length) uint8 after RS, ``ok`` (n,) bool."""
        frames = np.asarray(frames)
        if frames.shape[0] == 0:
            return
        ok = np.asarray(ok, bool)
        self.uncorrectable += int((~ok).sum())
        for run in self.demux.feed(frames, ok):
            a = self.asm.get(run.vcid)
            if a is None:
                a = self.asm[run.vcid] = PacketAssembler(
                    run.vcid, self.zone, None if self.ccsds_only else _apid_ok(self.sat, run.vcid),
                    self.sat.apids.idle)
            self.sink.put(a.feed(run))

    def vc_report(self) -> dict:
        out = {}
        for v, s in sorted(self.demux.stats.vcs.items()):
            d = s.to_dict()
            d.update(self.asm[v].stats.to_dict() if v in self.asm else MpduStats().to_dict())
            out[v] = d
        return out


def _decode_channel(ch: _Channel, sat, sink: _Sink, ccsds_only: bool, chunk_bytes: int,
                    progress: Callable[[int], None] | None) -> tuple[ChannelReport, list[dict]]:
    from decode.sync import ChannelDecoder
    coding = sat.coding
    dec = ChannelDecoder(coding)
    pipe = ChannelPipeline(sat, ch.name, sink, ccsds_only)
    sha = hashlib.sha256()
    total = 0
    errors: list[dict] = []

    def consume(batch) -> None:
        pipe.consume(batch.frames, batch.ok)

    try:
        f = open(ch.path, "rb")
    except OSError as e:
        raise TelemetryError(f"cannot read channel file ({e.strerror})", path=ch.path) from None
    with f:
        while True:
            chunk = f.read(chunk_bytes)
            if not chunk:
                break
            sha.update(chunk)
            total += len(chunk)
            consume(dec.work(chunk))
            if progress:
                progress(len(chunk))
    consume(dec.flush())
    st = dec.stats
    fs = pipe.demux.stats
    vcs = pipe.vc_report()
    losses = list(st.sync_losses)
    trunc = st.truncated
    rep = ChannelReport(
        name=ch.name or "?", file=str(ch.path), bytes=total, cadus=int(st.cadus),
        sync_losses=len(losses), sync_loss_offsets=tuple(tuple(x) for x in losses[:50]),
        acquisitions=len(st.acquisitions), inverted_stretches=len(st.inverted_stretches),
        inverted_stretch_list=tuple(tuple(x) for x in st.inverted_stretches[:50]),
        slips=len(st.slips), slip_list=tuple(tuple(x) for x in st.slips[:50]),
        flywheel_cadus=int(st.flywheel_cadus),
        rs_corrected_symbols=int(st.rs_corrected_symbols),
        rs_uncorrectable_codewords=int(st.rs_uncorrectable_codewords),
        rs_uncorrectable_codeblocks=int(pipe.uncorrectable),
        truncated_offset=None if not trunc else int(trunc[0]),
        truncated_bytes=0 if not trunc else int(trunc[1]),
        noise_bytes=int(st.noise_bytes),
        frames=fs.frames, wrong_version=fs.wrong_version, wrong_scid=fs.wrong_scid,
        unexpected_vcid=fs.unexpected_vcid, idle_frames=fs.idle_frames,
        scids_seen=dict(fs.scids_seen), vcs=vcs, sha256=sha.hexdigest())
    where = f"channel {ch.name}" if ch.name else "bare channel file"
    if total == 0:
        errors.append(TelemetryError(f"{where} is empty", path=ch.path).to_dict())
    elif rep.cadus == 0:
        errors.append(TelemetryError(f"{where}: no CADU found in {total} bytes (noise, or not this "
                                     f"channel coding: ASM {coding.asm})", path=ch.path).to_dict())
    elif fs.frames == 0:
        errors.append(TelemetryError(f"{where}: {rep.cadus} CADUs but none passed Reed-Solomon",
                                     path=ch.path).to_dict())
    elif fs.wrong_scid == fs.frames - fs.wrong_version:
        seen = ", ".join(f"{k} ({v} frames)" for k, v in sorted(fs.scids_seen.items()))
        errors.append(TelemetryError(f"{where}: no frame of {sat.name} (SCID {sat.scid}); SCIDs seen: {seen}",
                                     path=ch.path, field="scid").to_dict())
    if ch.sha256 is not None and rep.sha256 != ch.sha256:
        errors.append(ChecksumError(f"{where}: SHA-256 {rep.sha256[:16]}… does not match the manifest "
                                    f"({ch.sha256[:16]}…); decoded anyway, do not trust", path=ch.path,
                                    field="sha256").to_dict())
    return rep, errors


@dataclass
class _ChannelResult:
    report: ChannelReport | None
    errors: list
    ancillary: list            # Packet of the ancillary VC (merged by the parent)
    apid_stats: dict           # APID -> ApidStats of the packets written by this channel
    packet_dir: Path


def _channel_job(ch: _Channel, sat, ccsds_only: bool, chunk_bytes: int, packet_dir: Path,
                 progress: Callable[[int], None] | None) -> _ChannelResult:
    """Decode one channel into its own packet directory (runs in-process or in a worker)."""
    files = PacketFiles(packet_dir)
    sink = _Sink(files, sat, ccsds_only)
    try:
        rep, errs = _decode_channel(ch, sat, sink, ccsds_only, chunk_bytes, progress)
    except TelemetryError as e:                     # unreadable channel file
        rep, errs = None, [e.to_dict()]
    finally:
        files.close()
    return _ChannelResult(rep, errs, sink.ancillary, dict(sink.tracker.stats), packet_dir)


_PROGRESS = None                # shared byte counter of the worker processes


def _worker_init(counter) -> None:
    global _PROGRESS
    _PROGRESS = counter


def _worker_progress(n: int) -> None:
    with _PROGRESS.get_lock():
        _PROGRESS.value += n


def _worker(ch, sat, ccsds_only, chunk_bytes, packet_dir) -> _ChannelResult:
    return _channel_job(ch, sat, ccsds_only, chunk_bytes, packet_dir, _worker_progress)


def _run_channels(channels: list[_Channel], sat, ccsds_only: bool, chunk_bytes: int, tmp: Path,
                  progress, workers: int) -> list[_ChannelResult]:
    """Decode every channel, in ``workers`` processes when > 1 (one channel per core)."""
    dirs = [tmp / f".packets-{i}" for i in range(len(channels))]
    if workers <= 1 or len(channels) <= 1:
        return [_channel_job(c, sat, ccsds_only, chunk_bytes, d, progress) for c, d in zip(channels, dirs)]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, wait
    ctx = mp.get_context("spawn")           # no fork of a possibly threaded parent (Prefect, rich)
    counter = ctx.Value("q", 0)
    seen = 0
    with ProcessPoolExecutor(max_workers=min(workers, len(channels)), mp_context=ctx,
                             initializer=_worker_init, initargs=(counter,)) as ex:
        futs = [ex.submit(_worker, c, sat, ccsds_only, chunk_bytes, d) for c, d in zip(channels, dirs)]
        pending = set(futs)
        while pending:
            _, pending = wait(pending, timeout=0.25)
            if progress:
                v = counter.value
                if v > seen:
                    progress(v - seen)
                    seen = v
        return [f.result() for f in futs]


def _merge_packet_dirs(results: list[_ChannelResult], dest: PacketFiles) -> None:
    """Move each channel's packet files into ``dest`` (image APIDs are per channel; an APID on
    several channels — other missions — is concatenated channel after channel)."""
    for r in results:
        if not r.packet_dir.exists():
            continue
        for f in sorted(r.packet_dir.iterdir()):
            target = dest.dir / f.name
            if not target.exists():
                os.replace(f, target)
            else:
                with open(target, "ab") as out, open(f, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
                f.unlink()
        r.packet_dir.rmdir()


# ---------------------------------------------------------------------------- the stage

def run(source: str | Path, out_dir: str | Path, cfg, *, satellite: str | None = None,
        ccsds_only: bool = False, satellite_profile=None, chunk_bytes: int = DEFAULT_CHUNK,
        progress: Callable[[int], None] | None = None, workers: int | None = None) -> DecodeReport:
    """Decode one pass (manifest) or one channel file into ``<out_dir>/<pass_id>/``.

    ``satellite``: configured satellite name (bare channel files; default: by SCID).
    ``satellite_profile``: a :class:`station_config.models.Satellite` used as is (other
    missions, tests). ``progress(n_bytes)`` is called as chunks are decoded. ``workers``:
    processes decoding channels in parallel (default: one per channel and core when the pass
    holds at least :data:`PARALLEL_MIN_BYTES`; 1 = in-process). Never raises for bad telemetry:
    problems are in ``report.errors`` and ``report.status``.
    """
    t0 = time.perf_counter()
    source = Path(source)
    out_dir = Path(out_dir)
    try:
        inp = _resolve(source, cfg, satellite, satellite_profile)
    except (ManifestError, TelemetryError, UnknownSatelliteError) as e:
        pid = source.stem or "pass"
        return _failed(pid, source, out_dir, [e.to_dict()], t0, None)
    tmp = temp_dir(out_dir, inp.pass_id)
    try:
        if workers is None:
            size = sum(c.path.stat().st_size for c in inp.channels if c.path.is_file())
            workers = min(len(inp.channels), os.cpu_count() or 1) if size >= PARALLEL_MIN_BYTES else 1
        report = _decode_pass(inp, tmp, source, out_dir, cfg, ccsds_only, chunk_bytes, progress, t0,
                              workers)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)        # nothing half-written survives a crash
        raise
    commit(tmp, out_dir, inp.pass_id)
    return report


def _decode_pass(inp: _Input, tmp: Path, source: Path, out_dir: Path, cfg, ccsds_only: bool,
                 chunk_bytes: int, progress, t0: float, workers: int = 1) -> DecodeReport:
    sat = inp.satellite
    pkt_files = PacketFiles(tmp / "packets")
    errors, warnings = list(inp.errors), []
    results = _run_channels(inp.channels, sat, ccsds_only, chunk_bytes, tmp, progress, workers)
    channels = [r.report for r in results if r.report is not None]
    tracker_stats: dict = {}
    merger = AncillaryMerger()
    for r in results:
        errors += r.errors
        for p in r.ancillary:
            merger.add(p)
        for a, st in r.apid_stats.items():
            if a in tracker_stats:                        # same APID on several channels
                t = tracker_stats[a]
                for k in ("packets", "sequence_gaps", "packets_missing", "length_errors", "duplicates",
                          "out_of_order", "bytes"):
                    setattr(t, k, getattr(t, k) + getattr(st, k))
            else:
                tracker_stats[a] = st
    _merge_packet_dirs(results, pkt_files)
    # playback interleaved with real time: restore time order, drop replayed duplicates, recount
    for a, st in list(tracker_stats.items()):
        if st.out_of_order and not ccsds_only:
            fresh = ApidTracker(expected_length=_expected_length(sat), timed=True)
            dups = time_order_packet_file(pkt_files.dir / packet_file_name(a), fresh)
            new = fresh.stats.get(a)
            if new is not None:
                new.duplicates = st.duplicates + dups
                tracker_stats[a] = new
            warnings.append(f"APID {a:#05x}: {st.out_of_order} packet(s) arrived out of time order "
                            f"(playback); packet file rewritten in time order, {dups} duplicate(s) removed")
    try:
        # ancillary merge (time order), then its accounting and files
        anc_pkts = list(merger.merged())
        anc_tracker = ApidTracker(expected_length=None if ccsds_only else _expected_length(sat), timed=True)
        for p in anc_pkts:
            anc_tracker.add(p)
            pkt_files.write(p)
    finally:
        pkt_files.close()
    apid_stats = dict(tracker_stats)
    for a, s in anc_tracker.stats.items():
        s.duplicates = merger.duplicates.get(a, 0)
        apid_stats[a] = s
    for a, n in merger.conflicts.items():
        errors.append({"error": "DecodeError", "message": f"APID {a:#05x}: {n} ancillary packet(s) differ "
                       "between channels under the same (time, sequence count); first copy kept"})
    bands, datatakes, anc_rows = [], [], {}
    if not ccsds_only:
        from decode.payload import KeyRing, build_images, parse_datatake
        dts = {}
        for p in anc_pkts:
            if p.apid == sat.apids.datatake and len(p.data) == PH + SH + F.DATATAKE_START.itemsize:
                d = parse_datatake(p)
                dts.setdefault(d.datatake, d)
        ring = KeyRing(cfg, dts)
        ring.verify_all()
        results = build_images(tmp / "packets", tmp / "image", cfg, sat, ring)
        for d in dts.values():
            if d.error:
                errors.append({"error": "KeyMissingError", "message": f"datatake {d.datatake}: {d.error}; image "
                               "lines masked undecryptable (status 2), packets kept as transmitted",
                               "datatake": d.datatake, "key_id": d.key_id})
        for u in sorted(ring.unverified):
            warnings.append(f"datatake {u}: no datatake-start packet received, key used without "
                            "key-check-value verification")
        datatakes = [d.to_dict() for d in sorted(dts.values(), key=lambda d: d.datatake)]
        anc_rows = write_ancillary(tmp / "ancillary", anc_pkts, sat.apids, datatakes)
        bands = [r.to_dict() for r in results]
        for r in results:
            for e in r.errors:
                errors.append({"error": "CompressionError", **e})
    for c in channels:
        for k, what in (("wrong_scid", "frames of another spacecraft (SCID)"), ("wrong_version", "frames with a "
                        "transfer frame version other than AOS"), ("unexpected_vcid", "frames on a VC outside the "
                        "channel's VC map")):
            if getattr(c, k) and not all(c.frames - c.wrong_scid - c.wrong_version <= 0 for c in channels):
                warnings.append(f"channel {c.name}: {getattr(c, k)} RS-valid {what} ignored")
    lost = _data_lost(channels, apid_stats, bands)
    failed = not channels or all(c.frames - c.wrong_scid - c.wrong_version <= 0 for c in channels)
    status = STATUS_FAILED if failed else (STATUS_DATA_LOSS if (lost or errors) else STATUS_OK)
    total = sum(c.bytes for c in channels)
    wall = time.perf_counter() - t0
    report = DecodeReport(
        pass_id=inp.pass_id, satellite=sat.name, scid=sat.scid, input=str(source),
        level0_dir=str(out_dir / inp.pass_id), status=status, lost=bool(lost), errors=tuple(errors),
        warnings=tuple(warnings), channels=tuple(channels),
        apids={f"{a:#05x}": s.to_dict() for a, s in sorted(apid_stats.items())},
        bands=tuple(bands), datatakes=tuple(datatakes), ancillary_rows=anc_rows, ccsds_only=ccsds_only,
        channel_bytes=total, wall_time_s=round(wall, 3),
        throughput_mbps=round(total * 8 / wall / 1e6, 2) if wall > 0 else 0.0,
        peak_rss_mb=_peak_rss_mb())
    report.write(tmp / "decode_report.json")
    return report


def _data_lost(channels, apid_stats, bands) -> bool:
    for c in channels:
        if c.rs_uncorrectable_codeblocks or c.truncated_bytes:
            return True
        for v in c.vcs.values():
            if v["frames_missing"] or v["count_errors"] or v["packets_cut"] or v["fhp_errors"] or v["header_errors"]:
                return True
    for s in apid_stats.values():
        if s.packets_missing or s.length_errors:
            return True
    # undecryptable lines are not lost: their packets are kept as transmitted (exit code 4)
    return any(b["lines_missing"] or b["lines_decompression_error"] or b["incomplete_units"] for b in bands)


def _resolve(source: Path, cfg, satellite: str | None, profile) -> _Input:
    if source.suffix.lower() == ".json":
        inp = read_manifest(source, cfg)
        if profile is not None:
            inp.satellite = profile
        return inp
    if not source.is_file():
        raise TelemetryError("input not found (a pass manifest .json or a channel file)", path=source)
    if profile is not None:
        sat = profile
    elif satellite:
        sat = cfg.satellite(satellite)
    else:
        any_sat = next(iter(cfg.satellites.values()))
        scid = detect_scid(source, any_sat.coding) if source.stat().st_size else None
        if scid is None:
            # nothing decodable: let the channel pass report what it found (empty, noise)
            sat = any_sat
            inp = _Input(pass_id=source.stem, satellite=sat)
            inp.channels.append(_Channel(_channel_name_from_file(source, sat), source))
            inp.errors.append(TelemetryError("no RS-valid AOS frame to identify the spacecraft; give "
                                             "--satellite", path=source, field="scid").to_dict())
            return inp
        sat = cfg.satellite_by_scid(scid)
        if sat is None:
            raise TelemetryError(f"SCID {scid} is not a configured satellite "
                                 f"({', '.join(f'{s.name}={s.scid}' for s in cfg.satellites.values())}); "
                                 "give --satellite", path=source, field="scid", scid=scid)
    inp = _Input(pass_id=source.stem, satellite=sat)
    inp.channels.append(_Channel(_channel_name_from_file(source, sat), source))
    return inp


def _failed(pass_id: str, source: Path, out_dir: Path, errors: list[dict], t0: float, sat) -> DecodeReport:
    tmp = temp_dir(out_dir, pass_id)
    report = DecodeReport(pass_id=pass_id, satellite=getattr(sat, "name", None), scid=getattr(sat, "scid", None),
                          input=str(source), level0_dir=str(out_dir / pass_id), status=STATUS_FAILED,
                          errors=tuple(errors), wall_time_s=round(time.perf_counter() - t0, 3),
                          peak_rss_mb=_peak_rss_mb())
    report.write(tmp / "decode_report.json")
    commit(tmp, out_dir, pass_id)
    return report


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (MB). Linux ``VmHWM`` first: ``ru_maxrss`` keeps the
    parent's RSS at fork time across exec, so it overstates a child started by a big parent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
