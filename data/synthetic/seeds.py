"""The independent random streams of a stream's seed.

Every random draw of the synthetic stream comes from a generator keyed by
`(seed, tag, ...)`: one tag per purpose, so that each part (`stream`'s rows
and hash salts, `popularity`'s per-id scores, `teacher`'s parameters, tables
and calibration sample) is a pure function of the seed and its own key, and
none shifts when another draws more or less.
"""

import numpy as np

# Seed-sequence tags of the independent random streams.
TAG_ROWS, TAG_IDS, TAG_TABLE, TAG_TEACHER, TAG_CALIBRATION, TAG_HASH = range(6)


def rng(*key):
    """The generator of the random stream `key`, e.g. `(seed, TAG_ROWS, day, block)`."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(key)))
