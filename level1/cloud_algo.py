"""Cloud mask of a Level-1 scene from the four VNIR bands (numpy).

SPOT 6/7 has blue (B0), green (B1), red (B2) and near-infrared (B3) bands only: no SWIR
(no NDSI, no cirrus band) and no thermal band (no brightness temperature). The test below
keeps the visible/NIR part of Fmask's potential-cloud pass (Zhu & Woodcock 2012, *Remote
Sensing of Environment* 118, §3.1.1) and replaces the SWIR/thermal tests that separate bright
ground from cloud there by a visible spectral-slope test. Inputs are **TOA reflectance
factors** (unitless, ρ = π·L·d² / (E_sun·cos θs), θs the solar zenith angle — computed by
:func:`level1.radiometry_algo.reflectance`), NaN = no data. A pixel is cloud when all of:

1. **bright** — mean visible reflectance ``(ρB + ρG + ρR)/3 ≥ BRIGHTNESS_MIN``: clouds
   that hide the ground reflect ≳ 0.2 of the sunlight in the visible; water, vegetation,
   asphalt and most built-up and soil surfaces stay below;
2. **hazy** — HOT (haze optimised transform, Zhang, Guindon & Cihlar 2002, *RSE* 82; Fmask
   eq. 3) ``ρB − 0.5·ρR > HOT_MIN``: scattering by cloud droplets and by the air above the
   ground raises the blue as much as the red, while clear land lies on the "clear line"
   where blue grows only half as fast as red;
3. **white** — Fmask's whiteness over the visible bands ``Σ|ρi − mean|/mean < WHITENESS_MAX``
   (Fmask eq. 2, with its threshold 0.7): cloud spectra are flat;
4. **not reddened** — ``ρR/ρB ≤ RED_BLUE_MAX``: this replaces Fmask's SWIR tests. Clouds are
   spectrally flat to slightly bluish at the top of the atmosphere (Mie scattering by droplets
   is grey; Rayleigh scattering above adds blue), whereas every bright *ground* surface has a
   reflectance rising from blue to red: carbonate rock and limestone scree (ρR/ρB ≈ 1.2–1.35,
   e.g. the ASTER/JHU limestone spectra), bare soils and sand (iron oxides, 1.5–2), concrete
   and roofs (≈ 1.25). The bright-ground false positives of the previous 4-band whiteness
   test came from exactly this class: Mont Ventoux scree (ρ ≈ 0.30/0.34/0.37/0.40) is bright,
   white to 0.37 by a 4-band whiteness, and not vegetated;
5. **not vegetated** — NDVI ``(ρN − ρR)/(ρN + ρR) < NDVI_MAX``: dense green vegetation
   (NDVI > 0.6) is never cloud; the bound is loose enough for thin cloud over vegetation
   (a 30 % cloud / 70 % meadow mixture has NDVI ≈ 0.3; Fmask uses 0.8 with its SWIR tests).

No dilation: the mask marks pixels whose spectrum is cloud-dominated. Known limitations (no
SWIR or thermal band): snow and ice, sun glint on water and white salt flats pass the test as
cloud; semi-transparent cirrus over dark ground below ``BRIGHTNESS_MIN`` is missed; cloud
shadows are not flagged.
"""
from __future__ import annotations

import numpy as np

from srd.errors import ProductError

#: thresholds of the test, all on TOA reflectance factors (unitless) or their ratios —
#: the only place they are defined (see the module docstring for the physics)
BRIGHTNESS_MIN = 0.20          # mean of ρB, ρG, ρR
HOT_MIN = 0.08                 # ρB − 0.5·ρR (Fmask's HOT threshold)
WHITENESS_MAX = 0.7            # Σ|ρi − m|/m over B, G, R (Fmask's whiteness threshold)
RED_BLUE_MAX = 1.10            # ρR / ρB
NDVI_MAX = 0.5                 # (ρN − ρR)/(ρN + ρR)
#: largest plausible TOA reflectance factor: above it the input is DN or radiance, not ρ
REFLECTANCE_MAX = 2.0

