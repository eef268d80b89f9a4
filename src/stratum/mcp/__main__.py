"""`python -m stratum.mcp [--dir DIR]`: serve over stdio."""

from __future__ import annotations

import sys

from stratum.mcp import main

if __name__ == "__main__":
    sys.exit(main())
