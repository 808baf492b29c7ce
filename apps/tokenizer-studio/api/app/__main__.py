"""Entry point for `python -I -m app` (see API.md "Launch")."""

import sys

from app.server import main

if __name__ == "__main__":
    sys.exit(main())
