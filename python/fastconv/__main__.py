# `python -m fastconv ...` runs the same command line as the `fastconv` console script.
from .cli import main

raise SystemExit(main())
