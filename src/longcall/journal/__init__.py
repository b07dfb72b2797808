"""The journal: every call longcall makes, in a SQLite file, so no generation is ever lost.

A `Journal` is an `Observer` of the engine (see `longcall._engine`): it records a call when its first
request starts, checkpoints the partial message while it streams, records every attempt, and stores
the final message (or what arrived before a failure or a Ctrl-C) with its usage and cost. `resume()`
continues a journaled call from its last checkpoint, after the process that started it died.

The journal stores prompts and answers (attachments included), never a credential (see
`safe_params`). It keeps everything until told otherwise: `Journal.prune`, `Journal.delete`, a size
cap (`max_bytes`, `LONGCALL_JOURNAL_MAX_BYTES`); `LONGCALL_JOURNAL=off` turns the default one off.

Modules: `_params` (what of a request is stored), `_blobs` (large strings stored once),
`_checkpoint` (a streaming message as appended pieces), `_schema` (numbered migrations), `_records`
(`CallRecord`), `_recorder` (the observer and its writer thread), `_store` (the file, its reads and
controls), `_resume` (continuing a call after a crash).
"""

from ._params import SECRET_NAMES, safe_params
from ._recorder import JournalWarning
from ._records import STATUSES, CallRecord
from ._resume import aresume, resume
from ._schema import MIGRATIONS, SCHEMA_VERSION, migrate
from ._store import Journal, parse_size

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SECRET_NAMES",
    "STATUSES",
    "CallRecord",
    "Journal",
    "JournalWarning",
    "aresume",
    "migrate",
    "parse_size",
    "resume",
    "safe_params",
]
