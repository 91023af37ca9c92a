"""agp_tf on several processes and machines: the one place that knows tf.distribute.

- `cluster`: `TF_CONFIG` and cluster specs (pure functions), the chief rule.
- `processes`: `LocalProcesses`, a cluster's tasks as local processes that
  always end (tests and `scripts/launch_local_cluster.py`).
- `server`: a plain TensorFlow server for workers and parameter servers.
- `multi_worker`: synchronous `model.fit` under `MultiWorkerMirroredStrategy`
  (with `keras_compat`, the fixes stock Keras 3.15 `fit` needs there).
- `parameter_server`: `ParameterServerTrainer`, the asynchronous training
  loop on `ParameterServerStrategy` that drives the same growth and pruning.

`MirroredStrategy` on one machine needs nothing from here: `model.fit` with
`GrowPruneCallback` under its scope works as it is.
"""

from agp_tf.distribute import cluster, processes
from agp_tf.distribute.cluster import Task, is_chief, local_cluster
from agp_tf.distribute.processes import LocalProcesses

__all__ = ["LocalProcesses", "Task", "cluster", "is_chief", "local_cluster", "processes"]
