"""A seeded, drifting, Criteo-like click stream.

`SyntheticCriteo` generates click logs shaped like Criteo Kaggle `train.txt`:
13 heavy-tailed integer counts (some missing, the occasional negative I2), 26
categorical columns with Zipf-like popularity (some missing), and a click
label drawn from a hidden teacher model whose logit mixes per-id effects,
field-weighted pairwise interactions of per-id latent vectors (FM / DLRM
style), nonlinear functions of those interactions and a small MLP of the
dense features.

The stream is split into "days" that drift the way real click logs do: the
teacher's latent vectors rotate (what an id means for the click changes,
within a day too), id popularity is re-ranked every day, new ids appear, and
the dense count distributions shift a little. The teacher's bias is
calibrated per quarter day so that every part of the stream has the target
click rate. Everything is a pure function of `(config, day, row range)`: the
same seed gives the same data bit for bit, whatever window size or order it
is read in.

Outputs: `SyntheticBatch` (numpy arrays in the layout of
`agp_tf.data.features`, plus the raw counts, hash values and the teacher's
click probability), `SyntheticCriteo.dataset` (a `tf.data.Dataset` of
`(features, labels)`) and `SyntheticBatch.to_tsv` /
`SyntheticCriteo.write_tsv` (raw Criteo Kaggle text that
`agp_tf.data.criteo` reads back to the same rows).

Modules, one concept each:

- `config`: `SyntheticCriteoConfig`, its Criteo-fitted defaults and checks;
- `stream`: `SyntheticCriteo`, days cut into seeded blocks, read as rows,
  windows, a dataset or text; it composes the modules below;
- `batch`: `SyntheticBatch`, the arrays of consecutive rows of a day;
- `sampling`: a block's observable features (dense counts, missing values);
- `popularity`: Zipf ranks and each day's drifting rank -> id mapping;
- `teacher`: the hidden model that labels the rows, its drift and
  calibration;
- `hashing`: the id <-> raw hash bijection of each column;
- `tsv`: the raw Criteo Kaggle text;
- `seeds`: the independent random streams of the seed;
- `cache`: `RowCache`, generated rows kept on disk for later runs.

Example:

```python
from agp_tf.data import synthetic

stream = synthetic.SyntheticCriteo(seed=0, rows_per_day=100_000)
batch = stream.day(0)   # a SyntheticBatch
```
"""

from .batch import MISSING_ID, SyntheticBatch
from .cache import RowCache, stream_key
from .config import (
    DEFAULT_DENSE_MISSING_RATES,
    DEFAULT_SPARSE_MISSING_RATES,
    DEFAULT_ZIPF_EXPONENTS,
    TEACHERS,
    SyntheticCriteoConfig,
)
from .hashing import fmix32, fmix32_inverse, hashes_to_ids, ids_to_hashes
from .popularity import zipf_ranks
from .stream import BLOCK_ROWS, SyntheticCriteo
from .teacher import head_interactions, rotation_matrices, sigmoid
from .tsv import format_tsv

__all__ = [
    "BLOCK_ROWS", "DEFAULT_DENSE_MISSING_RATES", "DEFAULT_SPARSE_MISSING_RATES",
    "DEFAULT_ZIPF_EXPONENTS", "MISSING_ID", "RowCache", "SyntheticBatch", "SyntheticCriteo",
    "SyntheticCriteoConfig", "TEACHERS", "fmix32", "fmix32_inverse", "format_tsv",
    "hashes_to_ids", "head_interactions", "ids_to_hashes",
    "rotation_matrices", "sigmoid", "stream_key", "zipf_ranks",
]
