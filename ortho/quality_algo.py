"""Image-quality measures of fused products (numpy): ERGAS, SAM, Q, Q4, QNR; sub-pixel
registration (:func:`phase_shift`, :func:`windowed_shifts`, :class:`ShiftStats`) is
:mod:`level1.quality_algo`'s, re-exported here.

References:

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

import numpy as np

# sub-pixel registration is level1's (one implementation for band registration and ortho
# co-registration checks); re-exported for ortho callers
from level1.quality_algo import ShiftStats, phase_shift, windowed_shifts  # noqa: F401


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
