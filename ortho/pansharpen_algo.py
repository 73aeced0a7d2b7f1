"""Pansharpening (numpy): weighted Brovey, GSA, MTF-GLP-HPM; Wald-protocol degradation.

Inputs share the PAN grid: ``pan`` (H, W) and ``ms_up`` (bands, H, W), the MS bands already
resampled onto the PAN grid (the ortho stage resamples the MS source directly onto it). The
MS grid is the PAN grid scaled by ``ratio`` from the same corner, so MS pixel ``i`` is centred
on PAN pixel-centre coordinate ``ratio·i + (ratio − 1)/2``.

Methods (Vivone et al. 2015, "A critical comparison among pansharpening algorithms",
IEEE TGRS 53(5), §II–III):

* ``brovey`` — weighted Brovey transform, ``F_k = M_k · P / Σ w_j M_j`` (GDAL
  ``gdal_pansharpen``'s algorithm); weights by non-negative least squares of the degraded PAN
  on the MS bands unless given.
* ``gsa`` — Gram-Schmidt adaptive (Aiazzi, Baronti & Selva 2007, IEEE TGRS 45(10)):
  intensity ``I = Σ α_k M_k + α_0`` regressed on the degraded PAN (so I is in PAN units; both
  mean-removed), injection gains ``g_k = cov(M_k, I)/var(I)``: ``F_k = M_k + g_k (P − I)``.
* ``mtf-glp-hpm`` — MTF-matched generalised Laplacian pyramid with high-pass modulation
  (Aiazzi et al. 2006, PE&RS 72(5); Vivone's ``MTF_GLP_HPM``): per band the PAN is equalised
  to the band, low-passed by a Gaussian whose gain at the MS Nyquist frequency is the band's
  MTF, decimated to the MS grid and interpolated back with the MS interpolator (Keys cubic);
  ``F_k = M_k · P_k / P_L,k``.

Global parameters (weights, gains, equalisation) are estimated once (:func:`estimate`) and
applied per tile (:func:`apply`), so tiles agree with a whole-image run. The only spatial
operator (MTF-GLP) needs a halo of :func:`halo` PAN pixels around a tile, the tile origin a
multiple of ``ratio``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ortho import pansharpen_kernels as PK
from level1 import resample_kernels as K

METHODS = ("brovey", "gsa", "mtf-glp-hpm")
#: generic MTF gains at Nyquist for sensors without a profile (Vivone et al. 2015, Table I:
#: 0.3 for MS bands when the sensor is unknown; 0.15 typical of sub-metre PAN instruments)
GENERIC_MTF_MS = 0.3
GENERIC_MTF_PAN = 0.15


def mtf_sigma(gnyq: float, ratio: int) -> float:
    """σ (high-resolution pixels) of the Gaussian whose frequency response is ``gnyq`` at the
    Nyquist frequency of the ``ratio``-times coarser grid: exp(−2π²σ²f²) with f = 1/(2·ratio)."""
    if not 0.0 < gnyq < 1.0:
        raise ValueError(f"MTF gain at Nyquist must be in (0, 1), got {gnyq}")
    return ratio * math.sqrt(-2.0 * math.log(gnyq)) / math.pi


def gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian low-pass (truncated at 4σ), mirror-symmetric borders."""
    from scipy.ndimage import gaussian_filter
    return gaussian_filter(np.asarray(img, np.float64), sigma, mode="mirror", truncate=4.0)


def decimate(img: np.ndarray, ratio: int) -> np.ndarray:
    """Sample (..., H, W) at the MS pixel centres ``ratio·i + (ratio − 1)/2`` (bilinear: for even
    ratios the mean of the 2×2 central pixels of each MS cell)."""
    a = np.asarray(img, np.float64)
    h, w = a.shape[-2] // ratio, a.shape[-1] // ratio
    c0 = (ratio - 1) // 2
    if ratio % 2:
        return a[..., c0:c0 + h * ratio:ratio, c0:c0 + w * ratio:ratio]
    s = a[..., c0:c0 + h * ratio:ratio, c0:c0 + w * ratio:ratio] + a[..., c0 + 1:c0 + 1 + h * ratio:ratio, c0:c0 + w * ratio:ratio]
    s = s + a[..., c0:c0 + h * ratio:ratio, c0 + 1:c0 + 1 + w * ratio:ratio] + a[..., c0 + 1:c0 + 1 + h * ratio:ratio, c0 + 1:c0 + 1 + w * ratio:ratio]
    return s / 4.0


