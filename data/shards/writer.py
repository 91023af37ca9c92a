"""`ShardWriter`: the records of one split, written into numbered shard files.

Files are `{split}-00000.bin`, `{split}-00001.bin`, ... of at most
`rows_per_shard` records each (the layout is in `records`); `close` returns
the list of files and rows that `preprocessing` puts in the metadata.
"""

import os

DEFAULT_ROWS_PER_SHARD = 1 << 20  # 160 MiB files


class ShardWriter:
    """Writes the records of one split into numbered shard files.

    Args:
        output_dir: Directory of the shards.
        split: Split name; files are `{split}-00000.bin`, `{split}-00001.bin`...
        rows_per_shard: A new file is started after this many rows.

    Example:

    ```python
    writer = ShardWriter("/data/criteo", "val", rows_per_shard=1 << 20)
    writer.write(to_records(dense, sparse, labels))
    writer.close()   # [{"file": "val-00000.bin", "rows": ...}]
    ```
    """

    def __init__(self, output_dir, split, rows_per_shard=DEFAULT_ROWS_PER_SHARD):
        if rows_per_shard < 1:
            raise ValueError(
                f"`rows_per_shard` must be >= 1. Received: rows_per_shard={rows_per_shard}"
            )
        self.output_dir = output_dir
        self.split = split
        self.rows_per_shard = int(rows_per_shard)
        self.shards = []
        self._file = None
        self._rows_in_file = 0

    @property
    def rows(self):
        return sum(shard["rows"] for shard in self.shards)

    def write(self, records):
        """Appends `records` (`RECORD_DTYPE` array)."""
        done = 0
        while done < len(records):
            if self._file is None:
                name = f"{self.split}-{len(self.shards):05d}.bin"
                self._file = open(os.path.join(self.output_dir, name), "wb")
                self.shards.append({"file": name, "rows": 0})
                self._rows_in_file = 0
            take = min(len(records) - done, self.rows_per_shard - self._rows_in_file)
            self._file.write(records[done : done + take].tobytes())
            self.shards[-1]["rows"] += take
            self._rows_in_file += take
            done += take
            if self._rows_in_file == self.rows_per_shard:
                self._file.close()
                self._file = None

    def close(self):
        """Closes the open file; returns the list of `{"file", "rows"}`."""
        if self._file is not None:
            self._file.close()
            self._file = None
        return self.shards