METHOD = (f"VNIR spectral test on TOA reflectance (Fmask visible/NIR tests, SWIR/thermal tests "
          f"replaced by a spectral slope): mean(B,G,R)>={BRIGHTNESS_MIN}, "
          f"HOT=B-0.5R>{HOT_MIN}, visible whiteness<{WHITENESS_MAX}, R/B<={RED_BLUE_MAX}, "
          f"NDVI<{NDVI_MAX}; no dilation (snow/ice and sun glint not separable without SWIR)")

BANDS = ("blue", "green", "red", "nir")


def spectral_indices(blue: np.ndarray, green: np.ndarray, red: np.ndarray,
                     nir: np.ndarray) -> dict[str, np.ndarray]:
    """The quantities the cloud test thresholds (float32 arrays — ample for thresholds of
    order 10⁻², and half the memory of a nominal-profile chunk — NaN where undefined):
    ``brightness`` mean visible reflectance, ``hot`` ρB − 0.5·ρR, ``whiteness`` visible
    Σ|ρi − m|/m, ``red_blue`` ρR/ρB, ``ndvi``. Inputs: TOA reflectance factors."""
    b, g, r, n = _check(blue, green, red, nir)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (b + g + r) / np.float32(3.0)
        white = (np.abs(b - m) + np.abs(g - m) + np.abs(r - m)) / m
        return {"brightness": m, "hot": b - np.float32(0.5) * r, "whiteness": white,
                "red_blue": r / b, "ndvi": (n - r) / (n + r)}


def cloud_mask(blue: np.ndarray, green: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Boolean cloud mask (True = cloud) from TOA reflectance factors of the four MS bands
    on one grid (any equal shapes); a pixel with a NaN in any band is never cloud.

    Raises :class:`srd.errors.ProductError` when the shapes differ or when a band holds
    values above :data:`REFLECTANCE_MAX` (DN or radiance given instead of reflectance)."""
    x = spectral_indices(blue, green, red, nir)
    with np.errstate(invalid="ignore"):
        m = ((x["brightness"] >= BRIGHTNESS_MIN) & (x["hot"] > HOT_MIN)
             & (x["whiteness"] < WHITENESS_MAX) & (x["red_blue"] <= RED_BLUE_MAX)
             & (x["ndvi"] < NDVI_MAX))
    # NaN compares False everywhere above, but say it: no data is never cloud
    m &= np.isfinite(x["brightness"]) & np.isfinite(x["ndvi"])
    return m


def cloud_cover(mask: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Cloud cover in percent of the valid pixels (0 when none is valid)."""
    mask = np.asarray(mask, bool)
    v = np.ones(mask.shape, bool) if valid is None else np.asarray(valid, bool)
    if v.shape != mask.shape:
        raise ProductError(f"valid-pixel mask shape {v.shape} differs from the cloud mask {mask.shape}",
                           field="valid")
    n = int(v.sum())
    return 100.0 * int((mask & v).sum()) / n if n else 0.0


def _check(*bands: np.ndarray) -> list[np.ndarray]:
    arrs = [np.asarray(a, np.float32) for a in bands]
    for name, a in zip(BANDS, arrs):
        if a.shape != arrs[0].shape:
            raise ProductError(f"band {name} has shape {a.shape}, blue has {arrs[0].shape}",
                               field=name)
        if a.size:
            with np.errstate(invalid="ignore"):
                hi = np.nanmax(a) if np.isfinite(a).any() else 0.0
            if hi > REFLECTANCE_MAX:
                raise ProductError(f"band {name} holds {hi:g} > {REFLECTANCE_MAX}: the cloud mask needs "
                                   "TOA reflectance factors, not DN or radiance", field=name)
    return arrs
