"""``python -m minicnn ...`` runs the same command line as the ``minicnn`` script."""

import sys

from minicnn.cli import main

sys.exit(main())
