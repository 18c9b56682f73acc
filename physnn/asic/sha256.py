"""Bitcoin-style proof of work: 80-byte block headers, double SHA-256 (hashlib) and share targets.

A header is ``version | prev_hash | merkle_root | time | bits | nonce`` (4+32+32+4+4+4 bytes,
integers little-endian, hashes in internal byte order). Its proof-of-work hash is
``SHA256(SHA256(header))``; a share is valid when that digest, read as a little-endian 256-bit
integer, is ``<= target``. With pseudo-random digests a nonce hits with probability
``p = (target + 1) / 2**256`` independently of every other nonce, so the number of hashes to the
next share is geometric(p) -- the fact the statistical mode of :mod:`physnn.asic.miner` uses.

Like a mining ASIC, :func:`scan_nonces` hashes the constant first 64 bytes once (the "midstate",
``hashlib`` ``copy()``) and only the last 16 bytes per nonce.

References: Bitcoin developer reference, block headers (https://developer.bitcoin.org/reference/
block_chain.html); the genesis block header (Jan 2009) hashes to
``000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .._checks import check_int_range

__all__ = [
    "BlockHeader",
    "GENESIS_HEADER",
    "sha256d",
    "hash_hex",
    "target_from_probability",
    "share_probability",
    "target_from_bits",
    "DIFF1_TARGET",
    "target_from_difficulty",
    "scan_nonces",
]

DIFF1_TARGET = 0xFFFF * 2**208
"""Target of difficulty 1 (Bitcoin's ``bits = 0x1d00ffff``)."""


@dataclass(frozen=True, kw_only=True)
class BlockHeader:
    """An 80-byte block header; hashes given in the usual display (big-endian hex) order."""

    version: int = 0x20000000
    prev_hash: str = "00" * 32
    merkle_root: str = "00" * 32
    time: int = 0
    bits: int = 0x1D00FFFF
    nonce: int = 0

    def __post_init__(self) -> None:
        for name in ("prev_hash", "merkle_root"):
            h = getattr(self, name)
            if len(h) != 64:
                raise ValueError(f"{name}: expected 64 hex digits, got {len(h)}")
            bytes.fromhex(h)
        for name in ("version", "time", "bits", "nonce"):
            check_int_range(getattr(self, name), name, 0, 2**32 - 1)

    def serialize(self) -> bytes:
        """The 80 header bytes."""
        return (
            struct.pack("<I", self.version)
            + bytes.fromhex(self.prev_hash)[::-1]
            + bytes.fromhex(self.merkle_root)[::-1]
            + struct.pack("<III", self.time, self.bits, self.nonce)
        )


GENESIS_HEADER = BlockHeader(
    version=1,
    merkle_root="4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
    time=1231006505,
    bits=0x1D00FFFF,
    nonce=2083236893,
)


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 digest (32 bytes, internal order)."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_hex(digest: bytes) -> str:
    """Display form of a block hash (byte-reversed hex)."""
    return digest[::-1].hex()


def target_from_bits(bits: int) -> int:
    """Expand the compact ``bits`` encoding to a 256-bit target."""
    exp, mant = bits >> 24, bits & 0xFFFFFF
    return mant << (8 * (exp - 3)) if exp > 3 else mant >> (8 * (3 - exp))


def target_from_difficulty(difficulty: float) -> int:
    """Share target for a pool difficulty (``DIFF1_TARGET / difficulty``)."""
    if not difficulty > 0:
        raise ValueError(f"difficulty={difficulty!r}: must be > 0")
    return min(2**256 - 1, int(DIFF1_TARGET / difficulty))


def target_from_probability(p: float) -> int:
    """Target such that a random digest hits with probability ``p`` (``0 < p <= 1``)."""
    if not 0 < p <= 1:
        raise ValueError(f"p={p!r}: must be in (0, 1]")
    return max(0, int(p * 2**256) - 1)


def share_probability(target: int) -> float:
    """Hit probability ``(target + 1) / 2**256`` of one hash."""
    if not 0 <= target < 2**256:
        raise ValueError(f"target: must be in [0, 2**256), got {target}")
    return (target + 1) / 2**256


def scan_nonces(header: BlockHeader, start: int, count: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(nonce, digest)`` for ``count`` consecutive nonces from ``start`` (midstate reuse)."""
    check_int_range(start, "start", 0, 2**32 - 1)
    check_int_range(count, "count", 0, 2**32 - start)
    raw = header.serialize()
    mid = hashlib.sha256(raw[:64])  # first compression block is nonce-independent
    tail = raw[64:76]
    pack = struct.Struct("<I").pack
    sha = hashlib.sha256
    for nonce in range(start, start + count):
        h = mid.copy()
        h.update(tail + pack(nonce))
        yield nonce, sha(h.digest()).digest()
