"""A local Messages API emulator: a deterministic fake Claude for tests, benchmarks and demos.

It speaks the real wire protocol on loopback, so the real `anthropic` client works against it:

```python
from longcall.testing import Emulator, Fault

with Emulator() as emu:
    client = anthropic.Anthropic(base_url=emu.url, api_key="test")
    emu.add_faults(Fault(drop_after_bytes=2000))
    ...
```

pytest users can enable the fixtures `emulator_server` (one per session) and `emulator` (the same
server, reset for each test) with `pytest_plugins = ["longcall.testing.pytest_plugin"]`.
"""

from ._faults import Fault
from ._limits import RateLimits
from ._model import PREFILL_REFUSED, TRAILING_WHITESPACE, Overlap, RequestError, Script
from ._server import (
    DEFAULT_MODEL,
    DEFAULT_REFUSE_PREFILL_MODELS,
    ROUTES,
    Emulator,
    RequestRecord,
    RouteHandler,
    RouteRequest,
    RouteResponse,
    register_route,
    serve,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_REFUSE_PREFILL_MODELS",
    "PREFILL_REFUSED",
    "ROUTES",
    "TRAILING_WHITESPACE",
    "Emulator",
    "Fault",
    "Overlap",
    "RateLimits",
    "RequestError",
    "RequestRecord",
    "RouteHandler",
    "RouteRequest",
    "RouteResponse",
    "Script",
    "register_route",
    "serve",
]
