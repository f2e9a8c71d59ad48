"""A bundle's robustness profile: what its recipe scored under degraded recording conditions, and which of
those conditions an input is nearest to.

The profile is taken from a run made with ``--robustness`` (``train --from-run RUN``): the run's
``robustness/table.csv`` rows of the bundle's model and features (UAR pooled over the test folds of the ranking
protocol, its speaker-bootstrap interval, the clean UAR of the same clips, the change and the paired test) and
each condition's parameters from ``run.json``. Every degraded copy in the run was predicted by the clean fit of
its fold, so the profile describes the clean model the bundle holds.

:func:`nearest` matches an input's estimates (:mod:`benchmark.apps.recording`) with the measured conditions:

- narrowband (estimated bandwidth under 80 % of the narrowest training clips'): ``telephone``;
- noisier than the training clips (estimated SNR under their 5th percentile): the noise condition whose SNR is
  nearest to the estimate; of several noise kinds at that SNR, the one with the lowest UAR (the estimate cannot
  tell white from babble);
- quieter or louder than training by more than 10 dB: the ``level`` condition whose gain is nearest to the
  input's level minus training's median level.

When several apply, the one with the lowest UAR is reported; when none applies, the clean UAR. Reverberation,
codecs and clipping are not estimated from the input.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

NOISE_KINDS = ("white", "pink", "babble")
LEVEL_MARGIN_DB = 10.0
NARROW_FACTOR = 0.8
MAX_CONDITIONS = 500  # a run has tens; more is not a profile train wrote
ROBUST_TABLE = Path("robustness") / "table.csv"


class ProfileError(ValueError):
    """A run's robustness results that cannot be made into a profile; the message says why."""


def profile_from_run(run_dir: str | Path, model: str, features: str) -> dict | None:
    """The robustness profile of ``model`` on ``features`` in a finished run; ``None`` without ``--robustness``.

    Raises
    ------
    ProfileError
        When the run has robustness results but none for this model and features, or they are unreadable.
    """
    run_dir = Path(run_dir)
    table_file = run_dir / ROBUST_TABLE
    if not table_file.is_file():
        return None
    try:
        table = pd.read_csv(table_file, keep_default_na=False)
        run = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise ProfileError(f"{table_file}: unreadable ({error})") from None
    rows = table[(table["model"].astype(str) == model) & (table["features"].astype(str) == features)]
    if rows.empty:
        have = sorted({f"{r.model} on {r.features}" for r in table.itertuples()})
        raise ProfileError(f"{table_file}: no robustness results for {model} on {features}; it has: "
                           f"{', '.join(have) or 'none'}")
    params = ((run.get("robustness") or {}).get("conditions")) or {}
    conditions = []
    for r in rows.to_dict("records"):
        name = str(r["condition"])
        conditions.append({"name": name, "kind": str(r.get("kind", "")), "params": params.get(name, {}),
                           "snr_db": _number(r.get("snr_db")), "uar": _number(r["uar"]),
                           "ci_low": _number(r.get("ci_low")), "ci_high": _number(r.get("ci_high")),
                           "delta": _number(r.get("delta")), "p_value": _number(r.get("p_value")),
                           "verdict": str(r.get("verdict", "")), "n_utterances": int(r.get("n_utterances") or 0)})
    clean = [_number(v) for v in rows["clean_uar"]]
    clean = [v for v in clean if v is not None]
    return {"source": f"run:{run_dir}", "model": model, "features": features,
            "protocol": str(rows["protocol"].iloc[0]), "clean_uar": clean[0] if clean else None,
            "conditions": conditions}


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _range(summary: dict | None, low: int = 0) -> tuple[float, float] | None:
    if not summary:
        return None
    q = summary["percentiles"]
    return float(q[low]), float(q[-1])


