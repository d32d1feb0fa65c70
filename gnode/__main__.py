"""``python -m gnode``: the command line (:func:`gnode.cli.main`), as the ``gnode`` script."""

import sys

from gnode.cli import main

sys.exit(main())
