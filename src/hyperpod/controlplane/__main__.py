"""``python -m hyperpod.controlplane serve ...``."""

import sys

from hyperpod.controlplane.main import main

sys.exit(main())
