"""Stable, independent random streams derived from one seed.

Why not one ``random.Random(seed)`` for everything: adding a model to the fleet would then shift every
later draw, and two scenarios over the same traffic would see different luck for the same request.
Instead each purpose gets its own stream (``stream_seed``), and each (request, model, attempt) gets its
own draw (``unit``), so the same request sent to the same model on the same attempt has the same
latency, error and correctness draw in every scenario that shares the seed: common random numbers,
which make paired comparisons between designs much sharper. Python's ``hash()`` is salted per process,
so keys come from BLAKE2b and draws from the SplitMix64 finaliser instead.
"""

from __future__ import annotations

import hashlib

from workbench.errors import InputError

__all__ = ["SEED_MAX", "check_seed", "stream_seed", "key64", "request_key", "unit", "unit2"]

_MASK = (1 << 64) - 1
#: The largest seed: a run stores its seed as a signed 64-bit integer (DuckDB ``BIGINT``).
SEED_MAX = 2**63 - 1


def check_seed(seed: int, field: str = "seed") -> int:
    """``seed`` if it is a whole number from 0 to :data:`SEED_MAX`; else one :class:`InputError`."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise InputError(f"must be a whole number from 0 to {SEED_MAX} (2**63 - 1: runs store it as a "
                         f"64-bit integer), got {seed!r}", field=field)
    return seed


def key64(*parts: object) -> int:
    """A stable 64-bit key for any tuple of printable parts."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def request_key(seed: int, request_id: str) -> int:
    """The key of one request under a seed (equal to ``key64(seed, request_id)``, computed faster)."""
    h = hashlib.blake2b(f"{seed}\x1f{request_id}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def stream_seed(seed: int, name: str) -> int:
    """Seed for the named stream under ``seed`` (for ``random.Random``)."""
    return key64(seed, name)


def unit(key: int, salt: int) -> float:
    """A uniform draw in [0, 1) fixed by ``key`` and ``salt`` (SplitMix64 finaliser)."""
    z = (key + (salt + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return (z >> 11) * (1.0 / (1 << 53))


def unit2(key: int, salt: int) -> tuple[float, float]:
    """Two independent uniform draws in (0, 1) with 32-bit resolution from one SplitMix64 output."""
    z = (key + (salt + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return ((z >> 32) + 0.5) * 2.3283064365386963e-10, ((z & 0xFFFFFFFF) + 0.5) * 2.3283064365386963e-10
