"""Image-quality and registration measures (numpy): sub-pixel correlation, ERGAS, SAM, Q, Q4, QNR.

References:

* Guizar-Sicairos, Thurman & Fienup (2008), "Efficient subpixel image registration
  algorithms", Opt. Lett. 33(2) — phase correlation refined by a matrix-multiply upsampled DFT;
  then least-squares matching (Lucas & Kanade 1981; Gruen 1985) for an unbiased sub-pixel value.
* Wald (2002), *Data Fusion*, §8 — ERGAS = 100·(h/l)·√(mean_k (RMSE_k / μ_k)²), h/l the
  PAN/MS pixel-size ratio.
* Yuhas, Goetz & Boardman (1992) — SAM, the mean spectral angle (degrees here).
* Wang & Bovik (2002) — universal image quality index Q; Alparone et al. (2004), "A global
  quality measurement of pan-sharpened multispectral imagery", IEEE GRSL 1(4) — Q4
  (quaternions), computed as in Vivone et al. (2015, IEEE TGRS 53(5)) ``q2n``: bands
  normalised by the reference's mean/std, 32×32 blocks, mean over blocks.
* Alparone et al. (2008), "Multispectral and panchromatic data fusion assessment without
  reference", PE&RS 74(2) — QNR = (1 − Dλ)(1 − Ds), p = q = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# ---------------------------------------------------------------------------- registration

def _upsampled_dft(data: np.ndarray, region: int, factor: float, offsets) -> np.ndarray:
    """DFT of ``data`` on a ``region``² neighbourhood upsampled by ``factor`` (Guizar-Sicairos)."""
    for n, off in zip(data.shape[::-1], offsets[::-1]):
        kern = np.exp(-2j * np.pi * (np.arange(region) - off)[:, None] * np.fft.fftfreq(n, factor))
        data = np.tensordot(kern, data, axes=(1, -1))
    return data


def phase_shift(ref: np.ndarray, mov: np.ndarray, upsample: int = 20, margin: int = 4,
                iterations: int = 20, min_structure: float = 0.02) -> tuple[float, float]:
    """Sub-pixel translation (dy, dx) in pixels such that ``mov(y, x) ≈ ref(y − dy, x − dx)``
    (``mov`` is ``ref`` moved by (dy, dx)).

    Two steps: phase correlation with an upsampled DFT (Guizar-Sicairos et al. 2008) gives the
    shift to 1/``upsample`` px — but its Hann taper pulls estimates towards zero by up to
    ~0.1 px, which would flatter agreement tests — so it is refined by least-squares matching
    (Gauss-Newton on ``ref ≈ a·mov(y + dy, x + dx) + b``, cubic B-spline resampling of ``mov``,
    gain/offset free, ``margin`` border pixels excluded), which is unbiased for small shifts.

    Returns (NaN, NaN) when the window has no 2-D structure (smallest/largest eigenvalue of its
    gradient structure tensor < ``min_structure``: flat fields, straight edges) or when the
    refinement leaves the correlation peak by more than 1 px.
    """
    from scipy.ndimage import map_coordinates, spline_filter
    ref = np.asarray(ref, np.float64)
    mov = np.asarray(mov, np.float64)
    # aperture check: a window without 2-D structure (flat, or edges of one direction) has no
    # defined shift — NaN rather than a number
    gyr, gxr = np.gradient(ref)
    T = np.array([[np.sum(gyr * gyr), np.sum(gyr * gxr)], [np.sum(gyr * gxr), np.sum(gxr * gxr)]])
    ev = np.linalg.eigvalsh(T)
    if not (ev[0] > 1e-12 and ev[0] > min_structure * ev[1]):
        return float("nan"), float("nan")
    dy, dx = _phase_shift_once(ref, mov, upsample)
    dy0, dx0 = dy, dx
    H, W = ref.shape
    m = margin + int(np.ceil(max(abs(dy), abs(dx))))
    if H - 2 * m < 4 or W - 2 * m < 4:
        return dy, dx
    yy, xx = np.mgrid[m:H - m, m:W - m].astype(np.float64)
    r = ref[m:H - m, m:W - m].ravel()
    gy_img, gx_img = np.gradient(mov)
    # cubic B-spline coefficients once; each iteration only evaluates them
    cm, cgy, cgx = (spline_filter(x, order=3, mode="nearest") for x in (mov, gy_img, gx_img))
    a, b = 1.0, 0.0
    for _ in range(iterations):
        coords = [yy + dy, xx + dx]
        ms = map_coordinates(cm, coords, order=3, mode="nearest", prefilter=False).ravel()
        gy = map_coordinates(cgy, coords, order=3, mode="nearest", prefilter=False).ravel()
        gx = map_coordinates(cgx, coords, order=3, mode="nearest", prefilter=False).ravel()
        A = np.stack([a * gy, a * gx, ms, np.ones_like(ms)], axis=1)
        res = r - (a * ms + b)
        upd, *_ = np.linalg.lstsq(A, res, rcond=None)
        dy += upd[0]
        dx += upd[1]
        a += upd[2]
        b += upd[3]
        if not (np.isfinite(dy) and np.isfinite(dx)) or abs(dy - dy0) > 1.0 or abs(dx - dx0) > 1.0:
            return float("nan"), float("nan")       # diverged: the match is not trustworthy
        if abs(upd[0]) < 1e-5 and abs(upd[1]) < 1e-5:
            break
    # ref(y) ≈ mov(y + d)  ⇔  mov(y) ≈ ref(y − d)
    return float(dy), float(dx)


def _phase_shift_once(ref: np.ndarray, mov: np.ndarray, upsample: int) -> tuple[float, float]:
    """One phase-correlation estimate (same convention as :func:`phase_shift`)."""
    win = np.outer(np.hanning(ref.shape[0]), np.hanning(ref.shape[1]))
    F = np.fft.fft2((ref - ref.mean()) * win)
    G = np.fft.fft2((mov - mov.mean()) * win)
    R = F * G.conj()
    R /= np.maximum(np.abs(R), 1e-12)
    cc = np.fft.ifft2(R)
    peak = np.array(np.unravel_index(np.argmax(np.abs(cc)), cc.shape), np.float64)
    shape = np.array(cc.shape, np.float64)
    peak[peak > shape // 2] -= shape[peak > shape // 2]
    peak = np.round(peak * upsample) / upsample
    region = int(np.ceil(upsample * 1.5))
    centre = np.fix(region / 2.0)
    up = _upsampled_dft(R.conj(), region, upsample, centre - peak * upsample).conj()
    m = np.array(np.unravel_index(np.argmax(np.abs(up)), up.shape), np.float64) - centre
    s = peak + m / upsample
    return float(-s[0]), float(-s[1])


@dataclass(frozen=True)
class ShiftStats:
    """Per-window sub-pixel shifts of one image against another (pixels)."""

    windows: int
    mean_dy: float
    mean_dx: float
    mean_px: float          # mean |shift| over windows
    max_px: float           # max |shift|
    rms_px: float
    median_dy: float = 0.0
    median_dx: float = 0.0
    rejected: int = 0       # textured windows without a trustworthy match (see phase_shift)
    se_dy: float = 0.0      # robust standard errors of the medians (1.253·1.4826·MAD/√n)
    se_dx: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def windowed_shifts(ref: np.ndarray, mov: np.ndarray, valid: np.ndarray | None = None, *,
                    window: int = 64, step: int | None = None, min_std: float = 1e-6) -> ShiftStats:
    """:func:`phase_shift` on a lattice of ``window``² windows fully inside ``valid`` whose
    reference has texture (std > ``min_std``); statistics over the windows with a trustworthy
    match (the others are counted in ``rejected``)."""
    step = step or window
    H, W = ref.shape
    v = np.ones((H, W), bool) if valid is None else valid.astype(bool)
    sh = []
    for y in range(0, H - window + 1, step):
        for x in range(0, W - window + 1, step):
            if not v[y:y + window, x:x + window].all():
                continue
            a = ref[y:y + window, x:x + window]
            if np.std(a) <= min_std:
                continue
            sh.append(phase_shift(a, mov[y:y + window, x:x + window]))
    s = np.array(sh).reshape(-1, 2)
    ok = np.isfinite(s).all(axis=1)
    if not ok.any():
        raise ValueError("no valid textured window to correlate")
    rejected = int((~ok).sum())
    s = s[ok]
    mag = np.hypot(s[:, 0], s[:, 1])
    med = np.median(s, axis=0)
    se = 1.253 * 1.4826 * np.median(np.abs(s - med), axis=0) / np.sqrt(len(s))
    return ShiftStats(len(s), float(s[:, 0].mean()), float(s[:, 1].mean()), float(mag.mean()),
                      float(mag.max()), float(np.sqrt((mag ** 2).mean())), float(med[0]),
                      float(med[1]), rejected, float(se[0]), float(se[1]))


# ---------------------------------------------------------------------------- fusion quality

def ergas(ref: np.ndarray, fused: np.ndarray, ratio: float) -> float:
    """ERGAS (Wald 2002) of ``fused`` against ``ref`` (bands, h, w); ``ratio`` = MS/PAN pixel
    size (4 for Pléiades/SPOT 6)."""
    ref = ref.astype(np.float64)
    fused = fused.astype(np.float64)
    rmse = np.sqrt(np.mean((ref - fused) ** 2, axis=(1, 2)))
    mu = np.mean(ref, axis=(1, 2))
    return float(100.0 / ratio * np.sqrt(np.mean((rmse / mu) ** 2)))


def sam(ref: np.ndarray, fused: np.ndarray) -> float:
    """Mean spectral angle (degrees) between ``ref`` and ``fused`` (bands, h, w)."""
    a = ref.reshape(ref.shape[0], -1).astype(np.float64)
    b = fused.reshape(fused.shape[0], -1).astype(np.float64)
    na = np.linalg.norm(a, axis=0)
    nb = np.linalg.norm(b, axis=0)
    ok = (na > 0) & (nb > 0)
    c = np.clip(np.sum(a * b, axis=0)[ok] / (na[ok] * nb[ok]), -1.0, 1.0)
    return float(np.degrees(np.mean(np.arccos(c))))


def _blocks(h: int, w: int, block: int):
    for y in range(0, h - block + 1, block):
        for x in range(0, w - block + 1, block):
            yield slice(y, y + block), slice(x, x + block)


def q_index(x: np.ndarray, y: np.ndarray, block: int = 32) -> float:
    """Universal image quality index Q (Wang & Bovik 2002), mean over ``block``² blocks (the
    whole image when smaller than a block)."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    block = min(block, x.shape[0], x.shape[1])
    qs = []
    for sy, sx in _blocks(*x.shape, block):
        a, b = x[sy, sx].ravel(), y[sy, sx].ravel()
        ma, mb = a.mean(), b.mean()
        va, vb = a.var(), b.var()
        cab = np.mean((a - ma) * (b - mb))
        den = (va + vb) * (ma * ma + mb * mb)
        qs.append(4 * cab * ma * mb / den if den > 0 else 1.0)
    return float(np.mean(qs))