def nearest(profile: dict, stats: dict, training: dict | None) -> dict | None:
    """The measured condition nearest to an input (see the module's docstring), or ``None`` when unknown.

    Parameters
    ----------
    profile : the bundle's robustness profile.
    stats : the input's estimates (``level_dbfs``, ``snr_db``, ``bandwidth_hz``, ``silent``).
    training : the training clips' distribution (:func:`benchmark.apps.recording.distribution`), or None.

    Returns
    -------
    dict or None
        ``name``, ``uar``, ``ci_low``, ``ci_high`` of the condition (``name`` is ``clean`` for the clean UAR).
    """
    if stats.get("silent"):
        return None
    if stats.get("seconds", math.inf) < 0.25:  # too short for its SNR and bandwidth to be estimates
        return None
    by_kind: dict[str, list[dict]] = {}
    for c in profile.get("conditions", []):
        if c.get("uar") is not None:
            by_kind.setdefault(c["kind"], []).append(c)
    matches = []
    band = _range((training or {}).get("bandwidth_hz"))
    if band and stats["bandwidth_hz"] < NARROW_FACTOR * band[0]:
        matches += by_kind.get("telephone", [])
    snr = _range((training or {}).get("snr_db"), low=1)  # the 5th percentile: noisier than most training clips
    noise = [c for k in NOISE_KINDS for c in by_kind.get(k, []) if c.get("snr_db") is not None]
    if snr and noise and stats["snr_db"] < snr[0]:
        closest = min(abs(c["snr_db"] - stats["snr_db"]) for c in noise)
        matches += [min((c for c in noise if abs(c["snr_db"] - stats["snr_db"]) == closest),
                        key=lambda c: c["uar"])]
    level = (training or {}).get("level_dbfs")
    gains = [c for c in by_kind.get("level", []) if isinstance(c.get("params", {}).get("gain_db"), int | float)]
    if level and gains:
        lo, hi = _range(level)
        if not lo - LEVEL_MARGIN_DB <= stats["level_dbfs"] <= hi + LEVEL_MARGIN_DB:
            gain = stats["level_dbfs"] - level["percentiles"][2]
            matches.append(min(gains, key=lambda c: abs(c["params"]["gain_db"] - gain)))
    if matches:
        worst = min(matches, key=lambda c: c["uar"])
        return {"name": worst["name"], "uar": worst["uar"], "ci_low": worst.get("ci_low"),
                "ci_high": worst.get("ci_high")}
    if profile.get("clean_uar") is None:
        return None
    return {"name": "clean", "uar": profile["clean_uar"], "ci_low": None, "ci_high": None}


def describe(profile: dict) -> str:
    """One line: where the profile comes from and its range of UARs."""
    uars = [c["uar"] for c in profile.get("conditions", []) if c.get("uar") is not None]
    text = f"robustness profile: {len(uars)} condition(s) measured ({profile.get('source', '?')})"
    if uars:
        text += f", UAR {100 * min(uars):.0f}-{100 * max(uars):.0f} %"
    if profile.get("clean_uar") is not None:
        text += f" against {100 * profile['clean_uar']:.0f} % clean"
    return text


def to_bytes(profile: dict) -> bytes:
    return json.dumps(profile, indent=1, sort_keys=True, allow_nan=False).encode()


def from_bytes(data: bytes) -> dict:
    """A profile read back; anything but the expected shape is a ValueError."""
    profile = json.loads(data)
    if not isinstance(profile, dict) or not isinstance(profile.get("conditions"), list):
        raise ValueError("not a robustness profile")
    if len(profile["conditions"]) > MAX_CONDITIONS:
        raise ValueError(f"{len(profile['conditions'])} conditions, more than {MAX_CONDITIONS}")
    for c in profile["conditions"]:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not isinstance(c.get("kind"), str):
            raise ValueError("a condition without name or kind")
        for key in ("uar", "snr_db", "ci_low", "ci_high"):
            if c.get(key) is not None and not isinstance(c[key], int | float):
                raise ValueError(f"condition {c['name']}: {key} is not a number")
        if not isinstance(c.get("params", {}), dict):
            raise ValueError(f"condition {c['name']}: params is not an object")
    if profile.get("clean_uar") is not None and not isinstance(profile["clean_uar"], int | float):
        raise ValueError("clean_uar is not a number")
    return profile