def _keys(f: float) -> np.ndarray:
    """Keys (a = −0.5) weights of the 4 taps floor−1 .. floor+2 for fractional offset ``f``."""
    f2, f3 = f * f, f * f * f
    return np.array([-0.5 * f3 + f2 - 0.5 * f, 1.5 * f3 - 2.5 * f2 + 1.0,
                     -1.5 * f3 + 2.0 * f2 + 0.5 * f, 0.5 * f3 - 0.5 * f2])


def _upsample_axis(a: np.ndarray, ratio: int, n_out: int) -> np.ndarray:
    """Keys-cubic interpolation of the last axis of ``a`` onto ``n_out`` samples at the MS →
    PAN geometry (output p ↔ input (p − (ratio − 1)/2)/ratio). Output p = ratio·q + φ has the
    same weights for every q, so each phase φ is 4 shifted slices: no coordinate arrays.
    Borders: the input is extended by replicating its edge samples."""
    n = a.shape[-1]
    Q = -(-n_out // ratio)
    P = 3
    pad = [(0, 0)] * (a.ndim - 1) + [(P, P + max(0, Q - n))]
    ap = np.pad(a, pad, mode="edge")
    out = np.empty(a.shape[:-1] + (Q * ratio,), dtype=np.float64)
    for phi in range(ratio):
        d = (phi - (ratio - 1) / 2.0) / ratio
        fl = math.floor(d)
        w = _keys(d - fl)
        o = fl - 1 + P
        acc = w[0] * ap[..., o:o + Q]
        for t in range(1, 4):
            acc = acc + w[t] * ap[..., o + t:o + t + Q]
        out[..., phi::ratio] = acc
    return out[..., :n_out]


def upsample(img: np.ndarray, ratio: int, shape: tuple[int, int], method: str = "cubic") -> np.ndarray:
    """Interpolate an MS-grid image (..., h, w) onto the PAN grid ``shape`` (inverse of
    :func:`decimate`'s geometry: MS pixel i centred on PAN ``ratio·i + (ratio − 1)/2``).

    ``cubic`` (Keys, a = −0.5, the ortho kernel) runs separably, polyphase
    (:func:`ortho.pansharpen_kernels.upsample_polyphase`, edges replicated; :func:`_upsample_axis`
    is the numpy statement of the same); other methods go through
    :func:`level1.resample_kernels.resample`."""
    a = np.asarray(img, np.float64)
    H, W = shape
    if method == "cubic":
        lead = a.shape[:-2]
        a3 = np.ascontiguousarray(a.reshape((-1,) + a.shape[-2:]))
        wts = np.empty((ratio, 4))
        offs = np.empty(ratio, np.int64)
        for phi in range(ratio):
            d = (phi - (ratio - 1) / 2.0) / ratio
            fl = math.floor(d)
            wts[phi] = _keys(d - fl)
            offs[phi] = fl - 1
        out = np.empty((a3.shape[0], H, W))
        PK.upsample_polyphase(a3, wts, offs, ratio, H, W, out)
        return out.reshape(lead + (H, W))
    lead = a.shape[:-2]
    a3 = a.reshape((-1,) + a.shape[-2:])
    off = (ratio - 1) / 2.0
    rr, cc = np.meshgrid((np.arange(H) - off) / ratio, (np.arange(W) - off) / ratio, indexing="ij")
    # clamp to the MS footprint so border PAN pixels extrapolate by the nearest MS sample
    rr = np.clip(rr, -0.5, a3.shape[1] - 0.5 - 1e-9)
    cc = np.clip(cc, -0.5, a3.shape[2] - 0.5 - 1e-9)
    out = np.empty((a3.shape[0], H, W))
    ov = np.empty((H, W), np.uint8)
    code = K.METHODS[method][0]
    K.resample(np.ascontiguousarray(a3), np.ones((1, 1), np.uint8), False, cc, rr, code,
               -np.inf, np.inf, False, out, ov)
    return out.reshape(lead + (H, W))


def degrade(img: np.ndarray, ratio: int, gnyq) -> np.ndarray:
    """Wald's protocol reduction: MTF-matched Gaussian low-pass (``gnyq`` scalar or per band),
    then :func:`decimate` by ``ratio``."""
    a = np.asarray(img, np.float64)
    if a.ndim == 2:
        return decimate(gaussian(a, mtf_sigma(float(gnyq), ratio)), ratio)
    g = np.broadcast_to(np.asarray(gnyq, np.float64), (a.shape[0],))
    return np.stack([decimate(gaussian(a[k], mtf_sigma(float(g[k]), ratio)), ratio)
                     for k in range(a.shape[0])])


def halo(ratio: int, mtf_ms) -> int:
    """PAN pixels of context a tile needs for MTF-GLP (Gaussian support + cubic taps), rounded
    up to a multiple of ``ratio``."""
    s = max(mtf_sigma(float(g), ratio) for g in np.atleast_1d(mtf_ms))
    h = int(math.ceil(4 * s)) + 3 * ratio
    return -(-h // ratio) * ratio


@dataclass(frozen=True, eq=False)
class FusionParams:
    """Global parameters of one fusion, estimated by :func:`estimate`."""

    method: str
    ratio: int
    mtf_ms: np.ndarray                  # (bands,) MTF gains at Nyquist
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))   # brovey / gsa α_k
    bias: float = 0.0                   # gsa α_0
    gains: np.ndarray = field(default_factory=lambda: np.zeros(0))     # gsa g_k
    pan_mean: float = 0.0
    pan_std: float = 1.0
    i_mean: float = 0.0
    i_std: float = 1.0
    ms_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ms_std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pan_lp_std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: PAN ≈ syn_w·MS + syn_b at the MS scale (any method): fills PAN holes (footprint edges,
    #: nodata) before the filters so they do not ring against zeros
    syn_w: np.ndarray = field(default_factory=lambda: np.zeros(0))
    syn_b: float = 0.0

    def synthetic_pan(self, ms_up: np.ndarray) -> np.ndarray:
        """PAN-like intensity from MS bands (bands, H, W) → (H, W)."""
        return np.tensordot(self.syn_w, ms_up, axes=1) + self.syn_b

    def to_dict(self) -> dict:
        d = {"method": self.method, "ratio": self.ratio, "mtf_ms": self.mtf_ms.tolist()}
        if self.method in ("brovey", "gsa"):
            d["weights"] = self.weights.tolist()
        if self.method == "gsa":
            d.update(bias=self.bias, gains=self.gains.tolist())
        return d


def estimate(method: str, pan: np.ndarray, ms_up: np.ndarray, ratio: int, *, mtf_ms=GENERIC_MTF_MS,
             mtf_pan: float = GENERIC_MTF_PAN, weights=None, valid: np.ndarray | None = None) -> FusionParams:
    """Global fusion parameters from a PAN sample (H, W) and the MS on the PAN grid (bands, H, W)
    over the same area (the whole image or a representative part; ``valid`` restricts to
    pixels with data; H, W multiples of ``ratio``)."""
    if method not in METHODS:
        raise ValueError(f"unknown pansharpening method {method!r} (known: {', '.join(METHODS)})")
    nb = ms_up.shape[0]
    g = np.broadcast_to(np.asarray(mtf_ms, np.float64), (nb,)).copy()
    pan = np.asarray(pan, np.float64)
    ms_up = np.asarray(ms_up, np.float64)
    v = np.ones(pan.shape, bool) if valid is None else valid.astype(bool)
    full = bool(v.all())

    def sel(a):          # valid samples of (..., H, W) as (..., n); no copy when all valid
        return a.reshape(a.shape[:-2] + (-1,)) if full else a[..., v]
    vs = decimate(v.astype(np.float64), ratio) > 0.999
    A = np.hstack([decimate(ms_up, ratio)[:, vs].T, np.ones((int(vs.sum()), 1))])
    sw, *_ = np.linalg.lstsq(A, decimate(pan, ratio)[vs], rcond=None)
    syn = {"syn_w": sw[:nb], "syn_b": float(sw[nb])}
    if method == "mtf-glp-hpm":
        sig = {k: round(mtf_sigma(g[k], ratio), 12) for k in range(nb)}
        lps = {x: gaussian(pan, x) for x in set(sig.values())}      # once per distinct MTF
        lp = [lps[sig[k]] for k in range(nb)]
        return FusionParams(method, ratio, g, pan_mean=float(sel(pan).mean()), pan_std=float(sel(pan).std()),
                            ms_mean=sel(ms_up).mean(axis=1), ms_std=sel(ms_up).std(axis=1),
                            pan_lp_std=np.array([sel(lp[k]).std() for k in range(nb)]), **syn)
    # regression of the degraded PAN on the MS at the MS scale (Aiazzi et al. 2007, eq. 8)
    pan_lr = degrade(pan, ratio, mtf_pan)
    ms_lr = decimate(ms_up, ratio)
    vl = decimate(v.astype(np.float64), ratio) > 0.999
    X = ms_lr[:, vl].T
    y = pan_lr[vl]
    if method == "brovey":
        if weights is None:
            from scipy.optimize import nnls
            w, _ = nnls(X, y)
            if not w.any():
                w = np.full(nb, 1.0 / nb)
        else:
            w = np.asarray(weights, np.float64)
        return FusionParams(method, ratio, g, weights=w, pan_mean=float(sel(pan).mean()),
                            ms_mean=sel(ms_up).mean(axis=1), **syn)
    A = np.hstack([X - X.mean(0), np.ones((X.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(A, y - y.mean(), rcond=None)
    w, b = coef[:nb], float(coef[nb])
    msv = sel(ms_up)
    ms0 = msv - msv.mean(axis=1, keepdims=True)
    inten = w @ ms0 + b
    i0 = inten - inten.mean()
    gains = np.array([np.mean(ms0[k] * i0) / np.var(i0) for k in range(nb)])
    return FusionParams(method, ratio, g, weights=w, bias=b, gains=gains,
                        pan_mean=float(sel(pan).mean()), pan_std=float(sel(pan).std()),
                        i_mean=float(inten.mean()), i_std=float(i0.std()),
                        ms_mean=msv.mean(axis=1), **syn)


def apply(p: FusionParams, pan: np.ndarray, ms_up: np.ndarray, margin: int = 0) -> np.ndarray:
    """Fuse with parameters ``p``. ``pan`` (H, W) and ``ms_up`` (bands, H, W) may carry a halo of
    ``margin`` pixels (a multiple of ``ratio``) on every side, which is cut from the result
    (bands, H − 2·margin, W − 2·margin), float64."""
    pan = np.asarray(pan, np.float64)
    ms_up = np.asarray(ms_up, np.float64)
    sl = (slice(margin, pan.shape[0] - margin), slice(margin, pan.shape[1] - margin))
    if p.method == "brovey":
        P, M = pan[sl], ms_up[(slice(None),) + sl]
        s = np.tensordot(p.weights, M, axes=1)
        return M * (P / np.where(s > 0, s, np.inf))[None]
    if p.method == "gsa":
        P, M = pan[sl], ms_up[(slice(None),) + sl]
        m0 = M - p.ms_mean[:, None, None]
        i0 = np.tensordot(p.weights, m0, axes=1) + p.bias - (p.i_mean)
        # the regression already puts I in PAN units: only the means are removed (Vivone's GSA)
        return M + p.gains[:, None, None] * ((P - p.pan_mean) - i0)[None]
    # mtf-glp-hpm. The band's equalised PAN is affine in the PAN, P_k = a_k·P + b_k, and the
    # low-pass chain (Gaussian, decimation, cubic interpolation) is linear with unit DC gain,
    # so P_L,k = a_k·L_σ(P) + b_k: the chain runs once per distinct MTF, not once per band.
    r = p.ratio
    H, W = pan.shape
    hh, ww = H // r * r, W // r * r
    out = np.empty((ms_up.shape[0], H - 2 * margin, W - 2 * margin))
    P = pan[sl]
    chains: dict[float, np.ndarray] = {}
    for k in range(ms_up.shape[0]):
        sigma = round(mtf_sigma(p.mtf_ms[k], r), 12)
        if sigma not in chains:
            low = decimate(gaussian(pan, sigma)[:hh, :ww], r)
            chains[sigma] = upsample(low, r, (H, W))[sl]
        a = p.ms_std[k] / p.pan_lp_std[k]
        b = p.ms_mean[k] - a * p.pan_mean
        PK.hpm_combine(np.ascontiguousarray(ms_up[k][sl]), np.ascontiguousarray(P),
                       np.ascontiguousarray(chains[sigma]), float(a), float(b), out[k])
    return out


def pansharpen(method: str, pan: np.ndarray, ms_up: np.ndarray, ratio: int, **kw) -> np.ndarray:
    """Whole-image convenience: :func:`estimate` then :func:`apply`; (bands, H, W) float64."""
    return apply(estimate(method, pan, ms_up, ratio, **kw), pan, ms_up)
