"""The public name plugins import (``toolkit.errors``); the code is :mod:`toolkit.core.errors`.

Kept so that plugins written for toolkit 0.2.0 (and the example plugin in ``plugins/``) import
the same names as before the shared core; nothing else is defined here.
"""

from toolkit.core.errors import *  # noqa: F401,F403
