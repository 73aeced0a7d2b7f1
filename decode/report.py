"""The decode report (``decode_report.json``): everything the stage saw, lost and produced.

Frozen dataclasses serialised with :meth:`DecodeReport.to_dict` (stable keys, JSON types only).
``status``: ``"ok"`` (nothing lost), ``"data_loss"`` (the pass decoded but frames, packets or
lines were lost or are unusable — the CLI exits 10, or 4 when the only problem is a missing or
wrong key), ``"failed"`` (nothing could be decoded: bad manifest, empty file, pure noise, wrong
spacecraft — the CLI exits 5).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUS_OK, STATUS_DATA_LOSS, STATUS_FAILED = "ok", "data_loss", "failed"


@dataclass(frozen=True)
class ChannelReport:
    """One physical channel: channel-coding and frame-layer counters.

    Offsets are byte offsets in the channel file; ``vcs`` maps VCID → counters
    (frames, gaps, frames_missing, count_errors, replay_frames, first/last count, M_PDU
    counters: packets, idle_packets, fhp_errors, header_errors, packets_cut, bytes_skipped).
    """

    name: str
    file: str
    bytes: int
    cadus: int = 0
    sync_losses: int = 0
    sync_loss_offsets: tuple = ()          # ((byte offset, reason), ...) first 50
    acquisitions: int = 0
    inverted_stretches: int = 0
    inverted_stretch_list: tuple = ()      # ((first offset, last offset, CADUs), ...) first 50
    slips: int = 0
    slip_list: tuple = ()                  # ((byte offset, bits), ...) first 50
    flywheel_cadus: int = 0
    rs_corrected_symbols: int = 0
    rs_uncorrectable_codewords: int = 0
    rs_uncorrectable_codeblocks: int = 0
    truncated_offset: int | None = None    # a last CADU cut by the end of the file
    truncated_bytes: int = 0
    noise_bytes: int = 0
    frames: int = 0
    wrong_version: int = 0
    wrong_scid: int = 0
    unexpected_vcid: int = 0
    idle_frames: int = 0
    scids_seen: dict = field(default_factory=dict)
    vcs: dict = field(default_factory=dict)
    sha256: str | None = None


@dataclass(frozen=True)
class DecodeReport:
    """Result of :func:`decode.run.run` (see the module docstring for ``status``)."""

    pass_id: str
    satellite: str | None
    scid: int | None
    input: str
    level0_dir: str | None
    status: str
    lost: bool = False                                  # frames/packets/lines actually lost
    errors: tuple = ()
    warnings: tuple = ()
    channels: tuple = ()
    apids: dict = field(default_factory=dict)          # "0x010" → counters
    bands: tuple = ()
    datatakes: tuple = ()
    ancillary_rows: dict = field(default_factory=dict)
    ccsds_only: bool = False
    channel_bytes: int = 0
    wall_time_s: float = 0.0
    throughput_mbps: float = 0.0                        # Mbit/s of channel stream
    peak_rss_mb: float = 0.0

    @property
    def data_lost(self) -> bool:
        return self.status != STATUS_OK

    @property
    def exit_code(self) -> int:
        """CLI exit status (srd/cli.py): 0 ok; 5 nothing decodable; 10 data lost; 4 nothing
        lost but a datatake's key is missing or wrong (packets kept encrypted); 10 otherwise."""
        if self.status == STATUS_OK:
            return 0
        if self.status == STATUS_FAILED:
            return 5
        if not self.lost and self.errors and all(e.get("error") == "KeyMissingError" for e in self.errors):
            return 4
        return 10

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = [asdict(c) if not isinstance(c, dict) else c for c in self.channels]
        for c in d["channels"]:
            for k in ("sync_loss_offsets", "inverted_stretch_list", "slip_list"):
                c[k] = [list(x) if isinstance(x, (tuple, list)) else x for x in c[k]]
            c["vcs"] = {str(k): v for k, v in c["vcs"].items()}
            c["scids_seen"] = {str(k): v for k, v in c["scids_seen"].items()}
        for k in ("errors", "warnings", "bands", "datatakes"):
            d[k] = list(d[k])
        return json.loads(json.dumps(d, default=_default))

    def write(self, path: Path) -> Path:
        """Write as JSON (temp name, then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)
        return path

    def summary_lines(self) -> list[str]:
        """A short human summary (the CLI prints it)."""
        out = [f"pass {self.pass_id} ({self.satellite or '?'}, SCID {self.scid}): {self.status}"]
        for c in self.channels:
            vc = ", ".join(f"VC{k}: {v['frames']} frames, {v['gaps']} gaps/{v['frames_missing']} lost"
                           for k, v in sorted(c.vcs.items()))
            out.append(f"  channel {c.name}: {c.cadus} CADUs, {c.sync_losses} sync losses, "
                       f"{c.rs_corrected_symbols} RS symbols corrected, {c.rs_uncorrectable_codeblocks} "
                       f"uncorrectable; {vc}")
        npk = sum(s["packets"] for s in self.apids.values())
        nmiss = sum(s["packets_missing"] for s in self.apids.values())
        out.append(f"  packets: {npk} in {len(self.apids)} APID files, {nmiss} missing (sequence gaps)")
        for a, s in sorted(self.apids.items()):
            if s["packets_missing"] or s["length_errors"]:
                out.append(f"    APID {a}: {s['packets']} packets, {s['packets_missing']} missing, "
                           f"{s['length_errors']} length errors")
        if self.bands:
            lines = sum(b["lines"] for b in self.bands)
            ok = sum(b["lines_ok"] for b in self.bands)
            out.append(f"  images: {len(self.bands)} bands, {ok} of {lines} lines ok")
        for b in self.bands:
            if b["lines_ok"] != b["lines"]:
                out.append(f"    {b['file']}: {b['lines']} lines ({b['lines_ok']} ok, {b['lines_missing']} "
                           f"missing, {b['lines_undecryptable']} undecryptable, "
                           f"{b['lines_decompression_error']} decompression errors)")
        for w in self.warnings:
            out.append(f"  warning: {w}")
        out.append(f"  {self.channel_bytes / 1e6:.1f} MB in {self.wall_time_s:.2f} s = "
                   f"{self.throughput_mbps:.1f} Mbit/s, peak RSS {self.peak_rss_mb:.0f} MB")
        return out


def _default(o):
    if isinstance(o, bytes):
        return o.hex()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)
