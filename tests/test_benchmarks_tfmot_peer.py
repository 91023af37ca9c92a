"""benchmarks.tfmot_peer: imports without the peers extra; the mask sparsity it reports."""

import numpy as np
import pytest

from benchmarks import tfmot_peer


def test_mask_sparsity_over_all_masks():
    masks = [np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.0, 1.0, 1.0])]
    assert tfmot_peer.mask_sparsity(masks) == pytest.approx(3 / 8)
    assert tfmot_peer.mask_sparsity([]) is None


def test_peer_versions_say_whether_the_peers_extra_is_there():
    try:
        tfmot_peer.peer_modules()
    except ImportError:
        assert tfmot_peer.peer_versions() is None
    else:
        assert set(tfmot_peer.peer_versions()) == {"tf_keras", "tfmot"}
