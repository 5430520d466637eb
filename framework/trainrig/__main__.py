"""``python -m trainrig`` is the ``trainrig`` command."""

import sys

from trainrig.cli.main import main

sys.exit(main())
