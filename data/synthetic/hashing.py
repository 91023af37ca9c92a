"""Categorical id <-> raw hash value: a bijection per column.

A `SyntheticBatch` (`batch`) holds categorical values as contiguous ids; the
raw Criteo text (`tsv`) shows them as 32-bit hash values, as the real logs
do. A column maps an id to its hash by adding the column's salt (drawn by
`stream` from the seed) and mixing the sum with MurmurHash3's 32-bit
finalizer `fmix32`, a bijection of uint32, so a pipeline parsing the text
recovers exactly the ids. The teacher (`teacher`) also uses `fmix32` to pick
the second hashed table row of a large column.
"""

import numpy as np

_UINT32 = np.uint32
_FMIX_C1 = 0x85EBCA6B
_FMIX_C2 = 0xC2B2AE35
_FMIX_C1_INV = pow(_FMIX_C1, -1, 2**32)
_FMIX_C2_INV = pow(_FMIX_C2, -1, 2**32)


def fmix32(x):
    """MurmurHash3's 32-bit finalizer: a bijection of uint32 that mixes bits.

    Args:
        x: Integer array, any shape; taken modulo 2**32.

    Returns:
        uint32 array of the shape of `x`.

    Example:

    ```python
    fmix32(np.array([0, 1, 2]))   # three well-spread 32-bit values
    ```
    """
    h = np.asarray(x).astype(np.uint64).astype(_UINT32)
    h ^= h >> _UINT32(16)
    h *= _UINT32(_FMIX_C1)
    h ^= h >> _UINT32(13)
    h *= _UINT32(_FMIX_C2)
    h ^= h >> _UINT32(16)
    return h


def fmix32_inverse(h):
    """Inverse of `fmix32`: `fmix32_inverse(fmix32(x)) == x % 2**32`.

    Args:
        h: Integer array, any shape; taken modulo 2**32.

    Returns:
        uint32 array of the shape of `h`.

    Example:

    ```python
    x = np.arange(5)
    fmix32_inverse(fmix32(x))   # [0, 1, 2, 3, 4]
    ```
    """
    x = np.asarray(h).astype(np.uint64).astype(_UINT32)
    x ^= x >> _UINT32(16)
    x *= _UINT32(_FMIX_C2_INV)
    x ^= (x >> _UINT32(13)) ^ (x >> _UINT32(26))
    x *= _UINT32(_FMIX_C1_INV)
    x ^= x >> _UINT32(16)
    return x


def ids_to_hashes(ids, salt):
    """Maps categorical ids to 32-bit hash values, bijectively.

    Args:
        ids: Integer array of ids in `[0, 2**32)`, any shape.
        salt: The column's salt, an integer in `[0, 2**32)` (or an array
            broadcastable against the first argument, one salt per column).

    Returns:
        uint32 array of the shape of `ids`.

    Example:

    ```python
    hashes = ids_to_hashes(np.array([1, 2, 3]), salt=12345)
    hashes_to_ids(hashes, salt=12345)   # [1, 2, 3]
    ```
    """
    shifted = np.asarray(ids).astype(np.uint64) + np.asarray(salt, dtype=np.uint64)
    return fmix32(shifted & np.uint64(0xFFFFFFFF))


def hashes_to_ids(hashes, salt):
    """Inverse of `ids_to_hashes` for the same salt.

    Args:
        hashes: Integer array of hash values in `[0, 2**32)`, any shape.
        salt: The column's salt, an integer in `[0, 2**32)` (or an array
            broadcastable against the first argument, one salt per column).

    Returns:
        int64 array of the shape of `hashes`.

    Example:

    ```python
    hashes_to_ids(ids_to_hashes(np.array([7]), salt=1), salt=1)   # [7]
    ```
    """
    x = fmix32_inverse(hashes).astype(np.int64)
    return (x - np.asarray(salt, dtype=np.int64)) % (2**32)
