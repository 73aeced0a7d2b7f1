"""CCSDS Reed-Solomon coding with interleaving (CCSDS 131.0-B-3 §4 and Annex F; ICD §2).

``ReedSolomon(coding)`` builds, from a :class:`~station_config.models.ChannelCoding` profile,
the code RS(nn, kk) over GF(2^8) with field polynomial ``gf_poly`` (CCSDS: x^8+x^7+x^2+x+1,
0x187), generator g(x) = Π_{j=first_root}^{first_root+nroots-1} (x − α^(root_step·j))
(CCSDS: α^(11j), j = 112..143), interleave depth I, and symbols in Berlekamp's dual basis when
``dual_basis`` is set (the CCSDS representation).

Dual basis (131.0-B Annex F): a field element x (conventional basis, polynomial in α) is
transmitted as the byte z0 z1 … z7 (z0 = MSB) with z_k = Tr(γ^k · x), γ = α^117, Tr the
absolute trace GF(2^8)→GF(2). The matrix this gives (rows for conventional bits 7..0:
8D EF EC 86 FA 99 AF 7B) is checked against the ICD in the tests; Karn's libfec calls the
same table ``Taltab``.

Codeword k of a codeblock holds bytes k, k+I, k+2I … (§4.3.6); the transfer frame is the
kk·I data bytes, the last nroots·I bytes are parity.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from decode import rs_kernels as K
from srd.errors import ConfigError, DecodeError

#: log_α of γ, the element whose trace form defines the CCSDS dual basis (131.0-B Annex F).
CCSDS_DUAL_GAMMA_LOG = 117
CCSDS_GF_POLY = 0x187


@dataclass(frozen=True)
class RSResult:
    """Result of :meth:`ReedSolomon.decode`.

    ``data`` (n, kk·I) uint8: frames, corrected where possible (uncorrectable codewords are
    copied as received); ``corrected`` (n, I) int16: symbols corrected per codeword, -1 =
    uncorrectable; ``ok`` (n,) bool: every codeword of the block is (now) a valid codeword.
    """

    data: np.ndarray
    corrected: np.ndarray
    ok: np.ndarray

    @property
    def corrected_symbols(self) -> int:
        c = self.corrected
        return int(c[c > 0].sum())

    @property
    def uncorrectable_codewords(self) -> int:
        return int((self.corrected < 0).sum())


@dataclass(frozen=True)
class RSTables:
    """Look-up tables shared by the Numba kernels (see :mod:`decode.rs_kernels`)."""

    nn: int
    kk: int
    nroots: int
    fcr: int
    interleave: int
    to_conv: np.ndarray
    to_dual: np.ndarray
    gtab: np.ndarray
    expb: np.ndarray
    logb: np.ndarray
    generator: tuple[int, ...]      # g_0 .. g_nroots (conventional basis), g_nroots = 1


def _field(poly: int) -> tuple[np.ndarray, np.ndarray]:
    """exp/log tables of GF(2^8) defined by ``poly`` with α = x; α must be primitive."""
    if not 0x100 <= poly <= 0x1FF:
        raise ConfigError(f"gf_poly {poly:#x} is not a degree-8 polynomial", field="gf_poly")
    exp = np.zeros(255, np.int64)
    log = np.full(256, -1, np.int64)
    x = 1
    for i in range(255):
        if log[x] >= 0:
            raise ConfigError(f"gf_poly {poly:#x}: x is not primitive (order {i})", field="gf_poly")
        exp[i], log[x] = x, i
        x <<= 1
        if x & 0x100:
            x ^= poly
    return exp, log


def _mul(a: int, b: int, exp, log) -> int:
    return 0 if a == 0 or b == 0 else int(exp[(log[a] + log[b]) % 255])


def dual_basis_tables(poly: int = CCSDS_GF_POLY, gamma_log: int = CCSDS_DUAL_GAMMA_LOG):
    """(conv→dual, dual→conv) uint8 tables: z_k = Tr(γ^k·x), z0 the MSB (131.0-B Annex F)."""
    exp, log = _field(poly)

    def trace(a: int) -> int:
        s, t = 0, a
        for _ in range(8):
            s ^= t
            t = _mul(t, t, exp, log)
        if s not in (0, 1):
            raise ConfigError("trace outside GF(2): bad field", field="gf_poly")
        return s

    to_dual = np.zeros(256, np.uint8)
    for c in range(256):
        z = 0
        for k in range(8):
            z = (z << 1) | trace(_mul(int(exp[(gamma_log * k) % 255]), c, exp, log))
        to_dual[c] = z
    if np.unique(to_dual).size != 256:
        raise ConfigError("dual-basis transformation is not invertible for this field", field="gf_poly")
    to_conv = np.argsort(to_dual).astype(np.uint8)
    return to_dual, to_conv


@lru_cache(maxsize=8)
def _tables(nn: int, kk: int, interleave: int, poly: int, first_root: int, root_step: int,
            dual: bool) -> RSTables:
    if nn != 255:
        raise ConfigError(f"rs_n={nn}: only the full-length RS(255, k) code over GF(2^8) is supported "
                          "(no virtual fill, ICD §2)", field="rs_n")
    nroots = nn - kk
    if not 2 <= nroots <= 32 or nroots % 2:
        raise ConfigError(f"rs_n - rs_k = {nroots}: need an even number of parity symbols, 2..32", field="rs_k")
    if np.gcd(root_step, 255) != 1:
        raise ConfigError(f"root_step {root_step} is not coprime with 255: β = α^{root_step} is not primitive",
                          field="root_step")
    exp, log = _field(poly)
    # β = α^root_step; tables in base β (multiplication is the field's, whatever the base)
    expb = np.zeros(512, np.int32)
    logb = np.zeros(256, np.int32)
    for i in range(255):
        v = int(exp[(root_step * i) % 255])
        expb[i] = expb[i + 255] = v
        logb[v] = i
    expb[510:] = expb[0:2]
    # g(x) = Π (x + β^(first_root + i)), coefficients low → high
    g = [1]
    for i in range(nroots):
        r = int(expb[(first_root + i) % 255])
        ng = [0] * (len(g) + 1)
        for j, c in enumerate(g):
            ng[j + 1] ^= c
            ng[j] ^= _mul(c, r, exp, log)
        g = ng
    gbytes = np.zeros((256, 32), np.uint8)
    for v in range(256):
        for j in range(nroots):
            gbytes[v, j] = _mul(v, g[nroots - 1 - j], exp, log)
    gtab = np.ascontiguousarray(gbytes.view(">u8").astype(np.uint64))       # (256, 4)
    if dual:
        if poly != CCSDS_GF_POLY:
            raise ConfigError("the Berlekamp dual basis is defined for the CCSDS field 0x187 only",
                              field="dual_basis")
        to_dual, to_conv = dual_basis_tables(poly)
    else:
        to_dual = to_conv = np.arange(256, dtype=np.uint8)
    return RSTables(nn, kk, nroots, first_root, interleave, to_conv, to_dual, gtab, expb, logb, tuple(g))


class ReedSolomon:
    """Interleaved CCSDS Reed-Solomon encoder/decoder of one channel-coding profile.

    >>> rs = ReedSolomon(cfg.satellite("SPOT-6").coding)      # RS(255,223), I=4, dual basis
    >>> blocks = rs.encode(frames)          # (n, 892) -> (n, 1020)
    >>> res = rs.decode(blocks)             # RSResult(data, corrected, ok)
    """

    def __init__(self, coding) -> None:
        self.coding = coding
        self.tables = _tables(coding.rs_n, coding.rs_k, coding.interleave, coding.gf_poly,
                              coding.first_root, coding.root_step, coding.dual_basis)
        t = self.tables
        self.interleave = t.interleave
        self.frame_length = t.kk * t.interleave
        self.block_length = t.nn * t.interleave

    def kernel_args(self) -> tuple:
        """(interleave, nn, kk, nroots, fcr, to_conv, to_dual, gtab, expb, logb) for the kernels."""
        t = self.tables
        return (t.interleave, t.nn, t.kk, t.nroots, t.fcr, t.to_conv, t.to_dual, t.gtab, t.expb, t.logb)

    def _rows(self, a, length: int, name: str) -> np.ndarray:
        a = np.asarray(a)
        if a.dtype != np.uint8:
            if a.dtype.kind not in "ui" or (a.size and (a.min() < 0 or a.max() > 255)):
                raise DecodeError(f"{name} must be bytes (uint8), got {a.dtype}", field=name)
            a = a.astype(np.uint8)
        if a.ndim == 1 and a.size == length:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != length:
            raise DecodeError(f"{name} must have shape (n, {length}), got {a.shape}", field=name)
        return np.ascontiguousarray(a)

    def encode(self, frames) -> np.ndarray:
        """(n, kk·I) uint8 transfer frames → (n, nn·I) interleaved codeblocks (not randomised)."""
        fr = self._rows(frames, self.frame_length, "frames")
        t = self.tables
        out = np.empty((fr.shape[0], self.block_length), np.uint8)
        K.rs_encode(fr, t.interleave, t.kk, t.nroots, t.to_conv, t.to_dual, t.gtab, out)
        return out

    def decode(self, blocks) -> RSResult:
        """(n, nn·I) derandomised codeblocks → :class:`RSResult`; corrects up to nroots/2 symbol
        errors per codeword, flags the rest (``corrected`` -1, ``ok`` False), never miscorrects
        into a non-codeword (every correction is re-verified)."""
        bl = self._rows(blocks, self.block_length, "blocks")
        n = bl.shape[0]
        data = np.empty((n, self.frame_length), np.uint8)
        corrected = np.empty((n, self.interleave), np.int16)
        ok = np.empty(n, np.bool_)
        K.decode_blocks(bl, *self.kernel_args(), data, corrected, ok)
        return RSResult(data, corrected, ok)
