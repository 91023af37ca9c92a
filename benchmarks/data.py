"""The benchmark's data: one synthetic stream, cut into whole batches held in memory."""

import tensorflow as tf

from agp_tf.data.batches import without_autotune
from agp_tf.data.features import DENSE_KEY, SPARSE_KEY
from agp_tf.data.synthetic import SyntheticCriteo


def synthetic_stream(settings):
    """Two days of synthetic rows, enough for every pool and the held-out rows."""
    rows = max(settings.pool_rows, settings.e2e_pool_rows if settings.e2e_samples else 1)
    held_out = settings.test_rows + settings.importance_batches * settings.e2e_batch_size
    return SyntheticCriteo(
        seed=settings.seed,
        num_days=2,
        rows_per_day=max(rows, held_out),
        max_vocab_size=settings.max_vocab_size or None,
    )


def batched_dataset(batch, batch_size, repeat=True, skip=0):
    """Whole batches cut from in-memory rows; the pipeline does no per-row work.

    With `repeat`, the batches cycle forever, starting at batch `skip`.
    """
    count = batch.num_rows // batch_size
    rows = count * batch_size

    def cut(array):  # (rows, ...) -> (count, batch_size, ...)
        return array[:rows].reshape((count, batch_size) + array.shape[1:])

    dataset = tf.data.Dataset.from_tensor_slices(
        ({DENSE_KEY: cut(batch.dense), SPARSE_KEY: cut(batch.sparse)}, cut(batch.labels))
    )
    if repeat:
        dataset = dataset.repeat().skip(skip)
    # Every fit call (a chunk of an end-to-end run) ends an iterator: an
    # autotuned one can take 0.5 s to end (`without_autotune`).
    return without_autotune(dataset.prefetch(2))
