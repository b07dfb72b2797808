"""Large strings of a request (base64 images and documents, long texts) stored once, by content hash.

50 calls sending the same 100 KB document store it once. In the stored parameters, such a string is
replaced by `{"$longcall_blob": "<sha256>"}` (no API field takes an object where a string goes, so the
reference cannot be mistaken for content), and put back when the call is read. Pure code: no I/O.
"""

from __future__ import annotations

import hashlib
from typing import Any

BLOB_MIN_CHARS = 4096  # shorter strings are stored in place: a reference would save little
_REF = "$longcall_blob"


def externalize(value: Any, blobs: dict[str, str]) -> Any:
    """`value` with every string of at least BLOB_MIN_CHARS replaced by a reference (added to `blobs`)."""
    if isinstance(value, str):
        if len(value) < BLOB_MIN_CHARS:
            return value
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        blobs[digest] = value
        return {_REF: digest}
    if isinstance(value, dict):
        return {key: externalize(item, blobs) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [externalize(item, blobs) for item in value]
    return value


def internalize(value: Any, blobs: dict[str, str]) -> Any:
    """`value` with its references replaced by the strings they name (a missing one stays a reference)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(_REF), str):
            return blobs.get(value[_REF], value)
        return {key: internalize(item, blobs) for key, item in value.items()}
    if isinstance(value, list):
        return [internalize(item, blobs) for item in value]
    return value
