"""Tests for agp_tf.data.shards.writer: shard files roll over at rows_per_shard."""

import numpy as np

from agp_tf.data import shards


def test_shard_writer_rolls_over(tmp_path):
    rng = np.random.default_rng(13)
    records = shards.to_records(
        rng.random((25, 13), dtype=np.float32),
        rng.integers(0, 9, (25, 26), dtype=np.int32),
        rng.integers(0, 2, 25).astype(np.float32),
    )
    writer = shards.ShardWriter(str(tmp_path), "train", rows_per_shard=10)
    for lo in range(0, 25, 7):
        writer.write(records[lo : lo + 7])
    assert writer.close() == [
        {"file": "train-00000.bin", "rows": 10},
        {"file": "train-00001.bin", "rows": 10},
        {"file": "train-00002.bin", "rows": 5},
    ]
    data = b"".join(
        (tmp_path / f"train-0000{i}.bin").read_bytes() for i in range(3)
    )
    assert data == records.tobytes()
