"""Quality measurements (numpy): residual band misregistration by image correlation, and the
project's sub-pixel registration functions (also used by ortho's co-registration
checks and tests — :mod:`ortho.quality_algo` re-exports them).

Misregistration: each MS band is compared with the PAN band block-averaged to the MS grid
(same perfect-sensor geometry), tile by tile: the **correlation peak** (partially whitened
phase correlation, after Kuglin & Hines 1975) gives the whole-pixel shift, then a gradient-based least-squares refinement (Lucas & Kanade 1981,
iterated with cubic-spline resampling) the sub-pixel part — phase correlation alone is biased
and noisy on smooth textures. Tiles with little texture or a poor correlation after alignment
are skipped. The median shift per band (MS pixels, +row = along track, +col = across track)
and its spread are reported. Spectral differences between bands bias single tiles, not the
median. (The cloud mask is :mod:`level1.cloud_algo`.)

Two sub-pixel matchers share one integer correlation peak (:func:`_correlation_peak` of the
partially whitened cross-power spectrum :func:`_weighted_cross_power`, ``A·B*/|A·B*|^½``: fully
whitened phase correlation lets noise peaks win on smooth or noisy windows, one to tens of
pixels off): :func:`register` (Lucas–Kanade refinement, returns the correlation after
alignment; used for band misregistration) and :func:`phase_shift` / :func:`windowed_shifts`
(Guizar-Sicairos, Thurman & Fienup 2008, Opt. Lett. 33(2): upsampled-DFT peak, then
Gauss-Newton least-squares matching with gain/offset (Lucas & Kanade 1981; Gruen 1985), NaN
when a window has no 2-D structure or no distinct correlation peak (peak-to-second-peak
ratio); used by ortho). They differ on purpose in their refinement and rejection rules;
merging those would change the reported figures of one stage. :func:`phase_correlation` is
the classic fully whitened estimator (Kuglin & Hines 1975), kept for reference.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


def _cross_power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised cross-power spectrum ``A·B*/|A·B*|`` of the mean-removed, Hann-windowed
    images (Kuglin & Hines 1975): its inverse FFT peaks at the shift d with a(x) ≈ b(x − d)."""
    w = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    A = np.fft.fft2((a - a.mean()) * w)
    B = np.fft.fft2((b - b.mean()) * w)
    R = A * np.conj(B)
    R /= np.maximum(np.abs(R), 1e-12)
    return R


def phase_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Shift (drow, dcol) that moves ``b`` onto ``a`` (a(x) ≈ b(x − d)), and the peak height
    (0..1). Hann-windowed, normalised cross-power spectrum, parabolic sub-pixel fit."""
    c = np.real(np.fft.ifft2(_cross_power(a, b)))
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
    # integer start: the robust correlation peak shared with phase_shift (not the fully
    # whitened phase_correlation, whose noise peaks can win on smooth windows)
    d, _, _ = _correlation_peak(_weighted_cross_power(a, b))
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


# ---------------------------------------------------------------- registration (ortho checks)

def _upsampled_dft(data: np.ndarray, region: int, factor: float, offsets) -> np.ndarray:
    """DFT of ``data`` on a ``region``² neighbourhood upsampled by ``factor`` (Guizar-Sicairos)."""
    for n, off in zip(data.shape[::-1], offsets[::-1]):
        kern = np.exp(-2j * np.pi * (np.arange(region) - off)[:, None] * np.fft.fftfreq(n, factor))
        data = np.tensordot(kern, data, axes=(1, -1))
    return data


def phase_shift(ref: np.ndarray, mov: np.ndarray, upsample: int = 20, margin: int = 4,
                iterations: int = 20, min_structure: float = 0.02,
                min_peak_ratio: float = 2.5, min_corr: float = 0.7) -> tuple[float, float]:
    """Sub-pixel translation (dy, dx) in pixels such that ``mov(y, x) ≈ ref(y − dy, x − dx)``
    (``mov`` is ``ref`` moved by (dy, dx)).

    Three steps:

    1. Integer peak of the *partially whitened* cross-correlation (:func:`_correlation_peak`,
       cross-power spectrum divided by ``|A·B*|^½``): full whitening (classic phase correlation)
       gives every frequency the same weight, so on smooth or noisy windows, where most of the
       spectrum is noise, noise peaks win (wrong by one to tens of pixels); plain correlation
       has broad peaks. The peak's quality is its height over the highest other local maximum
       (peak-to-second-peak ratio); below ``min_peak_ratio`` the window has no trustworthy match
       (noise against noise reaches ~2.3 on one window in a few thousand; textured windows
       give ≥ 3–4; 2–2.5 is ambiguous, repetitive or weak texture, where a false peak was seen
       ~2 px off on a simulated pass).
    2. Upsampled DFT of the same spectrum around that peak (Guizar-Sicairos et al. 2008) to
       1/``upsample`` px — the Hann taper pulls this towards zero by up to ~0.1 px, so:
    3. least-squares matching (Gauss-Newton on ``ref ≈ a·mov(y + dy, x + dx) + b``, cubic
       B-spline resampling of ``mov``, gain/offset free, ``margin`` border pixels excluded),
       unbiased for small shifts, which must stay inside the correlation peak's main lobe
       (at least 1 px) and leave ``ref`` and the aligned ``mov`` correlated (coefficient ≥
       ``min_corr``; noise against noise: ~0 ± 0.02 on 64² windows).

    Returns (NaN, NaN) when the window has no 2-D structure (smallest/largest eigenvalue of its
    gradient structure tensor < ``min_structure``: flat fields, straight edges), no distinct
    correlation peak or no correlation after alignment (textureless: noise against noise), or
    when the refinement leaves the correlation peak's main lobe.
    """
    from scipy.ndimage import map_coordinates, spline_filter
    ref = np.asarray(ref, np.float64)
    mov = np.asarray(mov, np.float64)
    nan = (float("nan"), float("nan"))
    # aperture check: a window without 2-D structure (flat, or edges of one direction) has no
    # defined shift — NaN rather than a number
    gyr, gxr = np.gradient(ref)
    T = np.array([[np.sum(gyr * gyr), np.sum(gyr * gxr)], [np.sum(gyr * gxr), np.sum(gxr * gxr)]])
    ev = np.linalg.eigvalsh(T)
    if not (ev[0] > 1e-12 and ev[0] > min_structure * ev[1]):
        return nan
    dy, dx, ratio, radius = _phase_shift_once(ref, mov, upsample)
    if not ratio >= min_peak_ratio:
        return nan                                   # no distinct peak: noise against noise
    # the matching may move anywhere inside the correlation peak's main lobe (broad for smooth
    # textures, where noise moves the peak's top by a pixel or more), not beyond it
    dy0, dx0, tol = dy, dx, max(1.0, radius)
    H, W = ref.shape
    m = margin + int(np.ceil(max(abs(dy), abs(dx)) + tol))
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
        if not (np.isfinite(dy) and np.isfinite(dx)) or np.hypot(dy - dy0, dx - dx0) > tol:
            return nan                               # left the peak: the match is not trustworthy
        if abs(upd[0]) < 1e-5 and abs(upd[1]) < 1e-5:
            break
    if not np.corrcoef(r, ms)[0, 1] >= min_corr:      # at the last iterate (converged: < 1e-5 px)
        return nan                                   # aligned, yet uncorrelated: no common texture
    # ref(y) ≈ mov(y + d)  ⇔  mov(y) ≈ ref(y − d)
    return float(dy), float(dx)


def _weighted_cross_power(a: np.ndarray, b: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Cross-power spectrum ``A·B* / |A·B*|^power`` of the mean-removed, Hann-windowed images:
    ``power`` 1 is phase correlation (Kuglin & Hines 1975), 0 plain correlation; ½ keeps the
    peak sharp while frequencies where the signal is below the noise keep a low weight."""
    w = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    A = np.fft.fft2((a - a.mean()) * w)
    B = np.fft.fft2((b - b.mean()) * w)
    R = A * np.conj(B)
    return R / np.maximum(np.abs(R), 1e-300) ** power


