"""``python -m resilience.netfault [--host H] [--port P] [--config proxies.json]``."""

from __future__ import annotations

import sys

from resilience.cli import main

if __name__ == "__main__":
    sys.exit(main(["netfault", *sys.argv[1:]]))
