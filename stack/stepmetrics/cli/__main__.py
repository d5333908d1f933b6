"""`python -m stepmetrics.cli <command>`: how `stepmetrics up` runs its children."""

import sys

from stepmetrics.cli import main

sys.exit(main())
