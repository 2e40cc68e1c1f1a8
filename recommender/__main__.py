"""`python -m recommender`: see recommender.cli."""

import sys

from recommender.cli import main

sys.exit(main())
