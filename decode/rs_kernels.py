"""Numba kernels of the CCSDS Reed-Solomon code (CCSDS 131.0-B-3 §4, Annex F).

Conventions (all kernels):

* Symbols are bytes. A codeblock of interleave depth I holds codeword k in bytes
  ``k, k+I, k+2I, ...`` (131.0-B §4.3.6); symbol p of a codeword (p = 0 transmitted first) is
  the coefficient of x^(nn-1-p).
* ``to_conv``/``to_dual`` (256 uint8) map transmitted symbols to the conventional (polynomial)
  basis of GF(2^8) and back; identity tables for a conventional-basis code.
* ``gtab[v]`` (256×4 uint64) is v·g(x) without its leading term, coefficients of
  x^(nroots-1) … x^0 packed big-endian and left-aligned in 32 bytes: a byte-wise LFSR over
  four 64-bit words divides by g(x) at ~1 table look-up per symbol (nroots ≤ 32).
* ``expb``/``logb`` are exponent/logarithm tables to the base β = α^root_step, the element
  whose consecutive powers β^fcr … β^(fcr+nroots-1) are the generator roots (CCSDS: β = α^11,
  fcr = 112). ``expb`` has 512 entries so sums of two logs need no modulo.

The error-free fast path is the LFSR remainder (zero ⇔ codeword). Only codewords with a
non-zero remainder go through syndromes (from the remainder: nroots² products instead of
nn·nroots), Berlekamp–Massey, Chien search and Forney, and every correction is verified by
recomputing the remainder of the corrected codeword.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: corrections allowed outside the head of a codeword in a head-restricted trial decode
STRAY_CORRECTIONS = 2

_M8 = np.uint64(0xFF)
_S8 = np.uint64(8)
_S56 = np.uint64(56)


@njit(cache=True, inline="always")
def _lfsr(r0, r1, r2, r3, sym, gtab):
    """One division step: feed conventional-basis symbol ``sym`` into the remainder register."""
    r0 = np.uint64(r0)      # no-op when jitted; keeps .py_func callers (boxed ints) unsigned
    r1 = np.uint64(r1)
    r2 = np.uint64(r2)
    r3 = np.uint64(r3)
    fb = np.int64(((r0 >> _S56) & _M8) ^ np.uint64(sym))
    r0 = ((r0 << _S8) | (r1 >> _S56)) ^ gtab[fb, 0]
    r1 = ((r1 << _S8) | (r2 >> _S56)) ^ gtab[fb, 1]
    r2 = ((r2 << _S8) | (r3 >> _S56)) ^ gtab[fb, 2]
    r3 = (r3 << _S8) ^ gtab[fb, 3]
    return r0, r1, r2, r3


@njit(cache=True)
def remainder_interleaved(block, start, step, count, to_conv, gtab):
    """x^nroots·c(x) mod g(x) of the ``count`` symbols ``block[start + i*step]`` (→ 4 uint64)."""
    r0 = np.uint64(0)
    r1 = np.uint64(0)
    r2 = np.uint64(0)
    r3 = np.uint64(0)
    for i in range(count):
        r0, r1, r2, r3 = _lfsr(r0, r1, r2, r3, to_conv[block[start + i * step]], gtab)
    return r0, r1, r2, r3


@njit(cache=True)
def _unpack(r0, r1, r2, r3, out):
    for j in range(32):
        w = j // 8
        reg = r0 if w == 0 else (r1 if w == 1 else (r2 if w == 2 else r3))
        out[j] = (reg >> np.uint64(56 - 8 * (j % 8))) & _M8
    return (r0 | r1 | r2 | r3) != 0


@njit(cache=True)
def remainder_bytes(block, start, step, count, to_conv, gtab, out):
    """Like :func:`remainder_interleaved`, the 32 register bytes written big-endian into ``out``
    (coefficient of x^(nroots-1) first); returns True when the remainder is non-zero."""
    r0, r1, r2, r3 = remainder_interleaved(block, start, step, count, to_conv, gtab)
    return _unpack(r0, r1, r2, r3, out)


@njit(cache=True)
def remainder_bytes_conv(cw, count, gtab, out):
    """Remainder bytes of ``count`` contiguous conventional-basis symbols ``cw``."""
    r0 = np.uint64(0)
    r1 = np.uint64(0)
    r2 = np.uint64(0)
    r3 = np.uint64(0)
    for p in range(count):
        r0, r1, r2, r3 = _lfsr(r0, r1, r2, r3, cw[p], gtab)
    return _unpack(r0, r1, r2, r3, out)


@njit(cache=True)
def remainder2_interleaved(block, start, step, count, to_conv, gtab):
    """Remainders of two interleaved codewords at ``start`` and ``start+1`` in one pass: the two
    independent LFSR chains overlap in the CPU pipeline (the dependency chain is the latency)."""
    a0 = np.uint64(0)
    a1 = np.uint64(0)
    a2 = np.uint64(0)
    a3 = np.uint64(0)
    b0 = np.uint64(0)
    b1 = np.uint64(0)
    b2 = np.uint64(0)
    b3 = np.uint64(0)
    for i in range(count):
        j = start + i * step
        a0, a1, a2, a3 = _lfsr(a0, a1, a2, a3, to_conv[block[j]], gtab)
        b0, b1, b2, b3 = _lfsr(b0, b1, b2, b3, to_conv[block[j + 1]], gtab)
    return (a0 | a1 | a2 | a3) != 0, (b0 | b1 | b2 | b3) != 0


@njit(cache=True)
def rs_encode(frames, interleave, kk, nroots, to_conv, to_dual, gtab, out):
    """Systematic encoding of ``frames`` (n, kk·I) into codeblocks ``out`` (n, (kk+nroots)·I):
    data bytes copied, parity of codeword k in bytes (kk+j)·I + k, in the transmitted basis."""
    reg = np.empty(32, np.uint8)
    for f in range(frames.shape[0]):
        fr = frames[f]
        ob = out[f]
        for i in range(kk * interleave):
            ob[i] = fr[i]
        for k in range(interleave):
            remainder_bytes(fr, k, interleave, kk, to_conv, gtab, reg)
            for j in range(nroots):
                ob[(kk + j) * interleave + k] = to_dual[reg[j]]


@njit(cache=True, inline="always")
def _gmul(a, b, expb, logb):
    if a == 0 or b == 0:
        return 0
    return np.int64(expb[logb[a] + logb[b]])


@njit(cache=True)
def decode_codeword(cw, nn, nroots, fcr, gtab, expb, logb, work):
    """Correct codeword ``cw`` (nn conventional-basis symbols, in place). Returns the number of
    corrected symbols, or a negative number if uncorrectable.

    ``work`` is an int64 scratch array of at least 5·(nroots+1) + nn + 32 entries. Decoding follows
    Berlekamp–Massey (error locator Λ), Chien search (roots of Λ at positions 0..nn-1) and
    Forney (e = X^(1-fcr)·Ω(X⁻¹)/Λ'(X⁻¹)); it fails when deg Λ ≠ BM length, when Λ has fewer
    roots in range than its degree, or when the error pattern found does not reproduce all
    nroots syndromes (i.e. the corrected word would not be a codeword); ``cw`` is then left
    as received.
    """
    ns = nroots + 1
    synd = work[0:ns]
    lam = work[ns:2 * ns]
    bb = work[2 * ns:3 * ns]
    tt = work[3 * ns:4 * ns]
    omega = work[4 * ns:5 * ns]
    pos = work[5 * ns:5 * ns + nn]
    rem = work[5 * ns + nn:5 * ns + nn + 32]

    # premultiplied remainder r'(x) = x^nroots c(x) mod g(x); S_i = r'(β^(fcr+i))·β^(-(fcr+i)·nroots).
    # Horner over the remainder bytes, the nroots syndromes as independent chains (ILP).
    if not remainder_bytes_conv(cw, nn, gtab, rem):
        return 0
    for i in range(nroots):
        synd[i] = 0
        tt[i] = (fcr + i) % 255                     # log of the root β^(fcr+i)
    for j in range(nroots):
        rj = rem[j]
        for i in range(nroots):
            a = synd[i]
            synd[i] = (expb[logb[a] + tt[i]] if a != 0 else 0) ^ rj
    nonzero = False
    for i in range(nroots):
        a = synd[i]
        if a != 0:
            synd[i] = expb[(logb[a] + 255 - ((fcr + i) % 255) * nroots % 255) % 255]
            nonzero = True
    if not nonzero:            # impossible for a non-zero remainder of degree < nroots; be safe
        return -1

    # Berlekamp–Massey (after r steps deg Λ, deg B ≤ r + 1: loops bounded accordingly)
    for i in range(ns):
        lam[i] = 0
        bb[i] = 0
    lam[0] = 1
    bb[0] = 1
    L = 0
    for r in range(nroots):
        top = min(r + 2, ns)
        delta = synd[r]
        for i in range(1, L + 1):
            if lam[i] != 0 and synd[r - i] != 0:
                delta ^= expb[logb[lam[i]] + logb[synd[r - i]]]
        if delta == 0:
            for i in range(top - 1, 0, -1):
                bb[i] = bb[i - 1]
            bb[0] = 0
            continue
        ld = logb[delta]
        tt[0] = lam[0]
        for i in range(1, top):
            b = bb[i - 1]
            tt[i] = lam[i] ^ (expb[ld + logb[b]] if b != 0 else 0)
        if 2 * L <= r:
            L = r + 1 - L
            inv = 255 - ld
            for i in range(top):
                a = lam[i]
                bb[i] = expb[logb[a] + inv] if a != 0 else 0
        else:
            for i in range(top - 1, 0, -1):
                bb[i] = bb[i - 1]
            bb[0] = 0
        for i in range(top):
            lam[i] = tt[i]
    deg = 0
    for i in range(ns):
        if lam[i] != 0:
            deg = i
    if deg != L or 2 * L > nroots:
        return -1

    # Chien search: position p (degree d = nn-1-p) is in error iff Λ(β^-d) = 0. Terms kept in
    # log form (tt[i] = log(λ_i β^(-d·i))), advanced by i per position without a modulo.
    for i in range(1, L + 1):
        tt[i] = (logb[lam[i]] + (255 - (nn - 1)) * i) % 255 if lam[i] != 0 else -1
    nroot = 0
    for p in range(nn):
        sacc = lam[0]
        for i in range(1, L + 1):
            t = tt[i]
            if t >= 0:
                sacc ^= expb[t]
                t += i
                if t >= 255:
                    t -= 255
                tt[i] = t
        if sacc == 0:
            pos[nroot] = p
            nroot += 1
            if nroot == L:      # deg Λ = L: all its roots are found
                break
    if nroot != L:
        return -1

    # Forney: Ω(x) = S(x)Λ(x) mod x^nroots (degree < L)
    for i in range(L):
        acc = 0
        for j in range(i + 1):
            if synd[i - j] != 0 and lam[j] != 0:
                acc ^= expb[logb[synd[i - j]] + logb[lam[j]]]
        omega[i] = acc
    for k in range(nroot):
        p = pos[k]
        d = nn - 1 - p
        xinv = (255 - d) % 255                      # log of X^-1
        num = 0
        for i in range(L):
            if omega[i] != 0:
                num ^= expb[(logb[omega[i]] + xinv * i) % 255]
        den = 0
        for i in range(1, L + 1, 2):
            if lam[i] != 0:
                den ^= expb[(logb[lam[i]] + xinv * (i - 1)) % 255]
        if den == 0 or num == 0:    # a zero error value is not a valid error pattern
            return -1
        bb[k] = (d * ((1 - fcr) % 255) + logb[num] + 255 - logb[den]) % 255   # log of the error value

    # verification: the error pattern must reproduce every syndrome (⇔ the corrected word is a
    # codeword), checked before anything is changed: a failure leaves ``cw`` as received
    for i in range(nroots):
        acc = synd[i]
        e = (fcr + i) % 255
        for k in range(nroot):
            acc ^= expb[(bb[k] + (nn - 1 - pos[k]) * e) % 255]
        if acc != 0:
            return -2
    for k in range(nroot):
        cw[pos[k]] ^= expb[bb[k]]
    return L


@njit(cache=True)
def decode_block(block, interleave, nn, kk, nroots, fcr, to_conv, to_dual, gtab, expb, logb,
                 data_out, corrected, cw, work, stop_on_fail, head):
    """Decode one interleaved codeblock (nn·I bytes) into ``data_out`` (kk·I bytes, transmitted
    basis) and ``corrected`` (I int16: symbols corrected per codeword, -1 uncorrectable).
    ``cw`` (uint8, nn) and ``work`` (int64) are scratch. Returns True when every codeword is
    a valid codeword after correction. Uncorrectable codewords are copied uncorrected.
    With ``stop_on_fail`` it returns False at the first uncorrectable codeword (trial decodes:
    ``corrected`` of the later codewords is then undefined). With ``head`` > 0 a codeword
    counts as uncorrectable when more than ``STRAY_CORRECTIONS`` of its corrections lie at
    symbol positions ≥ ``head`` (trial decodes one or two bits off, where only the symbols
    before a slip may be wrong)."""
    for i in range(kk * interleave):
        data_out[i] = block[i]
    ok = True
    k = 0
    while k < interleave:
        if k + 1 < interleave:
            bad_a, bad_b = remainder2_interleaved(block, k, interleave, nn, to_conv, gtab)
            n_here = 2
        else:
            r0, r1, r2, r3 = remainder_interleaved(block, k, interleave, nn, to_conv, gtab)
            bad_a = (r0 | r1 | r2 | r3) != 0
            bad_b = False
            n_here = 1
        for m in range(n_here):
            kc = k + m
            bad = bad_a if m == 0 else bad_b
            if not bad:
                corrected[kc] = 0
                continue
            for p in range(nn):
                cw[p] = to_conv[block[kc + p * interleave]]
            ne = decode_codeword(cw, nn, nroots, fcr, gtab, expb, logb, work)
            if ne > 0 and head > 0:
                ns = nroots + 1
                stray = 0
                for e in range(ne):
                    if work[5 * ns + e] >= head:      # error positions left by decode_codeword
                        stray += 1
                if stray > STRAY_CORRECTIONS:
                    ne = -3                           # data_out keeps the received symbols
            if ne < 0:
                corrected[kc] = -1
                ok = False
                if stop_on_fail:
                    return False
                continue
            corrected[kc] = ne
            for p in range(kk):
                data_out[kc + p * interleave] = to_dual[cw[p]]
        k += n_here
    return ok


@njit(cache=True)
def decode_blocks(blocks, interleave, nn, kk, nroots, fcr, to_conv, to_dual, gtab, expb, logb,
                  data_out, corrected, ok):
    """:func:`decode_block` over the rows of ``blocks`` (n, nn·I)."""
    cw = np.empty(nn, np.uint8)
    work = np.empty(5 * (nroots + 1) + nn + 32, np.int64)
    for f in range(blocks.shape[0]):
        ok[f] = decode_block(blocks[f], interleave, nn, kk, nroots, fcr, to_conv, to_dual, gtab,
                             expb, logb, data_out[f], corrected[f], cw, work, False, 0)
