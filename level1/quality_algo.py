"""Quality measurements of a Level-1 scene (numpy): residual band misregistration by image
correlation, and the cloud mask.

Misregistration: each MS band is compared with the PAN band block-averaged to the MS grid
(same perfect-sensor geometry), tile by tile: **phase correlation** (Kuglin & Hines 1975) gives
the whole-pixel shift, then a gradient-based least-squares refinement (Lucas & Kanade 1981,
iterated with cubic-spline resampling) the sub-pixel part — phase correlation alone is biased
and noisy on smooth textures. Tiles with little texture or a poor correlation after alignment
are skipped. The median shift per band (MS pixels, +row = along track, +col = across track)
and its spread are reported. Spectral differences between bands bias single tiles, not the
median.

Cloud mask (documented threshold test, in the spirit of ACCA / Fmask's first pass on the four
VNIR bands available here — no thermal or SWIR band):

* bright: TOA reflectance blue > 0.22 **and** red > 0.22 (thick clouds are bright in the
  visible; bright soils are usually not bright in the blue);
* white: ``Σ|ρ_b − mean|/mean`` over the four bands < 0.4 (clouds are spectrally flat;
  vegetation, water and soil are not);
* not vegetated: NDVI = (NIR − red)/(NIR + red) < 0.25;
* the mask is dilated by one MS pixel (cloud edges). Snow and ice also pass this test (no
  SWIR to tell them apart) — a known limitation stated in the metadata.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

CLOUD_BLUE_MIN = 0.22
CLOUD_RED_MIN = 0.22
CLOUD_WHITENESS_MAX = 0.4
CLOUD_NDVI_MAX = 0.25


def phase_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Shift (drow, dcol) that moves ``b`` onto ``a`` (a(x) ≈ b(x − d)), and the peak height
    (0..1). Hann-windowed, normalised cross-power spectrum, parabolic sub-pixel fit."""
    a = a - a.mean()
    b = b - b.mean()
    w = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    A = np.fft.fft2(a * w)
    B = np.fft.fft2(b * w)
    R = A * np.conj(B)
    R /= np.maximum(np.abs(R), 1e-12)
    c = np.real(np.fft.ifft2(R))
    i, j = np.unravel_index(int(np.argmax(c)), c.shape)
    peak = float(c[i, j])

    def sub(cm, c0, cp):
        den = cm - 2 * c0 + cp
        return 0.0 if den == 0 else 0.5 * (cm - cp) / den

    n0, n1 = c.shape
    di = i + sub(c[(i - 1) % n0, j], c[i, j], c[(i + 1) % n0, j])
    dj = j + sub(c[i, (j - 1) % n1], c[i, j], c[i, (j + 1) % n1])
    if di > n0 / 2:
        di -= n0
    if dj > n1 / 2:
        dj -= n1
    return float(di), float(dj), peak


def register(a: np.ndarray, b: np.ndarray, iterations: int = 8) -> tuple[float, float, float]:
    """Shift (drow, dcol) with a(x) ≈ b(x − d) (same convention as :func:`phase_correlation`)
    and the correlation coefficient after alignment. Gain/offset differences between the
    images are removed (normalised), so bands of different radiometry can be compared."""
    a = (a - a.mean()) / (a.std() or 1.0)
    b = (b - b.mean()) / (b.std() or 1.0)
    dr, dc, _ = phase_correlation(a, b)
    d = np.array([round(dr), round(dc)], np.float64)
    m = 4                                           # ignore borders affected by the shift
    gy, gx = np.gradient(a)
    for _ in range(iterations):
        bs = ndimage.shift(b, d, order=3, mode="nearest")
        bs = (bs - bs[m:-m, m:-m].mean()) / (bs[m:-m, m:-m].std() or 1.0)
        r = (a - bs)[m:-m, m:-m]
        Gy, Gx = gy[m:-m, m:-m], gx[m:-m, m:-m]
        A = np.array([[np.sum(Gy * Gy), np.sum(Gy * Gx)], [np.sum(Gy * Gx), np.sum(Gx * Gx)]])
        rhs = np.array([np.sum(Gy * r), np.sum(Gx * r)])
        try:
            step = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError:
            break
        # a(x) ≈ bs(x) + ∇a·δ  ⇒  the shift of b grows by −δ... expressed in d's convention
        d = d - step
        if np.max(np.abs(step)) < 1e-4:
            break
    bs = ndimage.shift(b, d, order=3, mode="nearest")[m:-m, m:-m]
    cc = float(np.corrcoef(a[m:-m, m:-m].ravel(), bs.ravel())[0, 1])
    return float(d[0]), float(d[1]), cc


def block_mean(img: np.ndarray, k: int) -> np.ndarray:
    """k×k block average (NaN-propagating) of a (rows, cols) image with rows, cols multiples of k."""
    r, c = img.shape[0] // k, img.shape[1] // k
    return img[: r * k, : c * k].reshape(r, k, c, k).mean(axis=(1, 3))


def misregistration(pan: np.ndarray, ms: dict[str, np.ndarray], ratio: int, tile: int = 64,
                    min_corr: float = 0.5) -> dict[str, dict]:
    """Residual shift of each MS band against PAN degraded to the MS grid (MS pixels):
    ``{band: {drow, dcol, spread, tiles}}`` (median, median absolute deviation, tiles used)."""
    ref = block_mean(pan, ratio)
    while tile > 32 and (ref.shape[0] // tile) * (ref.shape[1] // tile) < 32:
        tile //= 2                       # small scenes: smaller tiles, enough of them
    out = {}
    for name, img in ms.items():
        shifts = []
        rows = min(ref.shape[0], img.shape[0])
        cols = min(ref.shape[1], img.shape[1])
        for r0 in range(0, rows - tile + 1, tile):
            for c0 in range(0, cols - tile + 1, tile):
                a = ref[r0:r0 + tile, c0:c0 + tile]
                b = img[r0:r0 + tile, c0:c0 + tile]
                if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
                    continue
                if a.std() < 1e-3 * max(abs(a.mean()), 1e-6) or b.std() == 0:
                    continue
                dr, dc, cc = register(a, b)
                if cc >= min_corr and abs(dr) < tile / 4 and abs(dc) < tile / 4:
                    shifts.append((dr, dc))
        if shifts:
            s = np.array(shifts)
            med = np.median(s, axis=0)
            mad = np.median(np.abs(s - med), axis=0)
            out[name] = {"drow": float(med[0]), "dcol": float(med[1]),
                         "spread": float(np.hypot(*mad)), "tiles": int(len(s))}
        else:
            out[name] = {"drow": None, "dcol": None, "spread": None, "tiles": 0}
    return out


def cloud_mask(blue: np.ndarray, green: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Boolean cloud mask from TOA reflectances on one grid (NaN → not cloud)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        stack = np.stack([blue, green, red, nir])
        mean = stack.mean(axis=0)
        white = np.abs(stack - mean).sum(axis=0) / mean
        ndvi = (nir - red) / (nir + red)
        m = ((blue > CLOUD_BLUE_MIN) & (red > CLOUD_RED_MIN) & (white < CLOUD_WHITENESS_MAX)
             & (ndvi < CLOUD_NDVI_MAX))
    m &= np.all(np.isfinite(stack), axis=0)
    return ndimage.binary_dilation(m, iterations=1) & np.all(np.isfinite(stack), axis=0)   # 4-connected
