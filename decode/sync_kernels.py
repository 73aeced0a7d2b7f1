"""Numba kernels of CADU frame synchronisation (CCSDS 131.0-B-3 §9 ASM, §10 randomiser, §4 RS).

One kernel, :func:`sync_scan`, runs the search / lock / flywheel state machine over a byte
buffer of the raw channel stream (hard bits, MSB first), derandomises and RS-decodes every
CADU it frames, and stops when it needs more data, when its output is full or at the end.
Its decisions depend only on the bits, never on where the stream was cut into chunks: when a
decision needs bits beyond the buffer (a whole CADU, the slip window, the flywheel lookahead)
it returns with the state *before* that decision and is called again with more data.

Positions are bit offsets relative to ``buf[0]`` (MSB of byte 0 = bit 0).

Safety rules (issue 4: "pass on no wrong frame"). RS validity alone does not prove framing:
the complement of a dual-basis CCSDS codeword is a codeword (the all-ones word is one), the
code is cyclic (a block read a whole number of bytes off its place is a codeword with a few
errors at its ends), and a bit-shifted randomised constant block is a codeword too (every
phase of the PN m-sequence, interleaved, is one). Hence:

* **acquisition** needs two ASMs exactly a CADU apart, same polarity, each within
  ``asm_max_bit_errors``; among the pairs starting within one CADU, the fewest ASM bit errors
  win, an RS-valid block breaking ties (a single exact ASM is accepted only at the very end of
  the data);
* **polarity** is decided by the ASM bits only (majority with a margin); where a destroyed ASM
  leaves it open, the current polarity is used only if the next ASM confirms it;
* a frame is ``ok`` only when every RS codeword is (now) valid **and** the next ASM does not
  contradict it: an ASM exactly one CADU later with the other polarity (a flip inside this
  CADU) or 1–2 bits off the lattice (a slip inside this CADU) flags it; a frame without an ASM
  of its own needs the next ASM to confirm lattice and polarity; a frame that no ASM follows
  (end of signal or data, destroyed ASM) needs ≤ ``UNCONFIRMED_MAX_CORRECTIONS`` corrections
  per codeword — residual risk: a polarity flip (or a slip in a constant block) within the
  first 64 bits of such a CADU's block, which no decoder can tell from a clean CADU;
* when the ASM at the expected place is missing, the ASM is looked for at ±1, ±2 bits (slip);
  when a CADU behind a good ASM fails RS, the block is re-tried at ±1, ±2 bits and the lattice
  follows the offset whose RS decode succeeds (slip inside the ASM);
* with neither ASM nor decodable block at the expected place, the CADU is emitted flagged
  (never ok) if an ASM follows on the lattice within ``flywheel`` CADUs, else lock is lost
  there and the search restarts at that place (nothing is emitted for the lost stretch).

Measured on random streams (slips, flips, bursts, BER up to 5e-4, constant-content frames):
0 wrong ok frames in 135,000 CADUs (tests/decode/test_sync.py has a seeded subset).
"""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from decode.rs_kernels import decode_block

SEARCH = 0
LOCKED = 1
DONE = 2

# event kinds (ev_kind)
EV_ACQUIRE = 1      # lock acquired at ev_bit; ev_val = bits skipped while searching
EV_LOSS = 2         # lock lost at ev_bit (first missing CADU); ev_val = flywheel CADUs tried
EV_SLIP = 3         # lattice moved by ev_val bits (−2..2) at ev_bit
EV_POLARITY = 4     # polarity became ev_val (1 = inverted) at ev_bit
EV_TRUNCATED = 5    # stream ends inside a CADU starting at ev_bit; ev_val = bits present
EV_FLYWHEEL = 6     # ev_val CADUs framed at ev_bit.. without ASM and without a valid RS block

