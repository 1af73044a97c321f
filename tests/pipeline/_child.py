"""Subprocess side of the pipeline tests: a run that can be killed, or a run whose peak RSS is
measured.

    python _child.py run IN OUT CHUNK_SIZE DELAY     fit Constant(), DELAY seconds per chunk
    python _child.py rss IN OUT CHUNK_SIZE           prints the process's peak RSS (KiB) at the end
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time

import tsmodels as ts


@dataclasses.dataclass(frozen=True)
class SlowFit(ts.pipeline.Fit):
    """A fit that takes at least ``delay`` seconds per chunk (its spec is Fit's: a resumed run
    with the plain task continues it)."""

    delay: float = 0.0

    def __call__(self, batch):
        time.sleep(self.delay)
        return super().__call__(batch)


def main(argv):
    mode, src, out, chunk = argv[:4]
    if mode == "run":
        task = SlowFit(ts.models.Constant(), delay=float(argv[4]))
        ts.pipeline.run(task, src, out, chunk_size=int(chunk), progress=False)
    elif mode == "rss":
        s = ts.pipeline.run(ts.pipeline.Fit(ts.models.Constant()), src, out, chunk_size=int(chunk),
                            progress=False)
        assert s.status == {"OK": s.n_objects}, s.status
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
