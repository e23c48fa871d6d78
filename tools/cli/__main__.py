"""``python -m tools.cli``: the ``orders`` command, as ``local.launcher`` starts ``orders up``."""

import sys

from tools.cli import entry_point

sys.exit(entry_point())
