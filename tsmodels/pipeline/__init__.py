"""Survey-scale runs: a task over a parquet dataset, streamed in chunks, resumable, on every
local device or on a Dask cluster.

>>> import tsmodels as ts
>>> summary = ts.pipeline.run(ts.pipeline.Fit(ts.models.DRW()), "lightcurves.parquet", "fits/")
>>> rows = ts.pipeline.read_results("fits/")

* :mod:`~tsmodels.pipeline.source`: :class:`ParquetSource` plans the input in one streaming
  pass (sorted ids, bands, fingerprint) and reads one chunk of objects at a time;
* :mod:`~tsmodels.pipeline.tasks`: :class:`Fit`, :class:`Sample`, :class:`Periodogram`: what a
  chunk becomes (one row per object); any model runs through Fit and Sample;
* :mod:`~tsmodels.pipeline.sink`: one parquet file per chunk, written atomically, and a
  manifest; :func:`read_results`;
* :mod:`~tsmodels.pipeline.runner`: :func:`run`.
"""

from tsmodels.pipeline.runner import PipelineError, RunSummary, run
from tsmodels.pipeline.sink import read_manifest, read_results
from tsmodels.pipeline.source import ParquetSource, PerformanceWarning
from tsmodels.pipeline.tasks import Fit, Periodogram, Sample, Task, model_from_string

__all__ = ["run", "RunSummary", "PipelineError", "ParquetSource", "PerformanceWarning", "Task",
           "Fit", "Sample", "Periodogram", "model_from_string", "read_results", "read_manifest"]
