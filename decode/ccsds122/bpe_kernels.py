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

The decoder works in "refinement order" (see :data:`ORDER`): a block's significance is one
64-bit mask, every word covers consecutive positions and stage 4 is one read per block. It
stops cleanly when the segment's bits run out (byte-limited segments) and records where
(plane, stage, block), so :func:`reconstruct_fast` can put each coefficient at the middle of
the interval its received bits leave. Invalid codes (corrupted data) end the segment with
status CORRUPT; every index is bounded by construction (the hot loops run without bounds
checks and without NRT reference counting).
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from decode.ccsds122.tables import CLEN, CODE, DEC, ID_BITS, MAP, T_B, T_C, T_D, T_G, T_H, T_HT, \
    T_P, UNMAPR

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
def bitlen(v):
    n = 0
    while v > 0:
        v >>= 1
        n += 1
    return n


# ------------------------------------------------------------------ segment parameters
@njit(cache=True, nogil=True)
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
@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False, inline="always")
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
    c20 = c21 = c30 = c31 = c33 = c40 = c41 = c42 = c43 = 0
    for s in range(g0, g1):
        if bitmax[s] < bp:
            continue
        for k in range(MAXW):
            ln = wl[s, k]
            if ln < 2:
                continue
            sym = wv[s, k]
            if ln == 2:
                c20 += CLEN[2, 0, sym]
                c21 += 2
            elif ln == 3:
                c30 += CLEN[3, 0, sym]
                c31 += CLEN[3, 1, sym]
                c33 += 3
            else:
                c40 += CLEN[4, 0, sym]
                c41 += CLEN[4, 1, sym]
                c42 += CLEN[4, 2, sym]
                c43 += 4
    # ties resolved as the reference encoder does (uncoded first, then the lowest option)
    opt[0] = 0 if c20 < c21 else 1
    if c33 <= c30 and c33 <= c31:
        opt[1] = 3
    elif c30 <= c31:
        opt[1] = 0
    else:
        opt[1] = 1
    if c43 <= c40 and c43 <= c41 and c43 <= c42:
        opt[2] = 3
    elif c40 <= c41 and c40 <= c42:
        opt[2] = 0
    elif c41 <= c42:
        opt[2] = 1
    else:
        opt[2] = 2


@njit(cache=True, nogil=True)
def encode_body(blk, wts, is_int, bddc, bdac, buf, pos):
    """Code the segment ``blk`` (S, 64) after its header, from bit ``pos`` of zeroed ``buf``.

    Returns the bit position after the last coded bit (not yet padded to a byte).
    """
    S = blk.shape[0]
    ngag = (S + GAGGLE - 1) // GAGGLE
    # state sized for memory (S may be 2**20): magnitudes int32, flags/words int8
    return _encode_core(blk, wts, is_int, bddc, bdac, buf, pos,
                        np.zeros((6, S), np.int64), np.zeros((S, 64), np.int32),
                        np.zeros((S, 64), np.uint8), np.zeros((S, 64), np.uint8),
                        np.zeros((S, 3), np.int64), np.zeros((4, S, MAXW), np.int8),
                        np.zeros((6, S), np.int64), np.zeros((ngag, 3), np.int64),
                        np.zeros((ngag, 3), np.int64))


