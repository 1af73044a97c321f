"""Result containers: :class:`FitResult` (``ts.fit``) and :class:`Posterior` (``ts.sample``).

Both hold host NumPy arrays with one entry per object, in the order of the input batch, and
convert to one-row-per-object tables (pandas, pyarrow).

Status codes (``status`` column), one per object; inside jit the engines never raise, they set
these instead:

====  ===============  ==================================================================
code  name             meaning
====  ===============  ==================================================================
0     ``OK``           converged; errors available (for a parameter at an end of its
                       interval, from the curvature in that parameter: the bound ignored)
1     ``MAX_STEPS``    the optimizer stopped at ``max_steps`` before meeting ``tol``
2     ``NO_DATA``      no real observation (all points masked); every value is NaN
3     ``NONFINITE``    the likelihood is NaN/inf at every start (or at the optimum)
4     ``BAD_HESSIAN``  converged, but the Hessian is not positive definite: errors are NaN
5     ``DIVERGED``     the optimizer ran into non-finite parameters or objective values
6     ``MISSING_META`` a per-object column the model needs (``Model.meta_columns``, e.g. the
                       redshift) is NaN for this object: nothing is fitted, every value NaN
7     ``FAILED``       (:mod:`tsmodels.pipeline`) the computation of the object's chunk raised,
                       twice; the row's ``error`` column holds the exception
====  ===============  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FitResult", "Posterior", "STATUS", "OK", "MAX_STEPS", "NO_DATA", "NONFINITE",
           "BAD_HESSIAN", "DIVERGED", "MISSING_META", "FAILED"]

OK, MAX_STEPS, NO_DATA, NONFINITE, BAD_HESSIAN, DIVERGED, MISSING_META, FAILED = range(8)
#: code -> name
STATUS = {OK: "OK", MAX_STEPS: "MAX_STEPS", NO_DATA: "NO_DATA", NONFINITE: "NONFINITE",
          BAD_HESSIAN: "BAD_HESSIAN", DIVERGED: "DIVERGED", MISSING_META: "MISSING_META",
          FAILED: "FAILED"}

#: Posterior quantiles reported by :meth:`Posterior.summary` (probability, column suffix).
QUANTILES = ((0.025, "q025"), (0.16, "q16"), (0.5, "q50"), (0.84, "q84"), (0.975, "q975"))


def _to_arrow(df: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


@dataclass
class FitResult:
    """Maximum-likelihood fits of one model to a batch: one entry per object.

    Attributes:
        model_name: the model's label (``model.name``).
        ids: ``[B]`` object ids.
        param_names: nonlinear parameter names.
        derived_names: names of derived quantities (per-band linear parameters etc.).
        values: ``{name: [B]}`` best-fit values of parameters and derived quantities.
        errors: ``{name: [B]}`` 1-sigma Laplace errors (Hessian of ``-loglike`` at the optimum,
            mapped through the bijection; derived quantities by the delta method).
        cov: ``[B, P, P]`` covariance of the nonlinear parameters (physical units).
        loglike: ``[B]`` maximum log-likelihood (linear parameters profiled).
        chi2: ``[B]`` chi-square at the optimum.
        ndata: ``[B]`` number of real observations.
        n_params: ``[B]`` free parameters counted by AIC/BIC: nonlinear ones plus the linear
            coefficients the data determine.
        converged: ``[B]`` the optimizer met its tolerance.
        n_iter: ``[B]`` optimizer iterations of the retained start.
        status: ``[B]`` status code (module docstring).
        method: ``"lm"``, ``"newton"``, ``"lbfgs"`` or ``"linear"`` (no nonlinear parameter).
        dtype: precision of the computation.
        info: extra run information (``n_loops``: optimizer loop trips per chunk; ``n_starts``,
            ``n_candidates``, ``n_chunks``).
        n_screened: ``[B]`` candidate starts not optimised (candidate screening kept the most
            likely ``n_starts`` of the model's ``n_candidates``).
        n_pruned: ``[B]`` optimised starts stopped early by multi-start pruning (they could not
            catch the object's best start at their rate of decrease).
        n_used: ``[B]`` observations the likelihood used at the optimum: ``ndata`` less the
            points a model's cuts exclude there (SALT's phase and rest-frame wavelength windows
            and model coverage; :meth:`~tsmodels.models.base.Model.used_points`). BIC counts
            these.
    """

    model_name: str
    ids: np.ndarray
    param_names: tuple
    derived_names: tuple
    values: dict
    errors: dict
    cov: np.ndarray
    loglike: np.ndarray
    chi2: np.ndarray
    ndata: np.ndarray
    n_params: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    status: np.ndarray
    method: str = ""
    dtype: str = "float64"
    info: dict = field(default_factory=dict)
    n_screened: np.ndarray | None = None
    n_pruned: np.ndarray | None = None
    n_used: np.ndarray | None = None

    def __post_init__(self):
        for name in ("n_screened", "n_pruned"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(len(self.ids), np.int64))
        if self.n_used is None:
            self.n_used = np.asarray(self.ndata).copy()

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        counts = ", ".join(f"{STATUS[c]}={int((self.status == c).sum())}" for c in np.unique(self.status))
        return (f"FitResult({self.model_name}, {len(self)} objects, method={self.method}, "
                f"dtype={self.dtype}, {counts})")

    @property
    def names(self) -> tuple:
        return tuple(self.param_names) + tuple(self.derived_names)

    @property
    def aic(self) -> np.ndarray:
        """``2 k - 2 loglike`` per object (NaN where the fit failed)."""
        return 2.0 * self.n_params - 2.0 * self.loglike

    @property
    def bic(self) -> np.ndarray:
        """``k ln(n_used) - 2 loglike`` per object (``n_used``: the observations the likelihood
        used, ``ndata`` unless the model cuts some)."""
        with np.errstate(divide="ignore"):
            return self.n_params * np.log(self.n_used) - 2.0 * self.loglike

    def to_pandas(self) -> pd.DataFrame:
        """One row per object: ``id``, each name and ``<name>_err``, ``loglike``, ``chi2``,
        ``ndata``, ``n_used``, ``n_params``, ``aic``, ``bic``, ``converged``, ``n_iter``,
        ``n_screened``, ``n_pruned``, ``status``."""
        cols: dict[str, Any] = {"id": self.ids}
        for n in self.names:
            cols[n] = self.values[n]
            cols[f"{n}_err"] = self.errors[n]
        cols.update(loglike=self.loglike, chi2=self.chi2, ndata=self.ndata, n_used=self.n_used,
                    n_params=self.n_params,
                    aic=self.aic, bic=self.bic, converged=self.converged, n_iter=self.n_iter,
                    n_screened=self.n_screened, n_pruned=self.n_pruned, status=self.status)
        return pd.DataFrame(cols)

    def to_arrow(self):
        """The :meth:`to_pandas` table as a ``pyarrow.Table``."""
        return _to_arrow(self.to_pandas())


@dataclass
class Posterior:
    """NUTS posterior summaries of one model over a batch: one entry per object.

    Attributes:
        model_name, ids, param_names, derived_names: as in :class:`FitResult`.
        stats: ``{name: {stat: [B]}}`` with stats ``mean``, ``sd``, the quantiles of
            ``QUANTILES`` (``q025`` ... ``q975``), ``rhat`` (rank-normalized split R-hat),
            ``ess_bulk``, ``ess_tail``.
        n_divergent: ``[B]`` divergent transitions after warm-up, all chains.
        n_steps: ``[B]`` leapfrog steps (gradient evaluations), warm-up included, all chains.
        step_size: ``[B, C]`` adapted step size per chain (in the whitened space).
        rhat_max, ess_bulk_min, ess_tail_min: ``[B]`` worst values over all quantities.
        flagged: ``[B]`` ``rhat_max > 1.01`` or ``min(ess_bulk, ess_tail) < 100`` or status != 0.
        status: ``[B]`` status of the maximum-likelihood fit the chains start from.
        loglike, chi2, ndata, n_params: at the maximum-likelihood point.
        n_used: ``[B]`` observations the likelihood used at the maximum-likelihood point
            (``ndata`` less the points a model's cuts exclude there, as in
            :attr:`FitResult.n_used`).
        samples: ``{name: [B, C, S]}`` draws (only with ``keep_samples=True``), and
            ``diverging`` ``[B, C, S]``.
        num_chains, num_samples, num_warmup: run settings.
    """

    model_name: str
    ids: np.ndarray
    param_names: tuple
    derived_names: tuple
    stats: dict
    n_divergent: np.ndarray
    n_steps: np.ndarray
    step_size: np.ndarray
    rhat_max: np.ndarray
    ess_bulk_min: np.ndarray
    ess_tail_min: np.ndarray
    flagged: np.ndarray
    status: np.ndarray
    loglike: np.ndarray
    chi2: np.ndarray
    ndata: np.ndarray
    n_params: np.ndarray
    num_chains: int
    num_samples: int
    num_warmup: int
    samples: dict | None = None
    diverging: np.ndarray | None = None
    dtype: str = "float64"
    n_used: np.ndarray | None = None

    RHAT_MAX = 1.01
    ESS_MIN = 100.0

    def __post_init__(self):
        if self.n_used is None:
            self.n_used = np.asarray(self.ndata).copy()

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (f"Posterior({self.model_name}, {len(self)} objects, {self.num_chains} chains x "
                f"{self.num_samples} draws, flagged={int(self.flagged.sum())})")

    @property
    def names(self) -> tuple:
        return tuple(self.param_names) + tuple(self.derived_names)

    @property
    def converged(self) -> np.ndarray:
        """Not flagged: R-hat and ESS acceptable and the starting fit OK."""
        return ~self.flagged

    def summary(self) -> pd.DataFrame:
        """One row per object: ``id``; per quantity ``<name>_mean``, ``_sd``, ``_q025`` ...
        ``_q975``, ``_rhat``, ``_ess_bulk``, ``_ess_tail``; then ``loglike``, ``chi2`` (at the
        maximum-likelihood point), ``ndata``, ``n_used``, ``n_params``, ``n_divergent``, ``rhat_max``,
        ``ess_bulk_min``, ``ess_tail_min``, ``flagged``, ``converged``, ``n_iter`` (leapfrog
        steps), ``status``."""
        cols: dict[str, Any] = {"id": self.ids}
        for n in self.names:
            for stat, arr in self.stats[n].items():
                cols[f"{n}_{stat}"] = arr
        cols.update(loglike=self.loglike, chi2=self.chi2, ndata=self.ndata, n_used=self.n_used,
                    n_params=self.n_params, n_divergent=self.n_divergent, rhat_max=self.rhat_max,
                    ess_bulk_min=self.ess_bulk_min, ess_tail_min=self.ess_tail_min,
                    flagged=self.flagged, converged=self.converged, n_iter=self.n_steps,
                    status=self.status)
        return pd.DataFrame(cols)

    to_pandas = summary

    def to_arrow(self):
        """The :meth:`summary` table as a ``pyarrow.Table``."""
        return _to_arrow(self.summary())

    def to_arviz(self):
        """``arviz.InferenceData`` with dims ``(chain, draw, object)`` (needs ``keep_samples``).

        ``arviz`` is an optional dependency, imported here.
        """
        if self.samples is None:
            raise ValueError("Posterior.to_arviz needs the draws: call ts.sample(..., keep_samples=True)")
        try:
            import arviz as az
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("Posterior.to_arviz requires arviz (pip install arviz)") from err
        post = {n: np.moveaxis(self.samples[n], 0, -1) for n in self.names}
        stats = {"diverging": np.moveaxis(self.diverging, 0, -1)}
        dims = {n: ["object"] for n in self.names}
        dims["diverging"] = ["object"]
        return az.from_dict(posterior=post, sample_stats=stats, coords={"object": self.ids}, dims=dims)