def _correlation_peak(R: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Integer position (row, col; signed, |·| ≤ n/2) of the maximum of the real correlation
    surface ``ifft2(R)``, its peak-to-second-peak ratio and the radius (px) of its main lobe.

    The main lobe is the connected region above half the peak height around the maximum; the
    second peak is the highest local maximum (3×3, periodic) outside that lobe grown by 1 px,
    so noise bumps on the shoulder of a broad (smooth-texture) peak do not count as rivals.
    Ratio ~1–2.3 for noise against noise, ≥ 4 for a textured match. Real part, not modulus:
    the true peak is a positive correlation."""
    c = np.real(np.fft.ifft2(R))
    i, j = np.unravel_index(int(np.argmax(c)), c.shape)
    n0, n1 = c.shape
    c = np.roll(c, (n0 // 2 - i, n1 // 2 - j), axis=(0, 1))     # peak at the centre
    peak = c[n0 // 2, n1 // 2]
    lab, _ = ndimage.label(c >= 0.5 * peak)
    lobe = lab == lab[n0 // 2, n1 // 2]
    yy, xx = np.nonzero(lobe)
    radius = float(np.hypot(yy - n0 // 2, xx - n1 // 2).max())
    outside = ~ndimage.binary_dilation(lobe, np.ones((3, 3), bool))
    local = (c == ndimage.maximum_filter(c, size=3, mode="wrap")) & outside
    second = c[local].max() if local.any() else 0.0
    ratio = float(peak / second) if second > 0 else float("inf")
    pos = np.array([i, j], np.float64)
    shape = np.array((n0, n1), np.float64)
    pos[pos > shape // 2] -= shape[pos > shape // 2]
    return pos, ratio, radius


def _phase_shift_once(ref: np.ndarray, mov: np.ndarray,
                      upsample: int) -> tuple[float, float, float, float]:
    """Correlation estimate (same convention as :func:`phase_shift`) to 1/``upsample`` px, and
    the peak-to-second-peak ratio and main-lobe radius (px) of :func:`_correlation_peak`."""
    R = _weighted_cross_power(ref, mov)
    peak, ratio, radius = _correlation_peak(R)
    region = int(np.ceil(upsample * 1.5))
    centre = np.fix(region / 2.0)
    up = _upsampled_dft(R.conj(), region, upsample, centre - peak * upsample).conj()
    m = np.array(np.unravel_index(np.argmax(np.real(up)), up.shape), np.float64) - centre
    s = peak + m / upsample
    return float(-s[0]), float(-s[1]), ratio, radius


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
