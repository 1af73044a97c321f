"""Where the pipeline's rows go: a directory of parquet files, one per chunk, and a manifest.

Layout of a sink directory::

    _manifest.json          input fingerprint, task, source, chunk list, package versions
    part-000000.parquet     rows of chunk 0 (one per object, sorted by id)
    part-000001.parquet     ...

Every file is written under a temporary name in the same directory, flushed to disk and then
renamed (``os.replace``, atomic on POSIX file systems), so a file with a final name is always
complete: a run killed at any moment leaves finished chunks and, at most, temporary files,
which the next run removes. Finished chunks are exactly the final names present.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["MANIFEST", "write_atomic", "write_json_atomic", "read_manifest", "read_results",
           "clean_temporary"]

MANIFEST = "_manifest.json"
_TMP_SUFFIX = ".tmp"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{_TMP_SUFFIX}")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic(path: Path):
    """Yields a temporary path next to ``path``; on success the file there is flushed to disk
    and renamed to ``path``; on failure it is removed."""
    tmp = _tmp_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def write_atomic(table: pa.Table, path) -> None:
    """Write ``table`` to parquet ``path`` atomically (temporary file, fsync, rename)."""
    with _atomic(Path(path)) as tmp:
        pq.write_table(table, tmp)


def write_json_atomic(obj, path) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    with _atomic(Path(path)) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))


def clean_temporary(sink) -> int:
    """Remove temporary files a killed run left in ``sink``; returns how many."""
    n = 0
    for p in Path(sink).glob(f".*{_TMP_SUFFIX}"):
        try:
            p.unlink()
            n += 1
        except FileNotFoundError:  # another process finished it
            pass
    return n


def read_manifest(sink) -> dict | None:
    """The sink's manifest, or None if it has none."""
    path = Path(sink) / MANIFEST
    if not path.exists():
        return None
    try:
        with open(path) as fh:
            return json.load(fh)
    except ValueError as err:
        raise ValueError(f"{path}: unreadable manifest ({err})") from None


def read_results(sink, columns=None) -> pd.DataFrame:
    """All rows written to ``sink`` by :func:`tsmodels.pipeline.run`, one per object, sorted
    by id.

    Args:
        sink: the sink directory.
        columns: columns to read (default all). Chunks written as failed rows hold only the
            id, ``status`` and ``error``; their other columns read as missing values.

    Warns:
        UserWarning: when some chunks of the manifest are not finished (a run still going, or
            killed: run it again with ``resume=True``).
    """
    sink = Path(sink)
    manifest = read_manifest(sink)
    if manifest is None:
        raise FileNotFoundError(f"{sink}: no {MANIFEST}; not a tsmodels pipeline output")
    files = [sink / c["file"] for c in manifest["chunks"]]
    present = [f for f in files if f.exists()]
    if len(present) < len(files):
        warnings.warn(f"{sink}: {len(files) - len(present)} of {len(files)} chunks are not finished; "
                      "resume the run to complete them", UserWarning, stacklevel=2)
    id_name = manifest["id_column"]
    if not present:
        return pd.DataFrame({id_name: []})
    tables = []
    for f in present:
        t = pq.read_table(f)
        if columns is not None:
            t = t.select([c for c in columns if c in t.column_names])
        tables.append(t)
    table = pa.concat_tables(tables, promote_options="permissive")
    df = table.to_pandas()
    if id_name in df.columns:
        df = df.sort_values(id_name, kind="stable").reset_index(drop=True)
    return df
