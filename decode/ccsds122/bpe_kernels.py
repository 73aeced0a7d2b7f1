"""CCSDS 122.0-B-2 §4 bit-plane encoder and decoder of one segment (Numba kernels, no I/O).

A segment is ``S`` blocks of 64 coefficients in the block layout of §4.1 (see
``dwt_kernels.regroup``; index ``r*8+c`` of the 8×8 family). Coding order (§4.3 – §4.5):

1. quantised DC coefficients (``q`` from BitDepthDC/BitDepthAC, §4.3.1): DPCM-mapped and coded
   with the optimum-k split code over gaggles of 16 blocks (the first sample of the segment is
   sent uncoded); then the "additional" DC bit planes q-1 … max(BitDepthAC, shift(LL3)) (§4.3.3);
2. per-block AC bit depths, same coder (§4.4);
3. for each bit plane b = BitDepthAC-1 … 0: stage 0 (one DC bit per block, planes below q),
   stages 1 – 3 (the words types_b[P], tword[TranB], tword[TranD], types_b[C_i], tword[TranG],
   tword[TranH_i], types_b[H_ij] of every block, mapped (Tables 4-15..4-17) and coded with the
   code option chosen per gaggle and word length, the option id written before the first word
   of that length in the gaggle, sign bits right after the word that makes a coefficient
   significant), stage 4 (refinement bits: parents, children, grandchildren of each block).

With the integer DWT, bit planes below a subband's weight shift are all zero and are skipped
(the weights are the shifts ``wts``: LL3, HL3, LH3, HH3, HL2, LH2, HH2, HL1, LH1, HH1; zeros for
the float DWT). Decisions that the standard leaves to the encoder (ties between code options)
follow the reference encoder so that streams are byte-identical to it.

The decoder stops cleanly when the segment's bits run out (byte-limited segments) and records,
for every significant coefficient, the lowest bit plane it knows, so the caller can reconstruct
at the middle of the remaining interval.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from decode.ccsds122.tables import CLEN, CODE, DEC, ID_BITS, MAP, T_B, T_C, T_D, T_G, T_H, T_HT, \
    T_P, UNMAP

GAGGLE = 16
MAXW = 24                    # words per block and bit plane (1 + 1 + 1 + 3 + 1 + 3 + 12 = 22)

# block layout indices (row*8 + col)
PAR = np.array([1, 8, 9], dtype=np.int64)                      # HL3, LH3, HH3
CH = np.array([[2, 3, 10, 11], [16, 17, 24, 25], [18, 19, 26, 27]], dtype=np.int64)
GC = np.zeros((3, 4, 4), dtype=np.int64)                       # [band, group j, member]
GCALL = np.zeros((3, 16), dtype=np.int64)
for _i in range(3):
    for _j in range(4):
        for _t in range(4):
            _r = (1 if _i >= 1 else 0) * 4 + (1 if _j >= 2 else 0) * 2 + _t // 2
            _c = (1 if _i != 1 else 0) * 4 + (_j % 2) * 2 + _t % 2
            GC[_i, _j, _t] = _r * 8 + _c
    for _t in range(16):
        GCALL[_i, _t] = ((1 if _i >= 1 else 0) * 4 + _t // 4) * 8 + (1 if _i != 1 else 0) * 4 + _t % 4

# decoder status
OK, TRUNCATED, CORRUPT = 0, 1, 2


# ------------------------------------------------------------------------------- bit I/O
@njit(cache=True, inline="always")
def put(buf, pos, val, n):
    """Write the ``n`` low bits of ``val`` MSB first at bit ``pos`` of zeroed ``buf``; new pos."""
    while n > 0:
        off = pos & 7
        room = 8 - off
        take = room if room < n else n
        bits = (val >> (n - take)) & ((1 << take) - 1)
        buf[pos >> 3] |= np.uint8(bits << (room - take))
        pos += take
        n -= take
    return pos


@njit(cache=True, inline="always")
def rd(buf, rs, n):
    """Read ``n`` bits (MSB first). ``rs`` = [pos, limit, exhausted]: past the limit, sets
    ``rs[2]`` and returns 0 (the caller then stops)."""
    p = rs[0]
    if p + n > rs[1]:
        rs[2] = 1
        rs[0] = rs[1]
        return 0
    v = 0
    while n > 0:
        off = p & 7
        room = 8 - off
        take = room if room < n else n
        v = (v << take) | ((np.int64(buf[p >> 3]) >> (room - take)) & ((1 << take) - 1))
        p += take
        n -= take
    rs[0] = p
    return v


@njit(cache=True, inline="always")
def peek8(buf, rs):
    """Next 8 bits (zeros past the end of ``buf``), without consuming them."""
    p = rs[0]
    i = p >> 3
    off = p & 7
    hi = np.int64(buf[i]) if i < buf.shape[0] else 0
    lo = np.int64(buf[i + 1]) if i + 1 < buf.shape[0] else 0
    return ((hi << 8 | lo) >> (8 - off)) & 0xFF


@njit(cache=True, inline="always")
def bitlen(v):
    n = 0
    while v > 0:
        v >>= 1
        n += 1
    return n


# ------------------------------------------------------------------ segment parameters
@njit(cache=True)
def segment_depths(blocks, start, size):
    """(BitDepthDC, BitDepthAC) of blocks[start:start+size] (§4.2.2, eq. 12-13)."""
    bddc = 1
    maxac = 0
    for s in range(start, start + size):
        dc = np.int64(blocks[s, 0])
        if dc < 0:
            d = 1 + bitlen(-dc - 1)
        else:
            d = 1 + bitlen(dc)
        if d > bddc:
            bddc = d
        for k in range(1, 64):
            a = abs(np.int64(blocks[s, k]))
            if a > maxac:
                maxac = a
    return bddc, bitlen(maxac)


@njit(cache=True, inline="always")
def dc_q(bddc, bdac, is_int, wll):
    """Quantisation factor q of the DC coefficients (§4.3.1.2, eq. 15 and the LL3 weight)."""
    if bddc <= 3:
        qp = 0
    elif bddc - (1 + (bdac >> 1)) <= 1:
        qp = bddc - 3
    elif bddc - (1 + (bdac >> 1)) > 10:
        qp = bddc - 10
    else:
        qp = 1 + (bdac >> 1)
    if is_int and wll > qp:
        return wll
    return qp


@njit(cache=True, inline="always")
def dc_code_params(n):
    """(largest k, option id bits) of the DC split code for N-bit samples (Table 4-9)."""
    if n == 2:
        return 0, 1
    if n <= 4:
        return 2, 2
    if n <= 8:
        return 6, 3
    return 8, 4


@njit(cache=True, inline="always")
def ac_code_params(n):
    """(largest k, option id bits) of the AC bit-depth code (§4.4, N = 2..5)."""
    if n == 2:
        return 0, 1
    if n <= 4:
        return 2, 2
    return 6, 3


# --------------------------------------------------------------------------- encoder
@njit(cache=True)
def _code_gaggles(buf, pos, mapped, n, maxk, idlen):
    """Optimum-k split code of ``mapped`` (N-bit samples) over gaggles of 16 (§4.3.2)."""
    S = mapped.shape[0]
    start = 0
    unc = (1 << idlen) - 1
    while start < S:
        cnt = min(GAGGLE, S - start)
        first = 1 if start == 0 else start
        best = -1
        minbits = 0xFFFF
        for k in range(maxk + 1):
            tot = n if start == 0 else 0
            for i in range(first, start + cnt):
                tot += (mapped[i] >> k) + 1 + k
            if tot < minbits and tot < n * cnt:
                minbits = tot
                best = k
        pos = put(buf, pos, best if best >= 0 else unc, idlen)
        for i in range(start, start + cnt):
            if best < 0 or i == 0:
                pos = put(buf, pos, mapped[i], n)
            else:
                pos += mapped[i] >> best           # zeros of the fundamental sequence
                pos = put(buf, pos, 1, 1)
        if best > 0:
            for i in range(first, start + cnt):
                pos = put(buf, pos, mapped[i], best)
        start += cnt
    return pos


@njit(cache=True, inline="always")
def _map_diff(d, prev, xmin, xmax):
    theta = min(prev - xmin, xmax - prev)
    if 0 <= d <= theta:
        return 2 * d
    if -theta <= d < 0:
        return -2 * d - 1
    return theta + abs(d)


@njit(cache=True, inline="always")
def _add_word(wl, wv, ws, wn, s, k, typ, ln, val, sg, ns):
    wl[s, k] = ln
    wv[s, k] = MAP[typ, ln, val]
    ws[s, k] = sg
    wn[s, k] = ns


@njit(cache=True)
def _scan_block(s, b, bp, amp, neg, wts, sig, tranB, tranD, tranG, tranH,
                wl, wv, ws, wn, nw, st2, st3, refv, refn):
    """Words and refinement bits of block ``s`` at bit plane ``b`` (bp = b + 1), §4.5.2."""
    k = 0
    ref = 0
    rn = 0
    # stage 1: types_b[P]
    ln = 0
    v = 0
    sg = 0
    ns = 0
    for i in range(3):
        if wts[1 + i] >= bp:
            continue
        idx = PAR[i]
        bit = (amp[s, idx] >> b) & 1
        if sig[s, idx] == 0:
            ln += 1
            v = (v << 1) | bit
            if bit:
                sig[s, idx] = 1
                sg = (sg << 1) | neg[s, idx]
                ns += 1
        else:
            ref = (ref << 1) | bit
            rn += 1
    if ln:
        _add_word(wl, wv, ws, wn, s, k, T_P, ln, v, sg, ns)
        k += 1
    st2[s] = k
    # stage 2: tword[TranB], tword[TranD], types_b[C_i]
    if tranB[s] == 0:
        found = 0
        for d in range(3):
            cskip = wts[4 + d] >= bp
            gskip = wts[7 + d] >= bp
            if not cskip:
                for t in range(4):
                    if (amp[s, CH[d, t]] >> b) & 1:
                        found = 1
            if found:
                break
            if not gskip:
                for t in range(16):
                    if (amp[s, GCALL[d, t]] >> b) & 1:
                        found = 1
            if found:
                break
        _add_word(wl, wv, ws, wn, s, k, T_B, 1, found, 0, 0)
        k += 1
        if not found:
            nw[s] = k
            st3[s] = k
            refv[s] = ref
            refn[s] = rn
            return
        tranB[s] = 1
    ln = 0
    v = 0
    for d in range(3):
        cskip = wts[4 + d] >= bp
        gskip = wts[7 + d] >= bp
        if cskip and gskip:
            continue
        if (tranD[s] >> (2 - d)) & 1:
            continue
        found = 0
        if not cskip:
            for t in range(4):
                if (amp[s, CH[d, t]] >> b) & 1:
                    found = 1
        if not found and not gskip:
            for t in range(16):
                if (amp[s, GCALL[d, t]] >> b) & 1:
                    found = 1
        ln += 1
        v = (v << 1) | found
        if found:
            tranD[s] |= 1 << (2 - d)
    if ln:
        _add_word(wl, wv, ws, wn, s, k, T_D, ln, v, 0, 0)
        k += 1
    for d in range(3):
        if ((tranD[s] >> (2 - d)) & 1) == 0 or wts[4 + d] >= bp:
            continue
        ln = 0
        v = 0
        sg = 0
        ns = 0
        for t in range(4):
            idx = CH[d, t]
            bit = (amp[s, idx] >> b) & 1
            if sig[s, idx] == 0:
                ln += 1
                v = (v << 1) | bit
                if bit:
                    sig[s, idx] = 1
                    sg = (sg << 1) | neg[s, idx]
                    ns += 1
            else:
                ref = (ref << 1) | bit
                rn += 1
        if ln:
            _add_word(wl, wv, ws, wn, s, k, T_C, ln, v, sg, ns)
            k += 1
    st3[s] = k
    # stage 3: tword[TranG], tword[TranH_i], types_b[H_ij]
    ln = 0
    v = 0
    for d in range(3):
        if wts[7 + d] >= bp:
            continue
        if ((tranD[s] >> (2 - d)) & 1) and ((tranG[s] >> (2 - d)) & 1) == 0:
            found = 0
            for t in range(16):
                if (amp[s, GCALL[d, t]] >> b) & 1:
                    found = 1
                    break
            ln += 1
            v = (v << 1) | found
            if found:
                tranG[s] |= 1 << (2 - d)
    if ln:
        _add_word(wl, wv, ws, wn, s, k, T_G, ln, v, 0, 0)
        k += 1
    for i in range(3):
        if wts[7 + i] >= bp:
            continue
        ln = 0
        v = 0
        for j in range(4):
            if ((tranG[s] >> (2 - i)) & 1) and ((tranH[s, i] >> (3 - j)) & 1) == 0:
                found = 0
                for t in range(4):
                    if (amp[s, GC[i, j, t]] >> b) & 1:
                        found = 1
                ln += 1
                v = (v << 1) | found
                if found:
                    tranH[s, i] |= 1 << (3 - j)
        if ln:
            _add_word(wl, wv, ws, wn, s, k, T_H, ln, v, 0, 0)
            k += 1
    for i in range(3):
        if wts[7 + i] >= bp:
            continue
        for j in range(4):
            if ((tranH[s, i] >> (3 - j)) & 1) == 0:
                continue
            ln = 0
            v = 0
            sg = 0
            ns = 0
            for t in range(4):
                idx = GC[i, j, t]
                bit = (amp[s, idx] >> b) & 1
                if sig[s, idx] == 0:
                    ln += 1
                    v = (v << 1) | bit
                    if bit:
                        sig[s, idx] = 1
                        sg = (sg << 1) | neg[s, idx]
                        ns += 1
                else:
                    ref = (ref << 1) | bit
                    rn += 1
            if ln:
                _add_word(wl, wv, ws, wn, s, k, T_HT, ln, v, sg, ns)
                k += 1
    nw[s] = k
    refv[s] = ref
    refn[s] = rn


@njit(cache=True, inline="always")
def _choose_options(wl, wv, g0, g1, bitmax, bp, opt):
    """Code option per word length for blocks g0..g1-1 (reference selection rule, §4.5.3.3)."""
    c2 = np.zeros(2, np.int64)
    c3 = np.zeros(4, np.int64)
    c4 = np.zeros(4, np.int64)
    for s in range(g0, g1):
        if bitmax[s] < bp:
            continue
        for k in range(MAXW):
            ln = wl[s, k]
            if ln < 2:
                continue
            sym = wv[s, k]
            if ln == 2:
                c2[0] += CLEN[2, 0, sym]
                c2[1] += 2
            elif ln == 3:
                c3[0] += CLEN[3, 0, sym]
                c3[1] += CLEN[3, 1, sym]
                c3[3] += 3
            else:
                c4[0] += CLEN[4, 0, sym]
                c4[1] += CLEN[4, 1, sym]
                c4[2] += CLEN[4, 2, sym]
                c4[3] += 4
    opt[0] = 0 if c2[0] < c2[1] else 1
    if c3[3] <= c3[0] and c3[3] <= c3[1]:
        opt[1] = 3
    elif c3[0] <= c3[1]:
        opt[1] = 0
    else:
        opt[1] = 1
    if c4[3] <= c4[0] and c4[3] <= c4[1] and c4[3] <= c4[2]:
        opt[2] = 3
    elif c4[0] <= c4[1] and c4[0] <= c4[2]:
        opt[2] = 0
    elif c4[1] <= c4[2]:
        opt[2] = 1
    else:
        opt[2] = 2


@njit(cache=True)
def encode_body(blk, wts, is_int, bddc, bdac, buf, pos):
    """Code the segment ``blk`` (S, 64) after its header, from bit ``pos`` of zeroed ``buf``.

    Returns the bit position after the last coded bit (not yet padded to a byte).
    """
    S = blk.shape[0]
    wll = wts[0]
    q = dc_q(bddc, bdac, is_int, wll)
    n = max(bddc - q, 1)
    mask = (np.int64(1) << bddc) - 1
    shifted = np.empty(S, np.int64)
    rem = np.empty(S, np.int64)
    for i in range(S):
        tc = np.int64(blk[i, 0]) & mask
        shifted[i] = tc >> q
        rem[i] = tc & ((np.int64(1) << q) - 1)
    if n == 1:
        for i in range(S):
            pos = put(buf, pos, shifted[i], 1)
    else:
        half = np.int64(1) << (n - 1)
        mapped = np.empty(S, np.int64)
        mapped[0] = shifted[0]
        prev = shifted[0] - 2 * half if shifted[0] >= half else shifted[0]
        for i in range(1, S):
            cur = shifted[i] - 2 * half if shifted[i] >= half else shifted[i]
            mapped[i] = _map_diff(cur - prev, prev, -half, half - 1)
            prev = cur
        maxk, idlen = dc_code_params(n)
        pos = _code_gaggles(buf, pos, mapped, n, maxk, idlen)
        if q > bdac:
            nadd = q - max(bdac, wll) if is_int else q - bdac
            for p in range(nadd):
                for i in range(S):
                    pos = put(buf, pos, (rem[i] >> (q - p - 1)) & 1, 1)
    if bdac == 0:
        return pos
    amp = np.empty((S, 64), np.int64)
    neg = np.empty((S, 64), np.int64)
    bitmax = np.empty(S, np.int64)
    for s in range(S):
        m = 0
        for k in range(64):
            v = np.int64(blk[s, k])
            amp[s, k] = abs(v)
            neg[s, k] = 1 if v < 0 else 0
            if k and amp[s, k] > m:
                m = amp[s, k]
        bitmax[s] = bitlen(m)
    if bdac == 1:
        for s in range(S):
            pos = put(buf, pos, bitmax[s], 1)
    else:
        na = bitlen(bdac)
        mapped = np.empty(S, np.int64)
        mapped[0] = bitmax[0]
        for i in range(1, S):
            mapped[i] = _map_diff(bitmax[i] - bitmax[i - 1], bitmax[i - 1], 0, (1 << na) - 1)
        maxk, idlen = ac_code_params(na)
        pos = _code_gaggles(buf, pos, mapped, na, maxk, idlen)

    sig = np.zeros((S, 64), np.uint8)
    tranB = np.zeros(S, np.int64)
    tranD = np.zeros(S, np.int64)
    tranG = np.zeros(S, np.int64)
    tranH = np.zeros((S, 3), np.int64)
    wl = np.zeros((S, MAXW), np.int64)
    wv = np.zeros((S, MAXW), np.int64)
    ws = np.zeros((S, MAXW), np.int64)
    wn = np.zeros((S, MAXW), np.int64)
    nw = np.zeros(S, np.int64)
    st2 = np.zeros(S, np.int64)
    st3 = np.zeros(S, np.int64)
    refv = np.zeros(S, np.int64)
    refn = np.zeros(S, np.int64)
    ngag = (S + GAGGLE - 1) // GAGGLE
    opts = np.zeros((ngag, 3), np.int64)
    flags = np.zeros((ngag, 3), np.int64)
    for bp in range(bdac, 0, -1):
        b = bp - 1
        # stage 0: DC bits below q
        if bp <= q and ((not is_int) or (q > wll and wll < bp)):
            for i in range(S):
                pos = put(buf, pos, (rem[i] >> b) & 1, 1)
        for s in range(S):
            nw[s] = 0
            refn[s] = 0
            for k in range(MAXW):
                wl[s, k] = 0
            if bitmax[s] >= bp:
                _scan_block(s, b, bp, amp, neg, wts, sig, tranB, tranD, tranG, tranH,
                            wl, wv, ws, wn, nw, st2, st3, refv, refn)
        for g in range(ngag):
            _choose_options(wl, wv, g * GAGGLE, min(S, (g + 1) * GAGGLE), bitmax, bp, opts[g])
            flags[g, 0] = 0
            flags[g, 1] = 0
            flags[g, 2] = 0
        for stage in range(3):
            for g in range(ngag):
                for s in range(g * GAGGLE, min(S, (g + 1) * GAGGLE)):
                    if bitmax[s] < bp:
                        continue
                    k0 = 0 if stage == 0 else (st2[s] if stage == 1 else st3[s])
                    k1 = st2[s] if stage == 0 else (st3[s] if stage == 1 else nw[s])
                    for k in range(k0, k1):
                        ln = wl[s, k]
                        sym = wv[s, k]
                        if ln == 1:
                            pos = put(buf, pos, sym, 1)
                        else:
                            o = opts[g, ln - 2]
                            if flags[g, ln - 2] == 0:
                                flags[g, ln - 2] = 1
                                pos = put(buf, pos, o, ID_BITS[ln])
                            pos = put(buf, pos, CODE[ln, o, sym], CLEN[ln, o, sym])
                        if wn[s, k]:
                            pos = put(buf, pos, ws[s, k], wn[s, k])
        # stage 4: refinement
        for s in range(S):
            if refn[s]:
                pos = put(buf, pos, refv[s], refn[s])
    return pos


# --------------------------------------------------------------------------- decoder
@njit(cache=True)
def _decode_gaggles(buf, rs, S, n, maxk, idlen, mapped):
    """Inverse of :func:`_code_gaggles`; returns False on exhaustion or an invalid option id."""
    start = 0
    unc = (1 << idlen) - 1
    while start < S:
        cnt = min(GAGGLE, S - start)
        first = 1 if start == 0 else start
        k = rd(buf, rs, idlen)
        if rs[2]:
            return False
        coded = k != unc
        if coded and k > maxk:
            rs[2] = 2
            return False
        for i in range(start, start + cnt):
            if not coded or i == 0:
                mapped[i] = rd(buf, rs, n)
            else:
                z = 0
                while rd(buf, rs, 1) == 0:
                    if rs[2]:
                        return False
                    z += 1
                    if z > (1 << n):
                        rs[2] = 2
                        return False
                mapped[i] = z << k
            if rs[2]:
                return False
        if coded and k > 0:
            for i in range(first, start + cnt):
                mapped[i] += rd(buf, rs, k)
            if rs[2]:
                return False
        start += cnt
    return True


@njit(cache=True, inline="always")
def _unmap_diff(m, prev, xmin, xmax):
    theta = min(prev - xmin, xmax - prev)
    if m <= 2 * theta:
        return m >> 1 if (m & 1) == 0 else -((m + 1) >> 1)
    if prev - xmin < xmax - prev:
        return m - theta
    return theta - m


@njit(cache=True, inline="always")
def _read_word(buf, rs, ln, typ, g, opts, flags):
    """Decode one mapped word of ``ln`` bits (option id first if new in gaggle ``g``)."""
    if ln == 1:
        return rd(buf, rs, 1)
    if flags[g, ln - 2] == 0:
        o = rd(buf, rs, ID_BITS[ln])
        if rs[2]:
            return 0
        if ln == 3 and o == 2:
            rs[2] = 2
            return 0
        opts[g, ln - 2] = o
        flags[g, ln - 2] = 1
    o = opts[g, ln - 2]
    e = DEC[ln, o, peek8(buf, rs)]
    cl = e >> 8
    if rs[0] + cl > rs[1]:
        rs[2] = 1
        rs[0] = rs[1]
        return 0
    rs[0] += cl
    return UNMAP[typ, ln, e & 0xFF]


@njit(cache=True, inline="always")
def _set_sig(buf, rs, s, idx, b, mag, sp, lastb):
    mag[s, idx] |= np.int64(1) << b
    sp[s, idx] = b
    lastb[s, idx] = b


@njit(cache=True)
def decode_body(buf, pos, limit, S, wts, is_int, bddc, bdac, mag, neg, sp, lastb, dc, dckb):
    """Decode a segment body starting at bit ``pos`` (≤ ``limit``) of ``buf``.

    Outputs (S rows each): ``mag``/``neg`` AC magnitudes and signs, ``sp`` the plane where a
    coefficient became significant (-1: never), ``lastb`` the lowest plane whose bit is known,
    ``dc`` the DC coefficients with their known bits, ``dckb`` the lowest DC plane known
    (99: DC not received). Returns (bit position reached, status OK/TRUNCATED/CORRUPT).
    """
    rs = np.zeros(3, np.int64)
    rs[0] = pos
    rs[1] = limit
    for s in range(S):
        dckb[s] = 99
        for k in range(64):
            mag[s, k] = 0
            neg[s, k] = 0
            sp[s, k] = -1
            lastb[s, k] = 99
    wll = wts[0]
    q = dc_q(bddc, bdac, is_int, wll)
    n = max(bddc - q, 1)
    shifted = np.zeros(S, np.int64)
    if n == 1:
        for i in range(S):
            shifted[i] = rd(buf, rs, 1)
        if rs[2]:
            return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
        for i in range(S):
            if bddc - q == 1:
                dc[i] = -(shifted[i] << q)
            else:
                dc[i] = 0
            dckb[i] = q
    else:
        mapped = np.zeros(S, np.int64)
        maxk, idlen = dc_code_params(n)
        if not _decode_gaggles(buf, rs, S, n, maxk, idlen, mapped):
            return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
        half = np.int64(1) << (n - 1)
        prev = mapped[0] - 2 * half if mapped[0] >= half else mapped[0]
        dc[0] = prev << q
        dckb[0] = q
        for i in range(1, S):
            cur = prev + _unmap_diff(mapped[i], prev, -half, half - 1)
            dc[i] = cur << q
            dckb[i] = q
            prev = cur
        if q > bdac:
            nadd = q - max(bdac, wll) if is_int else q - bdac
            for p in range(nadd):
                for i in range(S):
                    bit = rd(buf, rs, 1)
                    if rs[2]:
                        return rs[0], TRUNCATED
                    dc[i] |= bit << (q - p - 1)
                    dckb[i] = q - p - 1
    if bdac == 0:
        return rs[0], OK
    bitmax = np.zeros(S, np.int64)
    if bdac == 1:
        for s in range(S):
            bitmax[s] = rd(buf, rs, 1)
    else:
        na = bitlen(bdac)
        mapped = np.zeros(S, np.int64)
        maxk, idlen = ac_code_params(na)
        if not _decode_gaggles(buf, rs, S, na, maxk, idlen, mapped):
            return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
        bitmax[0] = mapped[0]
        for i in range(1, S):
            bitmax[i] = bitmax[i - 1] + _unmap_diff(mapped[i], bitmax[i - 1], 0, (1 << na) - 1)
    if rs[2]:
        return rs[0], TRUNCATED
    for s in range(S):
        if bitmax[s] > bdac or bitmax[s] < 0:
            return rs[0], CORRUPT
    tranB = np.zeros(S, np.int64)
    tranD = np.zeros(S, np.int64)
    tranG = np.zeros(S, np.int64)
    tranH = np.zeros((S, 3), np.int64)
    ngag = (S + GAGGLE - 1) // GAGGLE
    opts = np.zeros((ngag, 3), np.int64)
    flags = np.zeros((ngag, 3), np.int64)
    nb = np.zeros(4, np.int64)          # scratch: coefficients of the current word
    for bp in range(bdac, 0, -1):
        b = bp - 1
        if bp <= q and ((not is_int) or (q > wll and wll < bp)):
            for i in range(S):
                bit = rd(buf, rs, 1)
                if rs[2]:
                    return rs[0], TRUNCATED
                dc[i] |= bit << b
                dckb[i] = b
        for g in range(ngag):
            flags[g, 0] = 0
            flags[g, 1] = 0
            flags[g, 2] = 0
        # stage 1
        for s in range(S):
            if bitmax[s] < bp:
                continue
            g = s // GAGGLE
            ln = 0
            for i in range(3):
                if wts[1 + i] < bp and sp[s, PAR[i]] < 0:
                    nb[ln] = PAR[i]
                    ln += 1
            if ln:
                w = _read_word(buf, rs, ln, T_P, g, opts, flags)
                if rs[2]:
                    return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
                for t in range(ln):
                    idx = nb[t]
                    lastb[s, idx] = b
                    if (w >> (ln - 1 - t)) & 1:
                        _set_sig(buf, rs, s, idx, b, mag, sp, lastb)
                for t in range(ln):
                    if (w >> (ln - 1 - t)) & 1:
                        neg[s, nb[t]] = rd(buf, rs, 1)
                if rs[2]:
                    return rs[0], TRUNCATED
        # stage 2
        for s in range(S):
            if bitmax[s] < bp:
                continue
            g = s // GAGGLE
            if tranB[s] == 0:
                v = rd(buf, rs, 1)
                if rs[2]:
                    return rs[0], TRUNCATED
                if v == 0:
                    continue
                tranB[s] = 1
            ln = 0
            for d in range(3):
                if wts[4 + d] >= bp and wts[7 + d] >= bp:
                    continue
                if ((tranD[s] >> (2 - d)) & 1) == 0:
                    nb[ln] = d
                    ln += 1
            if ln:
                w = _read_word(buf, rs, ln, T_D, g, opts, flags)
                if rs[2]:
                    return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
                for t in range(ln):
                    if (w >> (ln - 1 - t)) & 1:
                        tranD[s] |= 1 << (2 - nb[t])
            for d in range(3):
                if ((tranD[s] >> (2 - d)) & 1) == 0 or wts[4 + d] >= bp:
                    continue
                ln = 0
                for t in range(4):
                    if sp[s, CH[d, t]] < 0:
                        nb[ln] = CH[d, t]
                        ln += 1
                if ln == 0:
                    continue
                w = _read_word(buf, rs, ln, T_C, g, opts, flags)
                if rs[2]:
                    return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
                for t in range(ln):
                    lastb[s, nb[t]] = b
                    if (w >> (ln - 1 - t)) & 1:
                        _set_sig(buf, rs, s, nb[t], b, mag, sp, lastb)
                for t in range(ln):
                    if (w >> (ln - 1 - t)) & 1:
                        neg[s, nb[t]] = rd(buf, rs, 1)
                if rs[2]:
                    return rs[0], TRUNCATED
        # stage 3
        for s in range(S):
            if bitmax[s] < bp or tranB[s] == 0:
                continue
            g = s // GAGGLE
            ln = 0
            for d in range(3):
                if wts[7 + d] >= bp:
                    continue
                if ((tranD[s] >> (2 - d)) & 1) and ((tranG[s] >> (2 - d)) & 1) == 0:
                    nb[ln] = d
                    ln += 1
            if ln:
                w = _read_word(buf, rs, ln, T_G, g, opts, flags)
                if rs[2]:
                    return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
                for t in range(ln):
                    if (w >> (ln - 1 - t)) & 1:
                        tranG[s] |= 1 << (2 - nb[t])
            for i in range(3):
                if wts[7 + i] >= bp or ((tranG[s] >> (2 - i)) & 1) == 0:
                    continue
                ln = 0
                for j in range(4):
                    if ((tranH[s, i] >> (3 - j)) & 1) == 0:
                        nb[ln] = j
                        ln += 1
                if ln:
                    w = _read_word(buf, rs, ln, T_H, g, opts, flags)
                    if rs[2]:
                        return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
                    for t in range(ln):
                        if (w >> (ln - 1 - t)) & 1:
                            tranH[s, i] |= 1 << (3 - nb[t])
            for i in range(3):
                if wts[7 + i] >= bp:
                    continue
                for j in range(4):
                    if ((tranH[s, i] >> (3 - j)) & 1) == 0:
                        continue
                    ln = 0
                    for t in range(4):
                        if sp[s, GC[i, j, t]] < 0:
                            nb[ln] = GC[i, j, t]
                            ln += 1
                    if ln == 0:
                        continue
                    w = _read_word(buf, rs, ln, T_HT, g, opts, flags)
                    if rs[2]:
                        return rs[0], (TRUNCATED if rs[2] == 1 else CORRUPT)
                    for t in range(ln):
                        lastb[s, nb[t]] = b
                        if (w >> (ln - 1 - t)) & 1:
                            _set_sig(buf, rs, s, nb[t], b, mag, sp, lastb)
                    for t in range(ln):
                        if (w >> (ln - 1 - t)) & 1:
                            neg[s, nb[t]] = rd(buf, rs, 1)
                    if rs[2]:
                        return rs[0], TRUNCATED
        # stage 4
        for s in range(S):
            if bitmax[s] < bp:
                continue
            for i in range(3):
                idx = PAR[i]
                if wts[1 + i] < bp and sp[s, idx] > b:
                    bit = rd(buf, rs, 1)
                    if rs[2]:
                        return rs[0], TRUNCATED
                    mag[s, idx] |= bit << b
                    lastb[s, idx] = b
            for d in range(3):
                if wts[4 + d] >= bp:
                    continue
                for t in range(4):
                    idx = CH[d, t]
                    if sp[s, idx] > b:
                        bit = rd(buf, rs, 1)
                        if rs[2]:
                            return rs[0], TRUNCATED
                        mag[s, idx] |= bit << b
                        lastb[s, idx] = b
            for i in range(3):
                if wts[7 + i] >= bp:
                    continue
                for j in range(4):
                    for t in range(4):
                        idx = GC[i, j, t]
                        if sp[s, idx] > b:
                            bit = rd(buf, rs, 1)
                            if rs[2]:
                                return rs[0], TRUNCATED
                            mag[s, idx] |= bit << b
                            lastb[s, idx] = b
    return rs[0], OK


@njit(cache=True)
def reconstruct(mag, neg, sp, lastb, dc, dckb, wts, out):
    """Coefficients (still weighted) from decoded bits: exact where every plane is known, else
    the middle of the interval the known bits leave (planes below a band's weight are zero)."""
    S = mag.shape[0]
    for s in range(S):
        v = dc[s]
        kb = dckb[s]
        if kb == 99:
            v = 0
        elif kb > wts[0]:
            v += ((np.int64(1) << kb) - (np.int64(1) << wts[0])) >> 1
        out[s, 0] = v
        for k in range(1, 64):
            if sp[s, k] < 0:
                out[s, k] = 0
                continue
            w = wts[_weight_index(k)]
            m = mag[s, k]
            kb = lastb[s, k]
            if kb > w:
                m += ((np.int64(1) << kb) - (np.int64(1) << w)) >> 1
            out[s, k] = -m if neg[s, k] else m


@njit(cache=True, inline="always")
def _weight_index(k):
    r = k >> 3
    c = k & 7
    if r >= 4 or c >= 4:
        return 9 if (r >= 4 and c >= 4) else (8 if r >= 4 else 7)
    if r >= 2 or c >= 2:
        return 6 if (r >= 2 and c >= 2) else (5 if r >= 2 else 4)
    if r >= 1 or c >= 1:
        return 3 if (r >= 1 and c >= 1) else (2 if r >= 1 else 1)
    return 0
