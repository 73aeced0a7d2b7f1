"""Level 0 directory writer (docs/formats.md "Level 0 directory").

``<out>/<pass_id>/`` is built as ``<out>/.<pass_id>.tmp-<pid>`` and renamed into place when
complete (an interrupted decode leaves nothing that looks finished; re-running replaces the
previous result only once the new one is complete).

* ``packets/APID_0x<hex>.pkt``: complete space packets of one APID, concatenated exactly as
  transmitted (primary header onwards; encrypted/compressed payloads untouched).
* ``ancillary/{ephemeris,attitude,housekeeping}.npy``: native-order structured arrays of the
  ancillary records (ICD §4.2), one row per unique packet, time order.
* ``ancillary/datatakes.json``: the datatake-start records and the key verdicts.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from decode import formats as F
from decode.packets import PH, SH, Packet
from srd.errors import StorageError

EPHEMERIS_L0 = np.dtype([("gps_time", "f8"), ("position", "f8", (3,)), ("velocity", "f8", (3,)),
                         ("quality", "u1"), ("satellites", "u1")])
ATTITUDE_L0 = np.dtype([("gps_time", "f8"), ("q", "f8", (4,)), ("rate", "f4", (3,)), ("status", "u1")])
HOUSEKEEPING_L0 = np.dtype([("gps_time", "f8")] + [
    (n, F.HOUSEKEEPING.fields[n][0].newbyteorder("=")) for n in F.HOUSEKEEPING.names])


def packet_file_name(apid: int) -> str:
    """``APID_0x010.pkt`` (three lowercase hex digits: APIDs are 11 bits)."""
    return f"APID_0x{apid:03x}.pkt"


def apid_of_file(path: Path) -> int:
    return int(Path(path).stem.split("_0x")[1], 16)


class PacketFiles:
    """Append-only packet files, one per APID, under ``directory``."""

    def __init__(self, directory: Path, buffering: int = 1 << 20) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fh: dict[int, object] = {}
        self.buffering = buffering
        self.written: dict[int, int] = {}

    def write(self, pkt: Packet) -> None:
        apid = pkt.apid
        f = self._fh.get(apid)
        if f is None:
            try:
                f = self._fh[apid] = open(self.dir / packet_file_name(apid), "ab", buffering=self.buffering)
            except OSError as e:
                raise StorageError(f"cannot write packet file ({e.strerror})",
                                   path=self.dir / packet_file_name(apid)) from None
        f.write(pkt.data)
        self.written[apid] = self.written.get(apid, 0) + 1

    def close(self) -> None:
        for f in self._fh.values():
            f.close()
        self._fh.clear()


def _records(pkts: list[Packet], rec: np.dtype, out_dtype: np.dtype) -> np.ndarray:
    out = np.zeros(len(pkts), out_dtype)
    if not pkts:
        return out
    from srd.timescale import cuc_decode
    cuc = np.frombuffer(b"".join(p.cuc() for p in pkts), np.uint8).reshape(-1, SH)
    body = np.frombuffer(b"".join(p.data[PH + SH:PH + SH + rec.itemsize] for p in pkts), rec)
    out["gps_time"] = cuc_decode(cuc)
    for n in rec.names:
        out[n] = body[n]
    return out[np.argsort(out["gps_time"], kind="stable")]


def write_ancillary(directory: Path, packets: Iterable[Packet], apids, datatakes: list[dict]) -> dict[str, int]:
    """Write the ancillary arrays and ``datatakes.json``; packets of wrong length are skipped
    (already counted as length errors). Returns rows per file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    groups: dict[int, list[Packet]] = {apids.ephemeris: [], apids.attitude: [], apids.housekeeping: []}
    sizes = {apids.ephemeris: F.EPHEMERIS, apids.attitude: F.ATTITUDE, apids.housekeeping: F.HOUSEKEEPING}
    for p in packets:
        if p.apid in groups and len(p.data) == PH + SH + sizes[p.apid].itemsize:
            groups[p.apid].append(p)
    rows = {}
    for name, apid, rec, dtype in (("ephemeris", apids.ephemeris, F.EPHEMERIS, EPHEMERIS_L0),
                                   ("attitude", apids.attitude, F.ATTITUDE, ATTITUDE_L0),
                                   ("housekeeping", apids.housekeeping, F.HOUSEKEEPING, HOUSEKEEPING_L0)):
        arr = _records(groups[apid], rec, dtype)
        np.save(directory / f"{name}.npy", arr)
        rows[name] = int(arr.size)
    (directory / "datatakes.json").write_text(json.dumps(datatakes, indent=1))
    return rows


def time_order_packet_file(path: Path, tracker) -> int:
    """Rewrite a packet file in CUC time order (stable: segments of a unit share their time and
    keep their order), dropping exact duplicates (same time, sequence count and bytes — a replay
    of data already received). ``tracker`` (a fresh :class:`decode.packets.ApidTracker`) is fed
    the unique packets in the new order. Returns the number of duplicates removed.

    Needed only when an APID's packets arrived out of time order (playback interleaved with real
    time); memory: 24 bytes of index per packet, the packets themselves are copied file to file.
    """
    from decode.packets import cuc_seconds
    from decode.payload import iter_packets
    index = []
    for off, pkt in iter_packets(path):
        t = cuc_seconds(pkt, PH) if pkt[0] & 0x08 and len(pkt) >= PH + SH else float("-inf")
        index.append((t, off, len(pkt)))
    index.sort(key=lambda x: x[0])                      # stable: reception order within a time
    tmp = path.with_name(f".{path.name}.sorted-{os.getpid()}")
    dups = 0
    seen: dict[tuple[float, int], list[bytes]] = {}
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        last_t = None
        for t, off, n in index:
            src.seek(off)
            pkt = src.read(n)
            if t != last_t:
                seen.clear()                            # duplicates share the time: small window
                last_t = t
            key = (t, ((pkt[2] << 8) | pkt[3]) & 0x3FFF)
            if pkt in seen.get(key, ()):
                dups += 1
                continue
            seen.setdefault(key, []).append(pkt)
            dst.write(pkt)
            tracker.add(Packet(pkt, -1, False))
    os.replace(tmp, path)
    return dups


def temp_dir(out_dir: Path, pass_id: str) -> Path:
    """Fresh ``<out>/.<pass_id>.tmp-<pid>`` (removed first if a previous run left it)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{pass_id}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        for sub in ("packets", "ancillary", "image"):
            (tmp / sub).mkdir()
    except OSError as e:
        raise StorageError(f"cannot create the Level 0 work directory ({e.strerror})", path=out_dir) from None
    return tmp


def commit(tmp: Path, out_dir: Path, pass_id: str) -> Path:
    """Rename ``tmp`` to ``<out>/<pass_id>``, replacing a previous result atomically enough:
    the old directory is moved aside first and removed only after the new one is in place."""
    final = Path(out_dir) / pass_id
    old = None
    try:
        if final.exists():
            old = Path(out_dir) / f".{pass_id}.old-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
    except OSError as e:
        raise StorageError(f"cannot move the Level 0 directory into place ({e.strerror})", path=final) from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final
