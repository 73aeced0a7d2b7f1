"""CCSDS 122.0-B-2 §4.5 code tables, built once at import from their definitions.

* Word mapping (Tables 4-15 .. 4-17): a ``n``-bit word (bits in scan order, first bit most
  significant) becomes a symbol before variable-length coding; 3-bit ``tword[TranD]`` and 4-bit
  ``types[C_i]`` / ``tword[TranH_i]`` / ``types[H_ij]`` have their own mappings.
* Variable-length codes (Table 4-18): for 2-, 3- and 4-bit symbols, the code options a gaggle
  may choose (option id written on 1, 2, 2 bits; "uncoded" = all ones).

Everything here is plain numpy arrays so the Numba kernels use them as constants.
"""
from __future__ import annotations

import numpy as np

# word types
T_P, T_B, T_D, T_C, T_G, T_H, T_HT = 0, 1, 2, 3, 4, 5, 6

#: symbol = MAP[type, length, word]
MAP = np.zeros((7, 5, 16), dtype=np.int64)
#: word = UNMAP[type, length, symbol]
UNMAP = np.zeros((7, 5, 16), dtype=np.int64)

_BIT2 = (0, 2, 1, 3)
_BIT3 = (1, 4, 0, 5, 2, 6, 3, 7)
_BIT3_TRAND = (0, 3, 0, 4, 1, 5, 2, 6)        # word 000 cannot occur (TranB just became 1)
_BIT4_C = (10, 1, 3, 6, 2, 5, 9, 12, 0, 8, 7, 13, 4, 14, 11, 15)
_BIT4_H = (0, 1, 3, 6, 2, 5, 9, 11, 0, 8, 7, 12, 4, 13, 10, 14)  # word 0000 cannot occur

for t in range(7):
    MAP[t, 1, :2] = (0, 1)
    MAP[t, 2, :4] = _BIT2
    MAP[t, 3, :8] = _BIT3_TRAND if t == T_D else _BIT3
    MAP[t, 4, :] = _BIT4_C if t == T_C else (_BIT4_H if t in (T_H, T_HT) else range(16))
    for n in range(1, 5):
        first = 1 if (t == T_D and n == 3) or (t in (T_H, T_HT) and n == 4) else 0
        for w in range(first, 1 << n):
            UNMAP[t, n, MAP[t, n, w]] = w
# symbol 0 of the tables where word 0 cannot occur maps back to the legal word (not word 0)
UNMAP[T_D, 3, 0] = 2
UNMAP[T_H, 4, 0] = 8
UNMAP[T_HT, 4, 0] = 8


#: UNMAPR[type, length, symbol]: the word with its bits reversed (bit t = t-th coefficient)
UNMAPR = np.zeros_like(UNMAP)
for _t in range(7):
    for _n in range(1, 5):
        for _s in range(16):
            _w = int(UNMAP[_t, _n, _s])
            UNMAPR[_t, _n, _s] = sum(((_w >> _k) & 1) << (_n - 1 - _k) for _k in range(_n))


def _code(n: int, opt: int, v: int) -> tuple[int, int]:
    """(code bits, code length) of symbol ``v`` of an ``n``-bit word with code option ``opt``."""
    if n == 2:
        if opt == 1:
            return v, 2
        return (1, v + 1) if v <= 2 else (0, 3)
    if n == 3:
        if opt == 3:
            return v, 3
        if opt == 0:
            if v <= 2:
                return 1, v + 1
            if v <= 5:
                return v - 3, 5
            return v, 6
        # opt 1
        if v <= 1:
            return v + 2, 2
        if v <= 3:
            return v, 3
        return {4: 2, 5: 3, 6: 0, 7: 1}[v], 4
    # n == 4
    if opt == 3:
        return v, 4
    if opt == 0:
        if v <= 3:
            return 1, v + 1
        if v <= 7:
            return v - 4, 7
        return v, 8
    if opt == 1:
        if v <= 1:
            return v + 2, 2
        if v <= 3:
            return v, 3
        if v <= 5:
            return v - 2, 4
        if v <= 11:
            return v - 6, 6
        return v, 7
    # opt 2
    if v <= 3:
        return v + 4, 3
    if v <= 7:
        return v, 4
    if v <= 11:
        return v - 4, 5
    return v - 12, 5


#: CODE[n, opt, v] / CLEN[n, opt, v]: variable-length code of symbol v (n = 2..4, opt 0..3)
CODE = np.zeros((5, 4, 16), dtype=np.int64)
CLEN = np.zeros((5, 4, 16), dtype=np.int64)
#: DEC[n, opt, next 8 bits] = symbol | (code length << 8); 0 length = invalid
DEC = np.zeros((5, 4, 256), dtype=np.int64)
OPTIONS = {2: (0, 1), 3: (0, 1, 3), 4: (0, 1, 2, 3)}
for _n, _opts in OPTIONS.items():
    for _o in _opts:
        for _v in range(1 << _n):
            c, ln = _code(_n, _o, _v)
            CODE[_n, _o, _v] = c
            CLEN[_n, _o, _v] = ln
            pre = c << (8 - ln)
            for tail in range(1 << (8 - ln)):
                assert DEC[_n, _o, pre | tail] == 0
                DEC[_n, _o, pre | tail] = _v | (ln << 8)
        assert np.all(DEC[_n, _o] >> 8 > 0), (_n, _o)     # prefix code is complete

#: bits of the code option id for 2-, 3-, 4-bit symbols
ID_BITS = np.array([0, 0, 1, 2, 2], dtype=np.int64)
