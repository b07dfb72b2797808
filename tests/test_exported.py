"""`longcall.__all__` names exactly the public names the package exports (httpx's
`test_exported_members.py`)."""

from __future__ import annotations

import types

import longcall


def test_all_lists_every_public_name_and_nothing_else() -> None:
    # The package imports its names on first use (PEP 562): load them all, whatever ran before.
    for name in longcall.__all__:
        getattr(longcall, name)
    assert {name for name in dir(longcall) if not name.startswith("_")} >= set(longcall.__all__) - {
        "__version__"
    }
    public = {
        name
        for name, value in vars(longcall).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(longcall.__all__) == longcall.__all__
    assert set(longcall.__all__) - {"__version__"} == public


def test_every_exported_name_is_defined_where_it_claims() -> None:
    for name in longcall.__all__:
        value = getattr(longcall, name)
        module = getattr(value, "__module__", "longcall")
        assert module.startswith("longcall"), (name, module)