def _qmul(p, q):
    a1, b1, c1, d1 = p
    a2, b2, c2, d2 = q
    return (a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2, a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2, a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2)


def q4(ref: np.ndarray, fused: np.ndarray, block: int = 32) -> float:
    """Q4 (Alparone et al. 2004) of 4-band ``fused`` against ``ref`` (4, h, w): bands
    normalised with the reference band's mean and std (``q2n``), quaternion UIQI per block,
    mean over blocks."""
    if ref.shape[0] != 4 or fused.shape != ref.shape:
        raise ValueError(f"Q4 needs two (4, h, w) images, got {ref.shape} and {fused.shape}")
    r = ref.astype(np.float64).copy()
    f = fused.astype(np.float64).copy()
    for k in range(4):
        m, s = r[k].mean(), r[k].std()
        s = s if s > 0 else 1.0
        r[k] = (r[k] - m) / s + 1.0
        f[k] = (f[k] - m) / s + 1.0
    block = min(block, r.shape[1], r.shape[2])
    qs = []
    for sy, sx in _blocks(r.shape[1], r.shape[2], block):
        z = [r[k][sy, sx].ravel() for k in range(4)]
        v = [f[k][sy, sx].ravel() for k in range(4)]
        mz = [c.mean() for c in z]
        mv = [c.mean() for c in v]
        zc = [c - m for c, m in zip(z, mz)]
        vc = [c - m for c, m in zip(v, mv)]
        vconj = (vc[0], -vc[1], -vc[2], -vc[3])
        cov = np.array([c.mean() for c in _qmul(zc, vconj)])
        sz2 = sum(np.mean(c * c) for c in zc)
        sv2 = sum(np.mean(c * c) for c in vc)
        mz2 = sum(m * m for m in mz)
        mv2 = sum(m * m for m in mv)
        den = (sz2 + sv2) * (mz2 + mv2)
        qs.append(4.0 * np.linalg.norm(cov) * np.sqrt(mz2 * mv2) / den if den > 0 else 1.0)
    return float(np.mean(qs))


def qnr(fused: np.ndarray, ms: np.ndarray, pan: np.ndarray, pan_lr: np.ndarray,
        block: int = 32) -> dict[str, float]:
    """QNR at full resolution (Alparone et al. 2008, p = q = α = β = 1): ``fused`` (bands, H, W)
    and ``pan`` (H, W) at PAN scale, ``ms`` (bands, h, w) and ``pan_lr`` (h, w) (PAN degraded
    to the MS scale) → {D_lambda, D_s, QNR}."""
    n = fused.shape[0]
    bl = max(4, block // max(1, int(round(pan.shape[0] / ms.shape[1]))))
    dl = []
    for i in range(n):
        for j in range(n):
            if i != j:
                dl.append(abs(q_index(fused[i], fused[j], block) - q_index(ms[i], ms[j], bl)))
    d_lambda = float(np.mean(dl))
    d_s = float(np.mean([abs(q_index(fused[i], pan, block) - q_index(ms[i], pan_lr, bl))
                         for i in range(n)]))
    return {"D_lambda": d_lambda, "D_s": d_s, "QNR": (1 - d_lambda) * (1 - d_s)}
