"""``python -m tsmodels ...``: the same command line as the ``tsmodels`` script."""

import sys

from tsmodels.cli import main

sys.exit(main())
