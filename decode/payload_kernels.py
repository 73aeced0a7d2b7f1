"""Numba kernels of the payload layer (numpy + numba only, no I/O).

ICD §4.1 raw image data: 12-bit samples, two samples in three bytes, big-endian
(``s0[11:4] | s0[3:0] s1[11:8] | s1[7:0]``), raster order.
"""
from __future__ import annotations

import numba as nb
import numpy as np
from numba import types

_U8 = types.Array(types.uint8, 1, "C")
_U8_RO = types.Array(types.uint8, 1, "C", readonly=True)     # np.frombuffer(bytes) views
_U16 = types.Array(types.uint16, 1, "C")


@nb.njit([_U16(_U8, types.int64), _U16(_U8_RO, types.int64)], cache=True, nogil=True)
def unpack12(raw, n):
    """First ``n`` 12-bit samples of ``raw`` (3 bytes per 2 samples, MSB first) → uint16 DN.

    The caller guarantees ``len(raw) >= ceil(1.5 n)``; an odd ``n`` uses the high 12 bits of
    the last byte pair (the low nibble is padding).
    """
    out = np.empty(n, np.uint16)
    pairs = n // 2
    for i in range(pairs):
        b0 = np.uint16(raw[3 * i])
        b1 = np.uint16(raw[3 * i + 1])
        b2 = np.uint16(raw[3 * i + 2])
        out[2 * i] = (b0 << 4) | (b1 >> 4)
        out[2 * i + 1] = ((b1 & 0x0F) << 8) | b2
    if n % 2:
        out[n - 1] = (np.uint16(raw[3 * pairs]) << 4) | (np.uint16(raw[3 * pairs + 1]) >> 4)
    return out


@nb.njit([_U8(_U16), _U8(types.Array(types.uint16, 1, "C", readonly=True))], cache=True, nogil=True)
def pack12(samples):
    """Inverse of :func:`unpack12` (values must be < 4096); odd counts are zero-padded."""
    n = samples.size
    out = np.zeros((3 * n + 1) // 2, np.uint8)
    for i in range(n // 2):
        s0 = samples[2 * i]
        s1 = samples[2 * i + 1]
        out[3 * i] = (s0 >> 4) & 0xFF
        out[3 * i + 1] = ((s0 & 0x0F) << 4) | ((s1 >> 8) & 0x0F)
        out[3 * i + 2] = s1 & 0xFF
    if n % 2:
        s0 = samples[n - 1]
        out[3 * (n // 2)] = (s0 >> 4) & 0xFF
        out[3 * (n // 2) + 1] = (s0 & 0x0F) << 4
    return out
