"""Training beyond one process, on Ray: data-parallel fits (Ray Train), folds and searches (Ray Tune).

* :mod:`toolkit.training.distributed.ray_train`: ``toolkit train --engine ray --workers N``.
* :mod:`toolkit.training.distributed.tune`: ``toolkit train --cv K --engine ray`` and ``toolkit search``.

Both use :mod:`toolkit.core.ray_cluster` (importing Ray, :class:`RaySession`), as
``toolkit score --engine ray`` does. Ray is imported inside functions only.
"""

from __future__ import annotations

from toolkit.core.ray_cluster import CONNECT_TIMEOUT_S, RAY_EXTRA, RaySession, failure_summary, import_ray

__all__ = ["CONNECT_TIMEOUT_S", "RAY_EXTRA", "RaySession", "failure_summary", "import_ray"]
