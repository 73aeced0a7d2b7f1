"""The antenna-terminal twin: one simulated pass, from datatake to landing directory.

``run(cfg, out_dir, satellite, start, duration, profile, ...)`` chains, streaming block by
block (the pass is never held in memory):

1. :class:`telemetry.acquisition.Acquisition` — orbit, attitude, pushbroom image blocks and
   the published ancillary records (another module's truth);
2. :class:`telemetry.packetizer.Packetizer` — compression, encryption, space packets
   (ICD §4); every packet is also written, as generated, to the truth sidecar
   ``packets/APID_0x###.pkt`` (the bit-exact reference for decoder tests);
3. :class:`telemetry.framer.ChannelFramer` per channel — AOS frames per VC, paced at the
   channel rate with idle frames (ICD §3); the ancillary VC goes on both channels;
4. :class:`telemetry.channel.ChannelCoder` + :class:`telemetry.channel.ChannelWriter` —
   RS, randomiser, ASM, impairments (ICD §2, §1);
5. :mod:`telemetry.landing` — channel files renamed into place, truth sidecar, and the
   manifest **last** (atomic rename).

Timing: the first frame slot of both channels is at ``t0`` = the earliest of the datatake
start and the first ancillary record (GPS s); a data unit may leave from the moment it exists
(an image block when its last line has been exposed, an ancillary record at its time). AOS
and LOS in the manifest are the file coverage, noise included.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from srd.errors import ConfigError, StorageError
from srd.timescale import gps_to_utc, iso_utc, parse_utc
from telemetry import landing
from telemetry.channel import ChannelCoder, ChannelWriter, Impairments
from telemetry.framer import ChannelFramer
from telemetry.packetizer import Packetizer, Unit

#: frames buffered per channel before RS encoding and writing (bounded memory)
ENCODE_BATCH = 1024


@dataclass(frozen=True)
class SimulationReport:
    """What ``run`` produced (JSON via :meth:`to_dict`, also written to the truth sidecar)."""

    pass_id: str
    manifest: str
    truth_dir: str
    satellite: str
    profile: str
    compression: str
    key_id: int
    aos: str
    los: str
    max_elevation_deg: float
    datatake: dict
    channels: list
    image_blocks: int
    pixels: int
    packets: dict
    image_payload_bytes: int
    compression_ratio: float
    ebn0_db: float
    lock_ratio: float
    impairments: dict
    seconds: float
    mpixel_per_s: float
    telemetry_mb_per_s: float
    summary: str = ""
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class _Downlink:
    """One physical channel: framer → coder → writer, with a frame batch in between."""

    def __init__(self, name: str, framer: ChannelFramer, coder: ChannelCoder, writer: ChannelWriter) -> None:
        self.name, self.framer, self.coder, self.writer = name, framer, coder, writer
        self._frames: list[np.ndarray] = []
        self._n = 0
        self.encode_s = 0.0

    def take(self, frames: np.ndarray, force: bool = False) -> None:
        if len(frames):
            self._frames.append(frames)
            self._n += len(frames)
        if self._n and (force or self._n >= ENCODE_BATCH):
            t = time.perf_counter()
            f = self._frames[0] if len(self._frames) == 1 else np.concatenate(self._frames)
            self.writer.write_cadus(self.coder.encode(f))
            self.encode_s += time.perf_counter() - t
            self._frames, self._n = [], 0

    def advance(self, until: float) -> None:
        fr = self.framer
        while fr.slot_time() < until:            # in batches: memory bounded by ENCODE_BATCH frames
            self.take(fr.advance(min(until, fr.slot_time(fr.slot + ENCODE_BATCH))))


class _PacketTruth:
    """``packets/APID_0x###.pkt``: every space packet as generated, per APID."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.files: dict[int, object] = {}
        self.counts: dict[int, int] = {}

    def write(self, unit: Unit) -> None:
        f = self.files.get(unit.apid)
        if f is None:
            f = self.files[unit.apid] = open(self.root / f"APID_0x{unit.apid:03x}.pkt", "wb")
        for p in unit.packets:
            f.write(p)
        self.counts[unit.apid] = self.counts.get(unit.apid, 0) + len(unit.packets)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _as_datetime(start) -> dt.datetime:
    if isinstance(start, dt.datetime):
        return start if start.tzinfo else start.replace(tzinfo=dt.timezone.utc)
    try:
        return parse_utc(str(start))
    except ValueError:
        raise ConfigError(f"start time {start!r} is not ISO-8601 UTC", field="start") from None


