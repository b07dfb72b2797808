"""Many generations: a restartable batch runner (streaming, adaptive concurrency) and Anthropic's
Message Batches API in rounds, with one input and one output format.

```python
from longcall.batch import run_batch
summary = run_batch("in.jsonl", "out.jsonl", concurrency=32)           # streaming, through longcall
summary = run_batch("in.jsonl", "out.jsonl", via="batches")            # the Message Batches API
```

Running the same call again continues where it stopped: finished items are skipped, unfinished ones
resumed from their checkpoints (or re-attached to their batches). See `BatchRun` and `BatchOptions`.
"""

from ._input import InputRefused, parse_shard, read_input
from ._options import BatchOptions
from ._records import Summary
from ._run import BatchRun, arun_batch, default_client, run_batch
from ._state import StateError
from ._submit import BatchRejected

__all__ = [
    "BatchOptions",
    "BatchRejected",
    "BatchRun",
    "InputRefused",
    "StateError",
    "Summary",
    "arun_batch",
    "default_client",
    "parse_shard",
    "read_input",
    "run_batch",
]
