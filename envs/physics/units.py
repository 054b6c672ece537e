"""Unit conversions and physical constants.

All simulators work in SI units internally (W, Hz, m, s). Quantities in
logarithmic units carry a ``_db`` / ``_dbm`` suffix in their names.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: Speed of light in vacuum [m/s] (exact, SI definition).
SPEED_OF_LIGHT_MPS = 299_792_458.0

#: Thermal noise density kT0 at T0 = 290 K [dBm/Hz]. The exact value is
#: -173.975 dBm/Hz; -174 is the customary rounding (physics_reference.md (v)).
THERMAL_NOISE_DENSITY_DBM_HZ = -174.0


def db_to_linear(x_db: ArrayLike) -> np.ndarray:
    """Power ratio [dB] -> linear ratio."""
    return np.power(10.0, np.asarray(x_db, dtype=float) / 10.0)


def linear_to_db(x: ArrayLike) -> np.ndarray:
    """Linear power ratio -> [dB]. Zero maps to -inf."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(x, dtype=float))


def dbm_to_watt(p_dbm: ArrayLike) -> np.ndarray:
    """Power [dBm] -> [W]."""
    return np.power(10.0, (np.asarray(p_dbm, dtype=float) - 30.0) / 10.0)


def watt_to_dbm(p_w: ArrayLike) -> np.ndarray:
    """Power [W] -> [dBm]."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(p_w, dtype=float)) + 30.0


def kmh_to_mps(v_kmh: ArrayLike) -> np.ndarray:
    """Speed [km/h] -> [m/s]."""
    return np.asarray(v_kmh, dtype=float) / 3.6


def wavelength_m(fc_hz: float) -> float:
    """Carrier wavelength [m] for a carrier frequency [Hz]."""
    return SPEED_OF_LIGHT_MPS / fc_hz


def thermal_noise_power_w(bandwidth_hz: float, noise_figure_db: float,
                          density_dbm_hz: float = THERMAL_NOISE_DENSITY_DBM_HZ) -> float:
    """Receiver noise power [W]: N[dBm] = -174 + 10 log10(B[Hz]) + NF[dB].

    Source: physics_reference.md (v); e.g. 20 MHz, NF 9 dB -> -91.99 dBm =
    6.325e-13 W. Pass ``density_dbm_hz=-173.975`` for the exact kT0 (Ngo 2017's
    author code uses -203.975 dBW/Hz).
    """
    if bandwidth_hz <= 0:
        raise ValueError(f"bandwidth_hz must be > 0, got {bandwidth_hz}")
    n_dbm = density_dbm_hz + 10.0 * np.log10(bandwidth_hz) + noise_figure_db
    return float(dbm_to_watt(n_dbm))
