"""Per-object model comparison by information criteria: ``ts.compare``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsmodels.fitting.results import FitResult

__all__ = ["compare"]


def compare(*results: FitResult, names=None) -> pd.DataFrame:
    """AIC and BIC of several fits of the same objects, and the preferred model per object.

    Args:
        *results: two or more :class:`FitResult` of the same batch (same ids, same order).
        names: labels for the models (default: each result's ``model_name``, made unique).

    Returns:
        One row per object: ``id``; per model ``loglike_<m>``, ``n_params_<m>``, ``aic_<m>``,
        ``bic_<m>``; ``best_aic`` and ``best_bic`` (label of the lowest criterion among models
        with a finite value, None if none) and ``delta_aic``/``delta_bic`` (second lowest minus
        lowest; NaN with fewer than two finite values).

    Raises:
        ValueError: fewer than two results, or results for different objects.
    """
    if len(results) < 2:
        raise ValueError(f"compare needs at least two FitResults, got {len(results)}")
    for i, r in enumerate(results):
        if not isinstance(r, FitResult):
            raise TypeError(f"compare: argument {i} is a {type(r).__name__}, not a FitResult")
    ids = np.asarray(results[0].ids)
    for i, r in enumerate(results[1:], start=1):
        other = np.asarray(r.ids)
        if other.shape != ids.shape or not np.array_equal(other, ids):
            raise ValueError(f"compare: result {i} ({r.model_name}) is not for the same objects, in the same "
                             f"order, as result 0 ({results[0].model_name})")
    if names is None:
        names = [r.model_name for r in results]
        seen: dict[str, int] = {}
        for n in names:
            seen[n] = seen.get(n, 0) + 1
        count: dict[str, int] = {}
        uniq = []
        for n in names:
            if seen[n] > 1:
                count[n] = count.get(n, 0) + 1
                uniq.append(f"{n}_{count[n]}")
            else:
                uniq.append(n)
        names = uniq
    names = [str(n) for n in names]
    if len(names) != len(results) or len(set(names)) != len(names):
        raise ValueError(f"compare: names must be {len(results)} distinct labels, got {names!r}")
    cols = {"id": ids}
    crit = {}
    for n, r in zip(names, results):
        cols[f"loglike_{n}"] = r.loglike
        cols[f"n_params_{n}"] = r.n_params
        crit[("aic", n)] = cols[f"aic_{n}"] = r.aic
        crit[("bic", n)] = cols[f"bic_{n}"] = r.bic
    labels = np.asarray(names, dtype=object)
    for c in ("aic", "bic"):
        v = np.stack([crit[(c, n)] for n in names], axis=1).astype(np.float64)
        v = np.where(np.isfinite(v), v, np.inf)
        order = np.argsort(v, axis=1, kind="stable")
        best = np.take_along_axis(v, order[:, :1], 1)[:, 0]
        second = np.take_along_axis(v, order[:, 1:2], 1)[:, 0]
        cols[f"best_{c}"] = np.where(np.isfinite(best), labels[order[:, 0]], None)
        with np.errstate(invalid="ignore"):
            cols[f"delta_{c}"] = np.where(np.isfinite(second) & np.isfinite(best), second - best, np.nan)
    return pd.DataFrame(cols)
