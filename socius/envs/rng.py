"""Counter-based randomness: every draw is a pure hash of (seed, episode, step, stream).

No generator state is carried between steps, so instance b of a batch and the same scenario run
alone (B = 1) draw identical numbers, in any order and on any worker.
"""

from __future__ import annotations

import numpy as np

# SplitMix64's constants (public: other implementations of the same draws, e.g. the torch
# engine, must use the same bits)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
STREAM_SALT = 0x632BE59BD9B4E019  # stream s of a step key: mix(key ^ s * STREAM_SALT)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)

# The engine reads its per-step events (episode end, re-teaming, rule change) from 21-bit
# slices of one step key; further draws of a step use their own streams, so adding one never
# shifts another.
STREAM_RULE_PICK = 4
STREAM_PERMUTE = 16


def mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a bijective avalanche of 64-bit words (wrapping arithmetic)."""
    z = z + GOLDEN
    z = (z ^ (z >> _S30)) * M1
    z = (z ^ (z >> _S27)) * M2
    return z ^ (z >> _S31)


def episode_key(seed: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """The key of one episode; computed once at reset."""
    return mix(mix(np.asarray(seed, dtype=np.uint64)) ^ np.asarray(episode, dtype=np.uint64))


def step_key(key: np.ndarray, step: np.ndarray, out: np.ndarray | None = None,
             work: np.ndarray | None = None) -> np.ndarray:
    """The key of one step of an episode (= mix(key ^ step * M2)); `out` and `work`, uint64
    arrays shaped like `key`, let the engine's hot path run without temporaries."""
    if out is None or work is None:
        return mix(key ^ (np.asarray(step, dtype=np.uint64) * M2))
    z, tmp = out, work
    np.copyto(z, step, casting="unsafe")
    z *= M2
    z ^= key
    z += GOLDEN
    for shift, mult in ((_S30, M1), (_S27, M2)):
        np.right_shift(z, shift, out=tmp)
        z ^= tmp
        z *= mult
    np.right_shift(z, _S31, out=tmp)
    z ^= tmp
    return z


def uniform(key: np.ndarray, stream: int) -> np.ndarray:
    """Uniform floats in [0, 1) for one stream of a step key (53 random bits)."""
    bits = mix(key ^ np.uint64(stream * STREAM_SALT % 2**64))
    return (bits >> _S11).astype(np.float64) * (1.0 / 2**53)


def words(key: np.ndarray, stream: int) -> np.ndarray:
    """Raw 64-bit words for one stream of a step key."""
    return mix(key ^ np.uint64(stream * STREAM_SALT % 2**64))