# no NRT reference counting in the hot loops (see _decode_core); allocates nothing
@njit(cache=True, nogil=True, _nrt=False)
def _encode_core(blk, wts, is_int, bddc, bdac, buf, pos, vec, amp, neg, sig, tranH, words,
                 blkv, opts, flags):
    S = blk.shape[0]
    wll = wts[0]
    q = dc_q(bddc, bdac, is_int, wll)
    n = max(bddc - q, 1)
    mask = (np.int64(1) << bddc) - 1
    shifted = vec[0]
    rem = vec[1]
    mapped = vec[2]
    bitmax = vec[3]
    for i in range(S):
        tc = np.int64(blk[i, 0]) & mask
        shifted[i] = tc >> q
        rem[i] = tc & ((np.int64(1) << q) - 1)
    if n == 1:
        for i in range(S):
            pos = put(buf, pos, shifted[i], 1)
    else:
        half = np.int64(1) << (n - 1)
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
        mapped[0] = bitmax[0]
        for i in range(1, S):
            mapped[i] = _map_diff(bitmax[i] - bitmax[i - 1], bitmax[i - 1], 0, (1 << na) - 1)
        maxk, idlen = ac_code_params(na)
        pos = _code_gaggles(buf, pos, mapped, na, maxk, idlen)

    tranB = vec[4]
    tranD = vec[5]
    tranG = blkv[0]
    wl = words[0]
    wv = words[1]
    ws = words[2]
    wn = words[3]
    nw = blkv[1]
    st2 = blkv[2]
    st3 = blkv[3]
    refv = blkv[4]
    refn = blkv[5]
    ngag = (S + GAGGLE - 1) // GAGGLE
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
@njit(cache=True, inline="always")
def _unmap_diff(m, prev, xmin, xmax):
    theta = min(prev - xmin, xmax - prev)
    if m <= 2 * theta:
        return m >> 1 if (m & 1) == 0 else -((m + 1) >> 1)
    if prev - xmin < xmax - prev:
        return m - theta
    return theta - m


# ------------------------------------------------------------------ fast decoder (r-space)
# Coefficients of a block in *refinement order* r = 0..62 (parents, children by band, then
# grandchildren by band and group): every word of §4.5.2 covers a run of consecutive r, and the
# refinement bits of stage 4 are the significant r in increasing order, so a block's state is a
# 64-bit significance mask and stage 4 is one read per block.
ORDER = np.zeros(63, dtype=np.int64)
ORDER[0:3] = PAR
for _k in range(3):
    ORDER[3 + 4 * _k:7 + 4 * _k] = CH[_k]
for _i in range(3):
    for _j in range(4):
        ORDER[15 + 16 * _i + 4 * _j:19 + 16 * _i + 4 * _j] = GC[_i, _j]
#: weight index (0 LL3 … 9 HH1) of each r
R_WT = np.array([1, 2, 3] + [4 + k for k in range(3) for _ in range(4)]
                + [7 + i for i in range(3) for _ in range(16)], dtype=np.int64)