def run(cfg, out_dir: str | Path, satellite: str, start, duration: float, profile: str | None = None, *,
        compression: str = "raw", ccsds122_bpp: float | None = None, key_id: int = 0, impairments: Impairments | None = None,
        dem: str | Path | None = None, geoid: str | Path | None = None, pointing=None,
        texture: str | Path | None = None, seed: int = 1, datatake_id: int = 1, mode: int = 0,
        latency_s: float = 0.02, progress: Callable[[float], None] | None = None) -> SimulationReport:
    """Simulate one pass of ``satellite`` whose datatake starts at ``start`` (UTC) and lasts
    ``duration`` seconds, with instrument ``profile`` (default: the satellite's), into the
    landing directory ``out_dir``. Returns the :class:`SimulationReport`.

    ``compression``: raw | ccsds121 | ccsds122 (lossless, or lossy at ``ccsds122_bpp`` bits per
    pixel); ``key_id``: 0 = clear, else a configured key
    (AES-256-CTR); ``impairments``: the channel (default: clean, with the default noise
    before AOS / after LOS); ``dem``/``geoid``/``pointing``/``texture``/``seed`` go to the
    acquisition; ``progress(fraction)`` is called as image blocks are formatted.
    """
    wall0 = time.perf_counter()
    sat = cfg.satellite(satellite)
    inst = cfg.instrument(profile or sat.instrument)
    if not duration or duration <= 0:
        raise ConfigError(f"duration must be > 0 s, got {duration}", field="duration")
    imp = impairments or Impairments(seed=seed)
    rate = float(inst.channel_rate_bps or sat.downlink.channel_rate_bps)
    key = cfg.key(key_id) if key_id else None
    pk = Packetizer(sat, compression=compression, key_id=key_id, key=key, bits=inst.bits,
                    ccsds122_bpp=ccsds122_bpp)
    start_dt = _as_datetime(start)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the landing directory ({e.strerror})", path=out_dir) from None
    end_dt = start_dt + dt.timedelta(seconds=float(duration))
    el = landing.max_elevation_deg(cfg, sat, start_dt, end_dt)
    if el < cfg.station.min_elevation_deg:      # checked before any work: nothing to receive
        raise ConfigError(f"{sat.name} is below the station's minimum elevation "
                          f"({el:.1f}° < {cfg.station.min_elevation_deg}°) between {iso_utc(start_dt)} "
                          f"and {iso_utc(end_dt)}: no pass to receive (see 'srd passes')", field="start")
    pid = landing.pass_id(sat.name, start_dt, cfg.station.name)
    truth_final = out_dir / f"{pid}.truth"
    work = landing.temp_path(out_dir, f"{pid}.work")
    stale = out_dir / f"{pid}.json"
    if stale.exists():          # re-simulating a pass: it must not look complete until rewritten
        stale.unlink()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        acq_kw = dict(pointing=pointing, dem=dem, geoid=geoid, texture=texture, seed=seed,
                      datatake_id=datatake_id, mode=mode)
        return _run(cfg, sat, inst, pk, imp, rate, start_dt, float(duration), out_dir, pid, work,
                    acq_kw, latency_s, progress, wall0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        # the acquisition stages the truth in the same hidden temp convention; never leave it behind
        shutil.rmtree(landing.temp_path(out_dir, truth_final.name), ignore_errors=True)


def _run(cfg, sat, inst, pk, imp, rate, start_dt, duration, out_dir, pid, work, acq_kw, latency_s,
         progress, wall0) -> SimulationReport:
    from telemetry.acquisition import Acquisition
    timings = {"acquisition_s": 0.0, "packetize_s": 0.0, "frame_s": 0.0}
    truth_final = out_dir / f"{pid}.truth"
    t = time.perf_counter()
    acq = Acquisition(cfg, sat.name, inst.name, start_dt, duration, **acq_kw)
    dtk = acq.datatake
    anc = [("ephemeris", acq.ephemeris_records()), ("attitude", acq.attitude_records()),
           ("housekeeping", acq.housekeeping_records())]
    timings["acquisition_s"] += time.perf_counter() - t

    # ---- time line: ancillary units in time order; the datatake-start packet first
    t0 = min([dtk.start_gps] + [float(r["gps_time"][0]) for _, r in anc if len(r)])
    units: list[Unit] = [pk.datatake_unit(t0, dtk.id, dtk.mode, dtk.start_gps, dtk.stop_gps, dtk.target)]
    units += pk.ephemeris_units(anc[0][1]) + pk.attitude_units(anc[1][1]) + pk.housekeeping_units(anc[2][1])
    units.sort(key=lambda u: u.gps_time)
    t_end = max([dtk.stop_gps] + [u.gps_time for u in units])

    vcmap = sat.virtual_channels
    channels = sorted(vcmap.modules_by_channel)
    chan_of_module = {m: c for c, ms in vcmap.modules_by_channel.items() for m in ms}
    expected = int(math.ceil((t_end - t0 + 2 * latency_s) * rate / (sat.coding.cadu_length * 8)))
    tmp_files = {c: work / landing.channel_file(pid, c) for c in channels}     # renamed at the end
    links = {}
    for c in channels:
        framer = ChannelFramer(sat, c, rate, t0, latency_s=latency_s, spill_dir=str(work))
        links[c] = _Downlink(c, framer, ChannelCoder(sat.coding, template=framer.idle_frame_template),
                             ChannelWriter(tmp_files[c], c, sat.coding, imp, expected_cadus=expected,
                                           rate_bps=rate))
    pkt_truth = _PacketTruth(work / "packets")
    n_blocks = n_pixels = 0
    anc_i = 0

    def advance(until: float) -> None:
        tf = time.perf_counter()
        for link in links.values():
            link.advance(until)
        timings["frame_s"] += time.perf_counter() - tf

    def push_ancillary(until: float) -> None:
        nonlocal anc_i
        while anc_i < len(units) and units[anc_i].gps_time <= until:
            u = units[anc_i]
            avail = max(u.gps_time, t0)
            advance(avail)
            pkt_truth.write(u)
            for link in links.values():
                link.framer.push(vcmap.ancillary, u.packets, avail)
            anc_i += 1

    pan_lines_per_block = acq.block_lines("PAN", pk.block_scale)
    total_blocks = max(1, -(-dtk.pan_lines // pan_lines_per_block)) * inst.modules * len(inst.bands)
    try:
        it = acq.iter_blocks(compression_scale=pk.block_scale, truth_dir=truth_final)
        while True:
            ta = time.perf_counter()
            blk = next(it, None)
            timings["acquisition_s"] += time.perf_counter() - ta
            if blk is None:
                break
            avail = blk.gps_time + blk.lines * acq.line_period(blk.band)
            push_ancillary(avail)
            advance(avail)
            tp = time.perf_counter()
            u = pk.image_unit(blk.module, blk.band, blk.first_line, blk.gps_time, blk.dn, dtk.id)
            timings["packetize_s"] += time.perf_counter() - tp
            pkt_truth.write(u)
            links[chan_of_module[blk.module]].framer.push(vcmap.image_by_module[blk.module], u.packets, avail)
            n_blocks += 1
            n_pixels += blk.dn.size
            if progress and n_blocks % 16 == 0:
                progress(min(1.0, n_blocks / total_blocks))
        push_ancillary(math.inf)
        advance(t_end + latency_s)
        tf = time.perf_counter()
        for link in links.values():
            while link.framer.backlog_bytes:
                link.take(link.framer.drain(max_frames=ENCODE_BATCH))
            link.take(np.zeros((0, sat.coding.frame_length), np.uint8), force=True)
        timings["frame_s"] += time.perf_counter() - tf
    finally:
        pkt_truth.close()
        for link in links.values():
            link.framer.close()
    if progress:
        progress(1.0)

    # ---- close the channel files, name them, and the pass window
    results = {}
    for c, link in links.items():
        results[c] = link.writer.close()
        results[c]["file"] = landing.channel_file(pid, c)
        results[c]["name"] = c
    timings["encode_write_s"] = sum(link.encode_s for link in links.values())
    timings["frame_s"] -= timings["encode_write_s"]        # advance() timed the whole chain
    pre = {c: links[c].writer.pre_bits / rate for c in channels}
    ends = {c: t0 + results[c]["cadus"] * links[c].framer.slot_s
            + (results[c]["bytes"] * 8 - results[c]["cadu_end_bit"]) / rate for c in channels}
    aos = gps_to_utc(t0 - max(pre.values()))
    los = gps_to_utc(max(ends.values()))
    max_el = landing.max_elevation_deg(cfg, sat, aos, los)
    locked_bits = sum((r["cadus"] - r["dropped_cadus"]) * sat.coding.cadu_length * 8 for r in results.values())
    lock_ratio = locked_bits / max(1, sum(r["bytes"] * 8 for r in results.values()))
    ebn0 = landing.ebn0_from_ber(imp.ber)

    # ---- truth sidecar: acquisition truth + packets + impairments, then channel files, manifest last
    imp_logs = {c: links[c].writer.log for c in channels}
    extra = {"pass_id": pid, "satellite": sat.name, "profile": inst.name, "compression": pk.compression_name,
             "key_id": pk.key_id, "channel_rate_bps": rate, "t0_gps": t0,
             "impairments": {"config": _imp_dict(imp), **{c: imp_logs[c].to_dict() for c in channels}},
             "channels": {c: {k: results[c][k] for k in ("file", "bytes", "cadus", "first_cadu_bit",
                                                          "cadu_end_bit")} for c in channels},
             "packets": {f"0x{a:03X}": n for a, n in sorted(pkt_truth.counts.items())}}
    ta = time.perf_counter()
    truth = Path(acq.write_truth(truth_final, extra=extra))     # staged by iter_blocks, renamed here
    timings["truth_s"] = time.perf_counter() - ta
    for c in channels:
        np.save(truth / f"bit_errors_{c}.npy", np.asarray(imp_logs[c].bit_errors, np.int64))
    os.replace(work / "packets", truth / "packets")
    for c in channels:
        os.replace(tmp_files[c], out_dir / results[c]["file"])
    manifest = landing.build_manifest(satellite=sat.name, norad_id=sat.norad_id, station=cfg.station.name,
                                      pid=pid, aos=aos, los=los, max_elevation=max_el,
                                      channels=[results[c] for c in channels], ebn0_db=ebn0,
                                      lock_ratio=lock_ratio)
    seconds = time.perf_counter() - wall0
    total_bytes = sum(r["bytes"] for r in results.values())
    raw_bytes = pk.image_samples * inst.bits / 8
    report = SimulationReport(
        pass_id=pid, manifest=str(out_dir / f"{pid}.json"), truth_dir=str(truth_final),
        satellite=sat.name, profile=inst.name, compression=pk.compression_name, key_id=pk.key_id,
        aos=manifest["aos"], los=manifest["los"], max_elevation_deg=manifest["max_elevation_deg"],
        datatake=dtk.to_dict(),
        channels=[{**{k: results[c][k] for k in ("name", "file", "bytes", "sha256", "cadus")},
                   **links[c].framer.stats()} for c in channels],
        image_blocks=n_blocks, pixels=n_pixels,
        packets={f"0x{a:03X}": n for a, n in sorted(pkt_truth.counts.items())},
        image_payload_bytes=pk.payload_bytes,
        compression_ratio=round(raw_bytes / pk.payload_bytes, 4) if pk.payload_bytes else 0.0,
        ebn0_db=ebn0, lock_ratio=manifest["terminal"]["lock_ratio"],
        impairments={c: {"random_bit_errors": len(imp_logs[c].bit_errors),
                         "events": len(imp_logs[c].events)} for c in channels},
        seconds=round(seconds, 3), mpixel_per_s=round(n_pixels / 1e6 / seconds, 3),
        telemetry_mb_per_s=round(total_bytes / 1e6 / seconds, 3),
        summary=f"{pid}: {n_blocks} blocks, {n_pixels / 1e6:.2f} Mpixel, {total_bytes / 1e6:.1f} MB "
                f"on {len(channels)} channels, {pk.compression_name}, BER {imp.ber:g}",
        timings={k: round(v, 3) for k, v in timings.items()})
    with open(truth_final / "simulate_report.json", "w") as f:
        json.dump(report.to_dict(), f, indent=2, default=str)
    landing.write_manifest(out_dir, manifest)
    return report


def _imp_dict(imp: Impairments) -> dict:
    d = asdict(imp)
    d["invert"] = [list(x) for x in imp.invert]
    d["burst_bits"] = list(imp.burst_bits)
    return d
