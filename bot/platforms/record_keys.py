"""Record keys chosen by the client, stored in the ledger before a post is sent.

A delivery's ``record_key`` is a TID, the AT Protocol's timestamp identifier
(https://atproto.com/specs/tid: a 64-bit integer, top bit 0, then 53 bits of
microseconds since the UNIX epoch and 10 bits of "clock identifier", written as 13
characters of base32-sortable). It is chosen when the delivery row is written, so every
attempt to send it names the same record: Bluesky refuses a second record under a key it
already holds, and an attempt whose answer was lost is settled by reading that one record.
Thread parts take the key's timestamp plus their index, so they stay in order and unique.

Pure and cheap: the ledger model imports it.
"""

from __future__ import annotations

import secrets
import threading
import time

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_LENGTH = 13
_CLOCK_BITS = 10
_lock = threading.Lock()
_last_micros = 0


def encode_tid(micros: int, clock_id: int) -> str:
    """The 13-character TID for a timestamp (microseconds) and a clock id (0..1023)."""
    if not 0 <= clock_id < 1 << _CLOCK_BITS:
        raise ValueError(f"clock id must be 0..1023, not {clock_id}")
    if not 0 <= micros < 1 << 53:
        raise ValueError(f"TID timestamp out of range: {micros}")
    value = (micros << _CLOCK_BITS) | clock_id
    chars = []
    for _ in range(TID_LENGTH):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode_tid(tid: str) -> tuple[int, int]:
    """(microseconds, clock id) of a TID; ValueError naming it when it is not one."""
    if len(tid) != TID_LENGTH or any(c not in TID_ALPHABET for c in tid):
        raise ValueError(f"not a TID (13 characters of 2-7 a-z): {tid!r}")
    value = 0
    for char in tid:
        value = value * 32 + TID_ALPHABET.index(char)
    if value >> 63:
        raise ValueError(f"not a TID (top bit set): {tid!r}")
    return value >> _CLOCK_BITS, value & ((1 << _CLOCK_BITS) - 1)


def is_tid(value: str) -> bool:
    try:
        decode_tid(value)
    except ValueError:
        return False
    return True


def new_record_key() -> str:
    """A fresh TID: now, never twice the same timestamp in this process, random clock id
    (so two processes writing to one account at the same microsecond rarely meet)."""
    global _last_micros
    with _lock:
        micros = max(time.time_ns() // 1000, _last_micros + 1)
        _last_micros = micros
    return encode_tid(micros, secrets.randbelow(1 << _CLOCK_BITS))


def part_record_key(key: str, index: int) -> str:
    """The record key of part ``index`` of a thread whose delivery key is ``key``."""
    if index == 0:
        return key
    micros, clock_id = decode_tid(key)
    return encode_tid(micros + index, clock_id)