def word_table(buf: np.ndarray) -> np.ndarray:
    """The bytes of ``buf`` as big-endian 64-bit words (native uint64), zero-padded by two
    words so :func:`pk` may always read word j + 1."""
    n = buf.shape[0]
    padded = np.zeros(((n + 7) // 8 + 2) * 8, np.uint8)
    padded[:n] = buf
    return padded.view(">u8").astype(np.uint64)


@njit(cache=True, inline="always")
def pk(W, pos, n):
    """Next ``n`` (1..64) bits at bit ``pos`` (two aligned word loads)."""
    j = pos >> 6
    off = np.uint64(pos & 63)
    v = (W[j] << off) | ((W[j + 1] >> np.uint64(1)) >> (np.uint64(63) - off))
    return np.int64(v >> np.uint64(64 - n))


@intrinsic
def _ctpop(typingctx, src):
    """LLVM population count of an integer."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return src(src), codegen


@njit(cache=True, inline="always")
def ctz(m):
    """Index of the lowest set bit of a non-zero int64."""
    return np.int64(trailing_zeros(m))


@njit(cache=True, inline="always")
def popcount(m):
    """Number of set bits of an int64."""
    return np.int64(_ctpop(m))


@njit(cache=True, nogil=True, _nrt=False)
def _gaggles_fast(W, pos, limit, S, n, maxk, idlen, mapped):
    """Inverse of :func:`_code_gaggles`; returns (pos, status, number of samples complete)."""
    start = 0
    unc = (1 << idlen) - 1
    while start < S:
        cnt = min(GAGGLE, S - start)
        first = 1 if start == 0 else start
        if pos + idlen > limit:
            return pos, TRUNCATED, start
        k = pk(W, pos, idlen)
        pos += idlen
        coded = k != unc
        if coded and k > maxk:
            return pos, CORRUPT, start
        for i in range(start, start + cnt):
            if not coded or i == 0:
                if pos + n > limit:
                    return pos, TRUNCATED, start
                mapped[i] = pk(W, pos, n)
                pos += n
            else:
                z = 0
                while True:
                    if pos >= limit:
                        return pos, TRUNCATED, start
                    if pk(W, pos, 1):
                        pos += 1
                        break
                    pos += 1
                    z += 1
                    if z > (1 << n):
                        return pos, CORRUPT, start
                mapped[i] = z << k
        if coded and k > 0:
            if pos + k * (start + cnt - first) > limit:
                return pos, TRUNCATED, start
            for i in range(first, start + cnt):
                mapped[i] += pk(W, pos, k)
                pos += k
        start += cnt
    return pos, OK, S


@njit(cache=True, nogil=True)
def decode_fast(W, pos, limit, S, wts, is_int, bddc, bdac, mag, sig, sp, dc, dckb, stop):
    """Allocate the scratch state and run :func:`_decode_core` (see there)."""
    ngag = (S + GAGGLE - 1) // GAGGLE
    return _decode_core(W, pos, limit, S, wts, is_int, bddc, bdac, mag, sig, sp, dc, dckb, stop,
                        np.zeros(S, np.int64), np.zeros(S, np.int64), np.zeros((5, S), np.int64),
                        np.zeros((ngag, 3), np.int64), np.zeros((ngag, 3), np.int64))


# No reference counting in the hot loop: NRT increfs/decrefs (atomic) of the array arguments
# of inlined helpers otherwise cost ~25 ns per word. The core therefore allocates nothing.
@njit(cache=True, nogil=True, _nrt=False)
def _decode_core(W, pos, limit, S, wts, is_int, bddc, bdac, mag, sig, sp, dc, dckb, stop,
                 mapped, bitmax, trans, opts, flags):
    """Decode a segment body from bit ``pos`` (≤ ``limit``) of the word table ``W``.

    Outputs per block: ``mag`` (S, 63) magnitudes in refinement order, ``sig`` significance
    masks, ``sp`` (S, 63) plane where each became significant, ``dc``/``dckb`` the DC values
    and their lowest known plane (99: not received), ``stop`` = [plane, stage, block] where a
    truncated segment ended (plane = -1 when complete). ``mag`` carries the signs (coefficient
    values). Returns (pos, status).
    """
    stop[0] = -1
    stop[1] = 0
    stop[2] = 0
    for s in range(S):
        dckb[s] = 99
        dc[s] = 0
        sig[s] = 0
    wll = wts[0]
    q = dc_q(bddc, bdac, is_int, wll)
    n = max(bddc - q, 1)
    stop[0] = bdac
    if n == 1:
        if pos + S > limit:
            return pos, TRUNCATED
        for i in range(S):
            v = pk(W, pos, 1)
            pos += 1
            dc[i] = -(v << q) if bddc - q == 1 else 0
            dckb[i] = q
    else:
        maxk, idlen = dc_code_params(n)
        pos, st, done = _gaggles_fast(W, pos, limit, S, n, maxk, idlen, mapped)
        half = np.int64(1) << (n - 1)
        if done > 0:
            prev = mapped[0] - 2 * half if mapped[0] >= half else mapped[0]
            dc[0] = prev << q
            dckb[0] = q
            for i in range(1, done):
                cur = prev + _unmap_diff(mapped[i], prev, -half, half - 1)
                dc[i] = cur << q
                dckb[i] = q
                prev = cur
        if st != OK:
            # cut inside the DC code (very low rates): blocks after the last complete gaggle
            # take the last decoded DC, the best guess a DPCM stream leaves
            if done > 0:
                for i in range(done, S):
                    dc[i] = dc[done - 1]
                    dckb[i] = q
            return pos, st
        if q > bdac:
            nadd = q - max(bdac, wll) if is_int else q - bdac
            for p in range(nadd):
                for i in range(S):
                    if pos >= limit:
                        return pos, TRUNCATED
                    dc[i] |= pk(W, pos, 1) << (q - p - 1)
                    dckb[i] = q - p - 1
                    pos += 1
    if bdac == 0:
        stop[0] = -1
        return pos, OK
    if bdac == 1:
        if pos + S > limit:
            return pos, TRUNCATED
        for s in range(S):
            bitmax[s] = pk(W, pos, 1)
            pos += 1
    else:
        na = bitlen(bdac)
        maxk, idlen = ac_code_params(na)
        pos, st, done = _gaggles_fast(W, pos, limit, S, na, maxk, idlen, mapped)
        if st != OK:
            return pos, st
        bitmax[0] = mapped[0]
        for i in range(1, S):
            bitmax[i] = bitmax[i - 1] + _unmap_diff(mapped[i], bitmax[i - 1], 0, (1 << na) - 1)
    for s in range(S):
        if bitmax[s] > bdac or bitmax[s] < 0:
            return pos, CORRUPT
        for r in range(63):
            mag[s, r] = 0
            sp[s, r] = -1
    tranB = trans[0]
    tranD = trans[1]
    tranG = trans[2]
    tranH = trans[3]                        # 12 bits: band i group j at bit 4*i + 3 - j
    newsig = trans[4]
    ngag = (S + GAGGLE - 1) // GAGGLE
    for bp in range(bdac, 0, -1):
        b = bp - 1
        stop[0] = b
        stop[1] = 0
        # masks of the bands coded at this plane
        allowed = np.int64(0)
        for r in range(63):
            if wts[R_WT[r]] < bp:
                allowed |= np.int64(1) << r
        cskip0 = wts[4] >= bp
        cskip1 = wts[5] >= bp
        cskip2 = wts[6] >= bp
        gskip0 = wts[7] >= bp
        gskip1 = wts[8] >= bp
        gskip2 = wts[9] >= bp
        if bp <= q and ((not is_int) or (q > wll and wll < bp)):
            if pos + S > limit:
                stop[2] = 0
                # DC bits of the blocks that fit
                for i in range(max(0, limit - pos)):
                    dc[i] |= pk(W, pos, 1) << b
                    dckb[i] = b
                    pos += 1
                return pos, TRUNCATED
            for i in range(S):
                dc[i] |= pk(W, pos, 1) << b
                dckb[i] = b
                pos += 1
        for g in range(ngag):
            opts[g, 0] = 0              # packed option state per gaggle (see _read_word_fast)
        for s in range(S):
            newsig[s] = 0
        curg = -1
        ost = 0
        for stage in range(1, 4):
            stop[1] = stage
            for s in range(S):
                if bitmax[s] < bp:
                    continue
                if (~sig[s] & allowed) == 0 and newsig[s] == 0:
                    continue        # everything coded is significant: no word in stages 1-3
                g = s // GAGGLE
                if g != curg:                   # option state of the gaggle in a register
                    if curg >= 0:
                        opts[curg, 0] = ost
                    curg = g
                    ost = opts[g, 0]
                if stage == 1:
                    nonsig = ~sig[s] & 0x7 & allowed
                    if nonsig:
                        pos, st, ost = _word_group(W, pos, limit, s, 0, nonsig, T_P, ost,
                                                   b, mag, sig, sp, newsig)
                        if st != OK:
                            stop[2] = s
                            return pos, st
                elif stage == 2:
                    if tranB[s] == 0:
                        if pos >= limit:
                            stop[2] = s
                            return pos, TRUNCATED
                        v = pk(W, pos, 1)
                        pos += 1
                        if v == 0:
                            continue
                        tranB[s] = 1
                    ln = 0
                    pend = 0
                    for d in range(3):
                        cs = cskip0 if d == 0 else (cskip1 if d == 1 else cskip2)
                        gs = gskip0 if d == 0 else (gskip1 if d == 1 else gskip2)
                        if cs and gs:
                            continue
                        if ((tranD[s] >> (2 - d)) & 1) == 0:
                            pend |= d << (2 * ln)
                            ln += 1
                    if ln:
                        pos, w, st, ost = _read_word_fast(W, pos, limit, ln, T_D, ost)
                        if st != OK:
                            stop[2] = s
                            return pos, st
                        for t in range(ln):
                            if (w >> t) & 1:
                                tranD[s] |= 1 << (2 - ((pend >> (2 * t)) & 3))
                    for d in range(3):
                        cs = cskip0 if d == 0 else (cskip1 if d == 1 else cskip2)
                        if ((tranD[s] >> (2 - d)) & 1) == 0 or cs:
                            continue
                        r0 = 3 + 4 * d
                        nonsig = ~sig[s] & (np.int64(0xF) << r0)
                        if nonsig:
                            pos, st, ost = _word_group(W, pos, limit, s, r0, nonsig, T_C, ost,
                                                       b, mag, sig, sp, newsig)
                            if st != OK:
                                stop[2] = s
                                return pos, st
                else:
                    if tranB[s] == 0:
                        continue
                    ln = 0
                    pend = 0
                    for d in range(3):
                        gs = gskip0 if d == 0 else (gskip1 if d == 1 else gskip2)
                        if gs:
                            continue
                        if ((tranD[s] >> (2 - d)) & 1) and ((tranG[s] >> (2 - d)) & 1) == 0:
                            pend |= d << (2 * ln)
                            ln += 1
                    if ln:
                        pos, w, st, ost = _read_word_fast(W, pos, limit, ln, T_G, ost)
                        if st != OK:
                            stop[2] = s
                            return pos, st
                        for t in range(ln):
                            if (w >> t) & 1:
                                tranG[s] |= 1 << (2 - ((pend >> (2 * t)) & 3))
                    for i in range(3):
                        gs = gskip0 if i == 0 else (gskip1 if i == 1 else gskip2)
                        if gs or ((tranG[s] >> (2 - i)) & 1) == 0:
                            continue
                        ln = 0
                        pend = 0
                        for j in range(4):
                            if ((tranH[s] >> (4 * i + 3 - j)) & 1) == 0:
                                pend |= j << (2 * ln)
                                ln += 1
                        if ln:
                            pos, w, st, ost = _read_word_fast(W, pos, limit, ln, T_H, ost)
                            if st != OK:
                                stop[2] = s
                                return pos, st
                            for t in range(ln):
                                if (w >> t) & 1:
                                    tranH[s] |= 1 << (4 * i + 3 - ((pend >> (2 * t)) & 3))
                    for i in range(3):
                        gs = gskip0 if i == 0 else (gskip1 if i == 1 else gskip2)
                        if gs:
                            continue
                        hm = (tranH[s] >> (4 * i)) & 0xF
                        if hm == 0 or (~sig[s] & (np.int64(0xFFFF) << (15 + 16 * i))) == 0:
                            continue
                        for j in range(4):
                            if ((hm >> (3 - j)) & 1) == 0:
                                continue
                            r0 = 15 + 16 * i + 4 * j
                            nonsig = ~sig[s] & (np.int64(0xF) << r0)
                            if nonsig:
                                pos, st, ost = _word_group(W, pos, limit, s, r0, nonsig, T_HT,
                                                           ost, b, mag, sig, sp, newsig)
                                if st != OK:
                                    stop[2] = s
                                    return pos, st
        # stage 4: refinement, one read per block
        stop[1] = 4
        for s in range(S):
            if bitmax[s] < bp:
                continue
            m = sig[s] & ~newsig[s] & allowed
            if m == 0:
                continue
            cnt = popcount(m)
            if pos + cnt > limit:
                stop[2] = s
                return pos, TRUNCATED
            bits = pk(W, pos, cnt)              # cnt ≤ 63
            pos += cnt
            t = cnt
            while m:
                r = ctz(m)
                m &= m - 1
                t -= 1
                v = np.int64(mag[s, r])
                sgn = v >> 63                       # 0 or -1: add the bit away from zero
                mag[s, r] = v + ((((bits >> t) & 1) << b) ^ sgn) - sgn
    stop[0] = -1
    return pos, OK


@njit(cache=True, inline="always")
def _read_word_fast(W, pos, limit, ln, typ, ost):
    """One mapped word of ``ln`` bits, returned bit-reversed (bit t = t-th coefficient).

    ``ost`` packs the gaggle's code-option state: bit k set once the option of (k+2)-bit words
    was read, the option itself in bits 4 + 4k. Returns (pos, word, status, ost)."""
    if ln == 1:
        if pos >= limit:
            return pos, 0, TRUNCATED, ost
        return pos + 1, pk(W, pos, 1), OK, ost
    k = ln - 2
    if ((ost >> k) & 1) == 0:
        nb = ID_BITS[ln]
        if pos + nb > limit:
            return pos, 0, TRUNCATED, ost
        o = pk(W, pos, nb)
        pos += nb
        if ln == 3 and o == 2:
            return pos, 0, CORRUPT, ost
        ost |= (1 << k) | (o << (4 + 4 * k))
    o = (ost >> (4 + 4 * k)) & 3
    e = DEC[ln, o, pk(W, pos, 8)]
    cl = e >> 8
    if pos + cl > limit:
        return pos, 0, TRUNCATED, ost
    return pos + cl, UNMAPR[typ, ln, e & 0xFF], OK, ost


@njit(cache=True, inline="always")
def _word_group(W, pos, limit, s, r0, nonsig, typ, ost, b, mag, sig, sp, newsig):
    """Decode the types word of the not-yet-significant members ``nonsig`` (mask in r-space,
    group starting at r0) and the sign bits that follow it. Returns (pos, status, ost)."""
    ln = popcount(nonsig)
    pos, w, st, ost = _read_word_fast(W, pos, limit, ln, typ, ost)
    if st != OK:
        return pos, st, ost
    if w == 0:
        return pos, OK, ost
    nsg = popcount(w)
    if pos + nsg > limit:
        return pos, TRUNCATED, ost
    signs = pk(W, pos, nsg)
    pos += nsg
    m = nonsig
    t = 0
    k = nsg
    while m:
        r = ctz(m)
        m &= m - 1
        if (w >> t) & 1:
            k -= 1
            bit = np.int64(1) << r
            sig[s] |= bit
            newsig[s] |= bit
            sp[s, r] = b
            mag[s, r] = -(np.int64(1) << b) if (signs >> k) & 1 else (np.int64(1) << b)
        t += 1
    return pos, OK, ost


@njit(cache=True, nogil=True)
def reconstruct_fast(mag, sig, sp, dc, dckb, wts, stop, out):
    """Coefficients (weighted, block index order) of a decoded segment; where the segment was
    cut (``stop`` = [plane, stage, block]), each significant coefficient is put at the middle of
    the interval its known bits leave (planes below its band's weight are known zeros)."""
    S = mag.shape[0]
    bs = stop[0]
    for s in range(S):
        v = dc[s]
        kb = dckb[s]
        if kb == 99:
            v = 0
        elif kb > wts[0]:
            v += ((np.int64(1) << kb) - (np.int64(1) << wts[0])) >> 1
        out[s, 0] = v
        for r in range(63):
            out[s, ORDER[r]] = 0
        m = sig[s]
        while m:
            r = ctz(m)
            m &= m - 1
            v = mag[s, r]
            if bs >= 0:
                if sp[s, r] == bs or (stop[1] == 4 and s < stop[2]):
                    kb = bs
                else:
                    kb = bs + 1
                w = wts[R_WT[r]]
                if kb > w:
                    off = ((np.int64(1) << kb) - (np.int64(1) << w)) >> 1
                    v = v - off if v < 0 else v + off
            out[s, ORDER[r]] = v
