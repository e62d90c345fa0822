"""``python -m resilience`` is the ``resilience`` command."""

import sys

from resilience.cli import main

sys.exit(main())
