"""`RowCache`: a stream's generated rows kept on disk and read back.

The stream is a pure function of `(config, day, row range)`, so rows made
once can serve every later run of the same stream: a reproduction trains
dozens of models on the same seeded days, and the rich teacher spends about
as long generating a run's rows as the model spends training on them. Files
live under a key of the config and of the generator's own source code, so a
change to either misses the cache instead of reading stale rows. The bits
are those of the machine that wrote them (see `stream`), so a cache is
local to a machine.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

from .. import features

_SOURCE_FILES = sorted(pathlib.Path(__file__).parent.glob("*.py")) + [
    pathlib.Path(features.__file__)
]
"""The code that generates rows: a change to any of it changes the key."""


def stream_key(config):
    """Hex key of the rows that `SyntheticCriteo(config)` generates.

    Example:

    ```python
    stream_key(SyntheticCriteoConfig(seed=0)) != stream_key(SyntheticCriteoConfig(seed=1))
    ```
    """
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    for path in _SOURCE_FILES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class RowCache:
    """Rows of one `SyntheticCriteo` stream, generated once and then read from disk.

    Args:
        stream: A `SyntheticCriteo`.
        directory: Folder of the cache; each stream gets its own subfolder.

    Example:

    ```python
    cache = RowCache(SyntheticCriteo(seed=0, rows_per_day=100_000), "/tmp/rows")
    x, y = cache.rows(0, 0, 20_000)   # generated and written the first time, read after
    ```
    """

    def __init__(self, stream, directory):
        self.stream = stream
        self.directory = os.path.join(os.fspath(directory), stream_key(stream.config))

    def path(self, day, start, stop):
        """The file that holds rows `[start, stop)` of day `day`."""
        return os.path.join(self.directory, f"day-{day}-rows-{start}-{stop}.npz")

    def rows(self, day, start, stop):
        """`(features, labels)` of rows `[start, stop)` of day `day`, as the stream gives them."""
        path = self.path(day, start, stop)
        if os.path.exists(path):
            return self._read(path, stop - start)
        batch = self.stream.rows(day, start, stop)
        data = (batch.features(), batch.labels)
        self._write(path, data)
        return data

    @staticmethod
    def _read(path, num_rows):
        try:
            with np.load(path) as stored:
                data = (
                    {features.DENSE_KEY: stored["dense"], features.SPARSE_KEY: stored["sparse"]},
                    stored["labels"],
                )
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(
                f"Unreadable cached rows {path} ({error}); delete the file to generate it again"
            ) from None
        if any(len(array) != num_rows for array in (data[1], *data[0].values())):
            raise ValueError(f"Cached rows {path} do not hold {num_rows} rows; delete the file")
        return data

    def _write(self, path, data):
        x, labels = data
        os.makedirs(self.directory, exist_ok=True)
        # Written aside and renamed: a run killed mid-write leaves no partial file.
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, dense=x[features.DENSE_KEY], sparse=x[features.SPARSE_KEY],
                     labels=labels)
        os.replace(temporary, path)
