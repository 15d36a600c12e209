"""`python -m reference_impl ...` (see reference_impl/cli.py)."""

import sys

from .cli import main

sys.exit(main())