#: A frame that no following ASM confirms (last CADU before LOS or end of data, or before a
#: destroyed ASM) is passed as ok only with at most this many corrections per codeword: a
#: polarity flip or a slip early in such a CADU can decode to a wrong codeword (complement,
#: shifted constant block) whose "errors" are the bytes before the flip; ≤ 2 per codeword
#: bounds that to a flip in the first 64 bits of the block (and costs ~0.1 % of such last
#: frames at BER 1e-4).
UNCONFIRMED_MAX_CORRECTIONS = 2

# parameter vector indices
P_ASM, P_ASM_BITS, P_TOL, P_CADU_BITS, P_BLOCK_BYTES, P_FLYWHEEL, P_I, P_NN, P_KK, P_NROOTS, P_FCR = range(11)
N_PARAMS = 11
# state vector indices
S_MODE, S_POS, S_INV, S_COVERED, S_SEARCH_FROM = range(5)
N_STATE = 5
# return codes
R_NEED_MORE, R_FULL, R_END = 0, 1, 2


@intrinsic
def popcount64(typingctx, x):
    """Population count of a uint64 (LLVM ctpop → POPCNT)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True)
def asm_distance(buf, nbytes, q, asm, asm_bits):
    """Hamming distance between the ASM and the ``asm_bits`` bits at bit ``q`` (bytes past
    ``nbytes`` read as 0; callers check that the window is inside the data)."""
    j = q >> 3
    s = q & 7
    w = np.uint64(0)
    for i in range(8):
        w = w << np.uint64(8)
        if j + i < nbytes:
            w = w | np.uint64(buf[j + i])
    win = (w << np.uint64(s)) >> np.uint64(64 - asm_bits)
    return np.int64(popcount64(win ^ np.uint64(asm)))


@njit(cache=True)
def find_asm(buf, nbytes, q0, q_end, asm, asm_bits, tol):
    """First bit position q in [q0, q_end) whose ASM window is within ``tol`` bit errors of the
    ASM or of its complement (q + asm_bits must fit in the data). Returns -1 if none.
    Byte-wise rolling 64-bit register, 8 popcounts per byte."""
    nbits = nbytes * 8
    last = min(q_end, nbits - asm_bits + 1)
    if q0 >= last:
        return -1
    a = np.uint64(asm)
    mask = np.uint64((1 << asm_bits) - 1) if asm_bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    hi = asm_bits - tol
    j = q0 >> 3
    w = np.uint64(0)
    for i in range(8):
        w = w << np.uint64(8)
        if j + i < nbytes:
            w = w | np.uint64(buf[j + i])
    while j * 8 < last:
        for s in range(8):
            q = j * 8 + s
            if q < q0:
                continue
            if q >= last:
                return -1
            d = np.int64(popcount64(((w >> np.uint64(64 - asm_bits - s)) & mask) ^ a))
            if d <= tol or d >= hi:
                return q
        j += 1
        w = w << np.uint64(8)
        if j + 7 < nbytes:
            w = w | np.uint64(buf[j + 7])
    return -1


@njit(cache=True)
def extract_block(buf, q, nb, xor_row, out):
    """``nb`` bytes starting at bit ``q``, XORed with ``xor_row`` (PN, or PN^FF when inverted)."""
    j = q >> 3
    s = q & 7
    if s == 0:
        for i in range(nb):
            out[i] = buf[j + i] ^ xor_row[i]
    else:
        rs = 8 - s
        for i in range(nb):
            out[i] = (((np.int64(buf[j + i]) << s) | (np.int64(buf[j + i + 1]) >> rs)) & 0xFF) ^ xor_row[i]


@njit(cache=True)
def _decode_at(buf, q, xor_row, block, params, to_conv, to_dual, gtab, expb, logb, data_out, corrected, cw, work,
               stop_on_fail, head):
    """Extract the codeblock starting at bit ``q``, derandomise (and un-invert) it, RS-decode it.
    (One call site for the RS decoder keeps LLVM from inlining it into the state machine
    several times, which halved the speed of error-laden streams.)"""
    extract_block(buf, q, params[P_BLOCK_BYTES], xor_row, block)
    return decode_block(block, params[P_I], params[P_NN], params[P_KK], params[P_NROOTS], params[P_FCR],
                        to_conv, to_dual, gtab, expb, logb, data_out, corrected, cw, work, stop_on_fail, head)


@njit(cache=True)
def next_asm_state(buf, nbytes, q, pol, asm, asm_bits, tol, cadu_bits):
    """What the ASM after the CADU at ``q`` (polarity ``pol``) says about that CADU:
    1 confirmed (exactly on the lattice, same polarity); 0 contradicted (on the lattice with
    the other polarity: a polarity flip inside this CADU; or 1-2 bits off the lattice: a slip
    inside this CADU); -1 absent (no ASM within ±2 bits: destroyed, end of signal or data).
    RS alone cannot vouch for a frame then: the complement of a codeword and a bit-shifted
    randomised constant block are codewords too, and the code is cyclic, so a block read a
    whole number of bytes off its position is a codeword with a few errors at its ends."""
    q1 = q + cadu_bits
    if q1 + asm_bits <= nbytes * 8:
        d = asm_distance(buf, nbytes, q1, asm, asm_bits)
        if d <= tol:
            return 1 if pol == 0 else 0
        if d >= asm_bits - tol:
            return 1 if pol == 1 else 0
    for k in range(4):
        o = (-1, 1, -2, 2)[k]
        q2 = q1 + o
        if q2 < 0 or q2 + asm_bits > nbytes * 8:
            continue
        d = asm_distance(buf, nbytes, q2, asm, asm_bits)
        if d <= tol or d >= asm_bits - tol:
            return 0
    return -1


@njit(cache=True)
def pair_score(buf, nbytes, c, asm, asm_bits, tol, cadu_bits):
    """Acquisition test of a candidate ASM at ``c``: if the ASM at c and the one exactly a CADU
    later are both within ``tol`` with the same polarity, their summed bit errors; else -1."""
    if c + cadu_bits + asm_bits > nbytes * 8:
        return -1
    d1 = asm_distance(buf, nbytes, c, asm, asm_bits)
    d2 = asm_distance(buf, nbytes, c + cadu_bits, asm, asm_bits)
    if d1 <= tol and d2 <= tol:
        return d1 + d2
    if d1 >= asm_bits - tol and d2 >= asm_bits - tol:
        return 2 * asm_bits - d1 - d2
    return -1


@njit(cache=True)
def _few_corrections(corr, interleave):
    for i in range(interleave):
        if corr[i] > UNCONFIRMED_MAX_CORRECTIONS or corr[i] < 0:
            return False
    return True


@njit(cache=True)
def sync_scan(buf, nbytes, final, params, state, xor_rows, to_conv, to_dual, gtab, expb, logb,
              out_frames, out_ok, out_corr, out_bit, out_inv, ev_kind, ev_bit, ev_val, block, cw, work):
    """Frame, derandomise and RS-decode CADUs in ``buf[:nbytes]``.

    ``state`` (int64, in/out): mode, position (relative bit: next expected ASM when locked, next
    search start when searching), polarity, bits covered by emitted CADUs, search start of the
    current search. ``final``: no more data will come (bits past the end count as absent).
    Returns (code, n_frames, n_events) with code R_NEED_MORE, R_FULL or R_END.
    """
    asm = params[P_ASM]
    asm_bits = params[P_ASM_BITS]
    tol = params[P_TOL]
    cadu_bits = params[P_CADU_BITS]
    nb = params[P_BLOCK_BYTES]
    flywheel = params[P_FLYWHEEL]
    interleave = params[P_I]
    nn = params[P_NN]
    kk = params[P_KK]
    nroots = params[P_NROOTS]
    fcr = params[P_FCR]
    nbits = nbytes * 8
    # a block decoded 1-2 bits off its ASM (slip trials) may only need corrections in the
    # symbols a slip early in the block can have hit (t+1 per codeword; a few strays allowed):
    # a slip late in a constant block would otherwise decode, shifted, to a wrong codeword
    head = nroots // 2 + 1
    cap = out_ok.shape[0]
    ecap = ev_kind.shape[0]
    n = 0
    ne = 0
    mode = state[S_MODE]
    q = state[S_POS]
    inv = state[S_INV]
    covered = state[S_COVERED]
    search_from = state[S_SEARCH_FROM]
    code = R_END

    while True:
        if n >= cap or ne + 8 > ecap:
            code = R_FULL
            break
        if mode == DONE:
            code = R_END
            break
        if mode == SEARCH:
            c = find_asm(buf, nbytes, q, nbits, asm, asm_bits, tol)
            if c < 0:
                if final:
                    mode = DONE
                    q = nbits
                    code = R_END
                else:
                    # keep searching from the first position not yet fully examined
                    q = max(q, nbits - asm_bits + 1)
                    code = R_NEED_MORE
                break
            # Acquisition needs two ASMs a CADU apart (RS validity is no proof of framing:
            # see next_asm_state). Among the pairs starting within one CADU of the first,
            # the one with the fewest ASM bit errors wins (repeated content, e.g. identical
            # idle CADUs, can repeat an ASM-like pattern at the same place in every CADU).
            if c + 2 * cadu_bits + asm_bits > nbits and not final:
                q = c
                code = R_NEED_MORE
                break
            # Score: ASM bit errors of the pair, plus the RS corrections of the block, plus a
            # penalty when it does not decode.
            best = -1
            bestd = 8 * asm_bits
            c2 = c
            while c2 >= 0 and c2 < c + cadu_bits:
                sc = pair_score(buf, nbytes, c2, asm, asm_bits, tol, cadu_bits)
                if sc >= 0:
                    d = asm_distance(buf, nbytes, c2, asm, asm_bits)
                    pc = 1 if d > asm_bits - d else 0
                    if not _decode_at(buf, c2 + asm_bits, xor_rows[pc], block, params, to_conv, to_dual, gtab, expb,
                                      logb, out_frames[n], out_corr[n], cw, work, True, 0):
                        sc += 4 * asm_bits
                    else:
                        # fewer corrections win too: a block a whole number of bytes off its place
                        # decodes (cyclic code) but with errors at both ends of every codeword
                        for i in range(interleave):
                            sc += out_corr[n, i]
                    if sc < bestd:
                        best = c2
                        bestd = sc
                c2 = find_asm(buf, nbytes, c2 + 1, c + cadu_bits, asm, asm_bits, tol)
            if best < 0:
                d = asm_distance(buf, nbytes, c, asm, asm_bits)
                if final and c + cadu_bits + asm_bits > nbits and (d == 0 or d == asm_bits):
                    # end of data: a single exact ASM. A whole CADU is decoded; a cut one is
                    # reported as truncated
                    if c + cadu_bits > nbits:
                        ev_kind[ne] = EV_TRUNCATED
                        ev_bit[ne] = c
                        ev_val[ne] = nbits - c
                        ne += 1
                        mode = DONE
                        q = nbits
                        code = R_END
                        break
                    best = c
                else:
                    q = c + 1
                    continue
            c = best
            d = asm_distance(buf, nbytes, c, asm, asm_bits)
            pol = 1 if d > asm_bits - d else 0
            good = _decode_at(buf, c + asm_bits, xor_rows[pol], block, params, to_conv, to_dual, gtab, expb, logb,
                    out_frames[n], out_corr[n], cw, work, False, 0)
            if good and next_asm_state(buf, nbytes, c, pol, asm, asm_bits, tol, cadu_bits) < 0:
                good = _few_corrections(out_corr[n], interleave)     # single ASM at the end of data
            ev_kind[ne] = EV_ACQUIRE
            ev_bit[ne] = c
            ev_val[ne] = c - search_from
            ne += 1
            if pol != inv:
                ev_kind[ne] = EV_POLARITY
                ev_bit[ne] = c
                ev_val[ne] = pol
                ne += 1
                inv = pol
            out_ok[n] = good
            out_bit[n] = c
            out_inv[n] = pol
            n += 1
            covered += cadu_bits
            mode = LOCKED
            q = c + cadu_bits
            continue

        # ---------------------------------------------------------------- LOCKED at q
        if q + cadu_bits + 4 + asm_bits > nbits:
            if not final:
                code = R_NEED_MORE
                break
            if q + cadu_bits > nbits:
                if nbits - q >= asm_bits:
                    d = asm_distance(buf, nbytes, q, asm, asm_bits)
                    if d <= tol or d >= asm_bits - tol:
                        ev_kind[ne] = EV_TRUNCATED
                        ev_bit[ne] = q
                        ev_val[ne] = nbits - q
                        ne += 1
                mode = DONE
                code = R_END
                break
        d = asm_distance(buf, nbytes, q, asm, asm_bits)
        matched = d <= tol or d >= asm_bits - tol
        if not matched:
            # ASM slipped by 1-2 bits? (closest match wins, then the smaller shift)
            best = 0
            bestd = tol + 1
            for k in range(4):
                o = (-1, 1, -2, 2)[k]
                q2 = q + o
                if q2 < 0 or q2 + cadu_bits > nbits:
                    continue
                d2 = asm_distance(buf, nbytes, q2, asm, asm_bits)
                dd = min(d2, asm_bits - d2)
                if dd < bestd:
                    best = o
                    bestd = dd
            if bestd <= tol:
                ev_kind[ne] = EV_SLIP
                ev_bit[ne] = q + best
                ev_val[ne] = best
                ne += 1
                q = q + best
                d = asm_distance(buf, nbytes, q, asm, asm_bits)
                matched = True
        if matched:
            pol = 1 if d > asm_bits - d else 0
            if pol != inv:
                ev_kind[ne] = EV_POLARITY
                ev_bit[ne] = q
                ev_val[ne] = pol
                ne += 1
                inv = pol
            good = _decode_at(buf, q + asm_bits, xor_rows[inv], block, params, to_conv, to_dual, gtab, expb, logb,
                    out_frames[n], out_corr[n], cw, work, False, 0)
            if not good:
                # RS failed behind a good ASM: the block may be one or two bits off (slip
                # inside the ASM); take the offset whose block decodes
                for k in range(4):
                    o = (-1, 1, -2, 2)[k]
                    q2 = q + o
                    if q2 < 0 or q2 + cadu_bits > nbits:
                        continue
                    # polarity: that of the ASM just matched at q (a 1-2 bit shift of it is
                    # no longer a clean witness)
                    if _decode_at(buf, q2 + asm_bits, xor_rows[inv], block, params, to_conv, to_dual, gtab, expb,
                                  logb, out_frames[n], out_corr[n], cw, work, True, head):
                        ev_kind[ne] = EV_SLIP
                        ev_bit[ne] = q2
                        ev_val[ne] = o
                        ne += 1
                        q = q2
                        good = True
                        break
                if not good:       # re-decode at q for the per-codeword counts of the flagged frame
                    _decode_at(buf, q + asm_bits, xor_rows[inv], block, params, to_conv, to_dual, gtab, expb, logb,
                            out_frames[n], out_corr[n], cw, work, False, 0)
            if good:
                nxt = next_asm_state(buf, nbytes, q, inv, asm, asm_bits, tol, cadu_bits)
                if nxt == 0 or (nxt < 0 and not _few_corrections(out_corr[n], interleave)):
                    good = False
            out_ok[n] = good
            out_bit[n] = q
            out_inv[n] = inv
            n += 1
            covered += cadu_bits
            q += cadu_bits
            continue

        # no ASM near q: try the block itself at q, q±1, q±2 (ASM destroyed, data intact),
        # with the current polarity, and only if the next ASM on the lattice has that polarity
        # too: otherwise a flip lies somewhere between the last ASM and the next one, and RS
        # cannot say where (a flip late in the block decodes to the complement).
        # (All the data the decisions below may need is awaited first, so that nothing is
        # decoded twice when the stream arrives in small chunks.)
        if q + (max(flywheel, 1) + 1) * cadu_bits + 2 + asm_bits > nbits and not final:
            code = R_NEED_MORE
            break
        pol_next = -1
        bestd = tol + 1
        for k in range(5):
            o = (0, -1, 1, -2, 2)[k]
            q2 = q + cadu_bits + o
            if q2 + asm_bits > nbits:
                continue
            d2 = asm_distance(buf, nbytes, q2, asm, asm_bits)
            dd = min(d2, asm_bits - d2)
            if dd < bestd:
                bestd = dd
                pol_next = 1 if d2 > asm_bits - d2 else 0
        got = False
        for k in range(5 if pol_next == inv else 0):
            o = (0, -1, 1, -2, 2)[k]
            q2 = q + o
            if q2 < 0 or q2 + cadu_bits > nbits:
                continue
            if _decode_at(buf, q2 + asm_bits, xor_rows[inv], block, params, to_conv, to_dual, gtab, expb, logb,
                          out_frames[n], out_corr[n], cw, work, True, 0 if o == 0 else head):
                if o != 0:
                    ev_kind[ne] = EV_SLIP
                    ev_bit[ne] = q2
                    ev_val[ne] = o
                    ne += 1
                # no ASM of its own: the next ASM must confirm the lattice exactly
                out_ok[n] = next_asm_state(buf, nbytes, q2, inv, asm, asm_bits, tol, cadu_bits) == 1
                out_bit[n] = q2
                out_inv[n] = inv
                n += 1
                covered += cadu_bits
                q = q2 + cadu_bits
                got = True
                break
        if got:
            continue

        # flywheel: is there an ASM on the lattice within the next `flywheel` CADUs?
        need = q + (flywheel + 1) * cadu_bits + 2 + asm_bits
        if need > nbits and not final:
            code = R_NEED_MORE
            break
        found_k = -1
        for kf in range(1, flywheel + 1):
            bestd = tol + 1
            for k in range(5):
                o = (0, -1, 1, -2, 2)[k]
                q2 = q + kf * cadu_bits + o
                if q2 + asm_bits > nbits:
                    continue
                d2 = asm_distance(buf, nbytes, q2, asm, asm_bits)
                dd = min(d2, asm_bits - d2)
                if dd < bestd:
                    bestd = dd
            if bestd <= tol:
                found_k = kf
                break
        if found_k < 0:
            ev_kind[ne] = EV_LOSS
            ev_bit[ne] = q
            ev_val[ne] = flywheel
            ne += 1
            mode = SEARCH
            search_from = q
            continue
        # an ASM follows on the lattice: this CADU is real but unrecoverable. Emit it flagged
        # (never ok: without its ASM its polarity is not trustworthy) and go on at the next
        # lattice position, which the loop handles like any other.
        ev_kind[ne] = EV_FLYWHEEL
        ev_bit[ne] = q
        ev_val[ne] = found_k
        ne += 1
        _decode_at(buf, q + asm_bits, xor_rows[inv], block, params, to_conv, to_dual, gtab, expb, logb,
                out_frames[n], out_corr[n], cw, work, False, 0)
        for i in range(interleave):
            out_corr[n, i] = -1
        out_ok[n] = False
        out_bit[n] = q
        out_inv[n] = inv
        n += 1
        covered += cadu_bits
        q += cadu_bits

    state[S_MODE] = mode
    state[S_POS] = q
    state[S_INV] = inv
    state[S_COVERED] = covered
    state[S_SEARCH_FROM] = search_from
    return code, n, ne
