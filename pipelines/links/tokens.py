"""URL-5: short-link tokens from the operating system's CSPRNG (`secrets`) over [0-9A-Za-z], drawn a whole batch
at a time, unbiased, and unique across a plan.

Random bytes become characters by rejection sampling: a byte below 248 (4 × 62) taken modulo 62 is uniform over
the alphabet; bytes of 248 and above are dropped. A token is unique when the number its first 10 characters make
(62^10 < 2^64) is: that key is checked within the batch and against every key drawn before in the plan (sorted
runs of geometrically growing size, searched with sorted keys; a run is merged with the one before it once that one
is no more than twice its size, so a 10M-row plan keeps a few runs and merges each key O(log n) times), and a token
that collides is drawn again. With ≥ 8 characters a collision is rare (62^8 ≈
2.2e14); the check makes it impossible, not just unlikely.
"""

from __future__ import annotations

import secrets
import threading

import numpy as np
import pyarrow as pa

ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ALPHABET = np.frombuffer(ALPHABET, dtype=np.uint8)
_LIMIT = 248  # the largest multiple of 62 a byte holds: bytes below it are kept, so "% 62" has no bias
_KEY_CHARACTERS = 10  # 62^10 < 2^64: a token's first 10 characters as one uint64 key


def random_codes(count: int, length: int) -> np.ndarray:
    """`count` × `length` alphabet indices (0…61), uniform and independent, from `secrets.token_bytes`."""
    need = count * length
    found = np.empty(need, dtype=np.uint8)
    filled = 0
    while filled < need:
        missing = need - filled
        raw = np.frombuffer(secrets.token_bytes(missing + missing // 32 + 16), dtype=np.uint8)
        kept = raw[raw < _LIMIT][:missing] % 62
        found[filled:filled + kept.size] = kept
        filled += kept.size
    return found.reshape(count, length)


def token_keys(codes: np.ndarray) -> np.ndarray:
    """Each token's first 10 characters as one uint64 (base 62): equal keys for any two equal tokens."""
    keys = np.zeros(codes.shape[0], dtype=np.uint64)
    for column in range(min(_KEY_CHARACTERS, codes.shape[1])):
        keys = keys * np.uint64(62) + codes[:, column].astype(np.uint64)
    return keys


class TokenPool:
    """Tokens of one plan: every draw is unique against itself and every earlier draw (URL-5)."""

    def __init__(self, length: int):
        if length < 8:
            raise ValueError(f"tokens of {length} characters: at least 8 are needed [URL-5]")
        self.length = length
        self._runs: list[np.ndarray] = []  # sorted keys of earlier draws, largest run first
        self._lock = threading.Lock()  # the plan's worker threads draw for their batches at once
        self.redrawn = 0  # tokens drawn again after a collision (for tests and the curious)

    def draw(self, count: int) -> np.ndarray:
        """`count` new tokens as alphabet indices (count × length), none equal to another of the plan."""
        with self._lock:
            return self._draw(count)

    def _draw(self, count: int) -> np.ndarray:
        codes = random_codes(count, self.length)
        keys = token_keys(codes)
        while True:
            ordered = np.sort(keys)
            clash = np.zeros(count, dtype=bool)
            clash[1:] = ordered[1:] == ordered[:-1]  # a later copy of a key of this draw
            for run in self._runs:  # a key of an earlier draw
                clash |= run[np.minimum(np.searchsorted(run, ordered), run.size - 1)] == ordered
            if not clash.any():
                break
            bad = np.argsort(keys, kind="stable")[clash]  # rare: which rows hold the clashing keys
            self.redrawn += bad.size
            codes[bad] = random_codes(bad.size, self.length)
            keys[bad] = token_keys(codes[bad])
        self._runs.append(ordered)
        while len(self._runs) > 1 and self._runs[-2].size <= 2 * self._runs[-1].size:
            last = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], last]), kind="stable")  # two runs: a merge
        return codes


def text_column(codes: np.ndarray, prefix: bytes = b"") -> pa.Array:
    """Tokens (alphabet indices) as an Arrow string column, each after `prefix` (the short link's `domain/`),
    built from one buffer: no Python string per token."""
    count, length = codes.shape
    width = len(prefix) + length
    data = np.empty((count, width), dtype=np.uint8)
    if prefix:
        data[:, :len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    data[:, len(prefix):] = _ALPHABET[codes]
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))
