"""Entry point for `python -I -m inspector` (see API.md "Launch")."""

import sys

from inspector.server import main

if __name__ == "__main__":
    sys.exit(main())
