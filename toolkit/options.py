"""The public name plugins import (``toolkit.options``); the code is :mod:`toolkit.core.options`.

Kept so that plugins written for toolkit 0.2.0 (and the example plugin in ``plugins/``) import
the same names as before the shared core; nothing else is defined here.
"""

from toolkit.core.options import *  # noqa: F401,F403
