"""Tests for agp_tf.data.synthetic.config: defaults and validation."""

import re

import pytest

from agp_tf.data import features
from agp_tf.data.synthetic import SyntheticCriteo, SyntheticCriteoConfig


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rows_per_day=0), "Received: rows_per_day=0"),
        (dict(seed=-1), "Received: seed=-1"),
        (dict(click_rate=1.5), "Received: click_rate=1.5"),
        (dict(max_vocab_size=1), "Received: max_vocab_size=1"),
        (dict(vocab_sizes=(10,) * 3), "Received: vocab_sizes=(10, 10, 10)"),
        (dict(dense_missing_rates=(0.1,) * 12), "dense_missing_rates"),
        (dict(new_id_fraction_per_day=0.5), "Received: new_id_fraction_per_day=0.5"),
        (dict(popularity_drift=-1.0), "Received: popularity_drift=-1.0"),
    ],
)
def test_config_validation_names_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SyntheticCriteoConfig(**kwargs)


def test_config_caps_vocabulary_and_broadcasts_rates():
    config = SyntheticCriteoConfig(max_vocab_size=1000, dense_missing_rates=0.1)
    assert config.effective_vocab_sizes == tuple(
        min(v, 1000) for v in features.CRITEO_KAGGLE_VOCAB_SIZES
    )
    assert config.dense_missing_rates == (0.1,) * 13
    assert SyntheticCriteoConfig(max_vocab_size=None).effective_vocab_sizes == (
        features.CRITEO_KAGGLE_VOCAB_SIZES
    )
    stream = SyntheticCriteo(config, seed=4)
    assert stream.config.seed == 4 and stream.config.max_vocab_size == 1000
    with pytest.raises(TypeError, match="Received: config="):
        SyntheticCriteo(config={"seed": 1})
