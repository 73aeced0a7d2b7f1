"""CCSDS pseudo-randomiser (CCSDS 131.0-B-3 §10, ICD §2).

The randomiser is a Fibonacci LFSR with characteristic polynomial
h(x) = x^8 + x^7 + x^5 + x^3 + 1 *(profile: ``ChannelCoding.randomiser_poly_taps``)*, seeded with
all ones *(profile: ``randomiser_seed``)* at the first bit after the ASM of every CADU. Its
output is XORed bit by bit onto the RS codeblock (MSB first). For the CCSDS polynomial the
sequence starts ``FF 48 0E C0 9A 0D 70 BC`` and has period 255 bits.

Applying it twice is the identity, so :func:`randomise` both randomises and derandomises.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from srd.errors import ConfigError

#: CCSDS 131.0-B §10.4: h(x) = x^8 + x^7 + x^5 + x^3 + 1, seed all ones.
CCSDS_TAPS: tuple[int, ...] = (8, 7, 5, 3, 0)
CCSDS_SEED = 0xFF


@lru_cache(maxsize=16)
def _pn_bits(n_bits: int, taps: tuple[int, ...], seed: int) -> bytes:
    m = max(taps)
    if m < 1 or 0 not in taps or any(t < 0 for t in taps):
        raise ConfigError(f"randomiser taps {taps} must include the degree and 0 (h(x) = x^m + ... + 1)",
                          field="randomiser_poly_taps")
    if not 0 < seed < (1 << m):
        raise ConfigError(f"randomiser seed {seed:#x} must be a non-zero {m}-bit value", field="randomiser_seed")
    # Sequence s_n with s_0..s_{m-1} = seed bits (bit k of the seed is s_k; all ones for CCSDS)
    # and the recurrence from h(x): s_{n+m} = XOR over taps t < m of s_{n+t}.
    lower = [t for t in taps if t < m]
    s = [(seed >> k) & 1 for k in range(m)]
    while len(s) < n_bits:
        n = len(s) - m
        b = 0
        for t in lower:
            b ^= s[n + t]
        s.append(b)
    return bytes(s[:n_bits])


def pn_sequence(n_bytes: int, taps: tuple[int, ...] = CCSDS_TAPS, seed: int = CCSDS_SEED) -> np.ndarray:
    """The first ``n_bytes`` of the pseudo-random sequence, packed MSB first (uint8 array).

    ``taps`` are the exponents of h(x) (``(8, 7, 5, 3, 0)`` for CCSDS), ``seed`` the initial
    register (bit k = k-th output bit; ``0xFF`` = all ones). Raises :class:`ConfigError` for a
    polynomial without constant term or a zero seed (which would give an all-zero sequence).
    """
    if n_bytes < 0:
        raise ValueError(f"n_bytes must be >= 0, got {n_bytes}")
    bits = np.frombuffer(_pn_bits(8 * int(n_bytes), tuple(int(t) for t in taps), int(seed)), np.uint8)
    out = np.packbits(bits)
    out.setflags(write=False)
    return out


def coding_pn(coding, n_bytes: int | None = None) -> np.ndarray:
    """PN sequence of a :class:`~station_config.models.ChannelCoding` profile over its codeblock
    (``255·I`` bytes by default); all zeros when the profile has no randomiser."""
    n = coding.codeblock_length if n_bytes is None else n_bytes
    if not coding.randomiser:
        return np.zeros(n, np.uint8)
    return pn_sequence(n, tuple(coding.randomiser_poly_taps), coding.randomiser_seed)


def randomise(blocks: np.ndarray, pn: np.ndarray) -> np.ndarray:
    """XOR ``pn`` onto the last axis of ``blocks`` (randomise = derandomise); returns a new array."""
    blocks = np.asarray(blocks, np.uint8)
    if blocks.shape[-1] != pn.size:
        raise ValueError(f"codeblock length {blocks.shape[-1]} != PN length {pn.size}")
    return blocks ^ pn
