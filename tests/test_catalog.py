import datetime
import json
from pathlib import Path

import pytest
from anthropic.types import Usage

from longcall import _catalog
from longcall._catalog import (
    CATALOG_CHECKED,
    ModelInfo,
    Price,
    UnknownModelWarning,
    catalog_rows,
    check_context,
    cost,
    lookup,
    markdown_table,
    resolve_max_tokens,
    set_prices,
)
from longcall._errors import ContextWindowExceeded, InvalidRequest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "models.md"


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(_catalog, "_warned_unknown", set())
    monkeypatch.setattr(_catalog, "_price_overrides", {})
    monkeypatch.setattr(_catalog, "_prices_file", None)
    monkeypatch.delenv("LONGCALL_PRICES", raising=False)


def unknown(name: str) -> ModelInfo:
    with pytest.warns(UnknownModelWarning, match=name):
        return lookup(name)


# name, id, context, max output, prefill, thinking modes, $ in, $ out
KNOWN = [
    ("claude-opus-4-6", "claude-opus-4-6", 200_000, 128_000, False, {"enabled", "adaptive"}, 5, 25),
    ("claude-sonnet-4-6", "claude-sonnet-4-6", 200_000, 64_000, False, {"enabled", "adaptive"}, 3, 15),
    ("claude-opus-4-5", "claude-opus-4-5-20251101", 200_000, 64_000, True, {"enabled"}, 5, 25),
    ("claude-haiku-4-5", "claude-haiku-4-5-20251001", 200_000, 64_000, True, {"enabled"}, 1, 5),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 200_000, 64_000, True, {"enabled"}, 3, 15),
    ("claude-opus-4-1", "claude-opus-4-1-20250805", 200_000, 32_000, True, {"enabled"}, 15, 75),
    ("claude-opus-4-0", "claude-opus-4-20250514", 200_000, 32_000, True, {"enabled"}, 15, 75),
    ("claude-sonnet-4-0", "claude-sonnet-4-20250514", 200_000, 64_000, True, {"enabled"}, 3, 15),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219", 200_000, 64_000, True, {"enabled"}, 3, 15),
    ("claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022", 200_000, 8192, True, set(), 0.8, 4),
    ("claude-3-haiku-20240307", "claude-3-haiku-20240307", 200_000, 4096, True, set(), 0.25, 1.25),
    ("claude-emulator", "claude-emulator", 200_000, 128_000, True, {"enabled", "adaptive"}, 0, 0),
    ("claude-opus-4-7", "claude-opus-4-7", 1_000_000, 128_000, False, {"adaptive"}, 5, 25),
    ("claude-opus-4-8", "claude-opus-4-8", 1_000_000, 128_000, False, {"adaptive"}, 5, 25),
    ("claude-opus-5", "claude-opus-5", 1_000_000, 128_000, False, {"adaptive"}, 5, 25),
    ("claude-sonnet-5", "claude-sonnet-5", 1_000_000, 128_000, False, {"adaptive"}, 2, 10),
    ("claude-fable-5", "claude-fable-5", 1_000_000, 128_000, False, {"adaptive"}, 10, 50),
    ("claude-mythos-5", "claude-mythos-5", 1_000_000, 128_000, False, {"adaptive"}, 10, 50),
    ("claude-opus-5-5", "claude-opus-5-5", 1_000_000, 128_000, False, {"adaptive"}, 4, 20),
    ("claude-sonnet-5-5", "claude-sonnet-5-5", 1_000_000, 128_000, False, {"adaptive"}, 2, 10),
    ("claude-haiku-5-5", "claude-haiku-5-5", 1_000_000, 128_000, False, {"adaptive"}, 0.1, 0.5),
    ("claude-fable-5-2", "claude-fable-5-2", 1_000_000, 128_000, False, {"adaptive"}, 10, 50),
]


def test_every_name_of_the_sdks_model_list_is_in_the_catalog():
    import typing

    from anthropic.types import Model, ModelParam

    names = {n for row in catalog_rows() for n in (row.id, *row.aliases)}
    for alias in (Model, ModelParam):
        literal = next(arg for arg in typing.get_args(alias) if typing.get_origin(arg) is typing.Literal)
        assert set(typing.get_args(literal)) <= names


@pytest.mark.parametrize("name, id, context, output, prefill, thinking, price_in, price_out", KNOWN)
def test_known_models(name, id, context, output, prefill, thinking, price_in, price_out):
    info = lookup(name)
    assert (info.id, info.context_window, info.max_output, info.accepts_prefill) == (
        id,
        context,
        output,
        prefill,
    )
    assert info.thinking_modes == thinking
    assert (info.price.input, info.price.output) == (price_in, price_out)
    assert info.known


def test_every_row_is_consistent():
    names = [name for row in catalog_rows() for name in (row.id, *row.aliases)]
    assert len(names) == len(set(names))
    for row in catalog_rows():
        assert row.price.cache_write == pytest.approx(row.price.input * 1.25)
        assert row.price.cache_read == pytest.approx(row.price.input * 0.1)
        assert row.thinking_modes <= {"enabled", "adaptive"}
        assert lookup(row.id) is row


def test_catalog_date_is_a_date():
    assert datetime.date.fromisoformat(CATALOG_CHECKED) <= datetime.date.today()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("claude-sonnet-4-5-20990101", "claude-sonnet-4-5-20250929"),
        ("claude-opus-4-1-20990101", "claude-opus-4-1-20250805"),  # longest prefix, not Opus 4
        ("claude-opus-4-20990101", "claude-opus-4-20250514"),
        ("claude-opus-4-6-20990101", "claude-opus-4-6"),
        ("claude-3-7-sonnet-20990101", "claude-3-7-sonnet-20250219"),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
        ("claude-opus-4@20250514", "claude-opus-4-20250514"),
        ("Claude-Haiku-4-5", "claude-haiku-4-5-20251001"),
    ],
)
def test_lookup_matches_dated_and_cloud_spellings(name, expected):
    assert lookup(name).id == expected


@pytest.mark.parametrize(
    "name", ["claude-opus-4-9", "claude-sonnet-4-5-preview", "gpt-4o", "claude-opus-4-5-2025"]
)
def test_unknown_model_gets_defaults_and_warns_once(name):
    info = unknown(name)
    assert (info.id, info.known, info.context_window, info.max_output) == (name, False, 200_000, 64_000)
    assert info.accepts_prefill == (name != "claude-opus-4-9")  # 4.6 and later refuse prefill
    assert info.thinking_modes == {"enabled"}
    assert info.price == lookup("claude-sonnet-4-5").price
    assert lookup(name) == info  # no second warning: filterwarnings=error would raise


@pytest.mark.parametrize(
    "name, refuses",
    [
        ("claude-sonnet-6", True),
        ("claude-haiku-6-5", True),
        ("claude-opus-4-9-20270101", True),
        ("claude-foo-4-5", False),
    ],
)
def test_unknown_versions_from_4_6_on_refuse_prefill(name, refuses):
    assert unknown(name).accepts_prefill is not refuses


# requested, model, clamp, betas -> expected
RESOLVE = [
    (None, "claude-sonnet-4-5", False, (), (64_000, None)),
    (1000, "claude-sonnet-4-5", False, (), (1000, None)),
    (64_000, "claude-sonnet-4-5", False, (), (64_000, None)),
    (0, "claude-3-haiku-20240307", False, (), (0, None)),
    (None, "claude-3-7-sonnet-latest", False, ("output-128k-2025-02-19",), (128_000, None)),
    (100_000, "claude-3-7-sonnet-latest", False, ("output-128k-2025-02-19",), (100_000, None)),
]


@pytest.mark.parametrize("requested, model, clamp, betas, expected", RESOLVE)
def test_resolve_max_tokens(requested, model, clamp, betas, expected):
    assert resolve_max_tokens(requested, lookup(model), clamp=clamp, betas=betas) == expected


@pytest.mark.parametrize(
    "requested, model, message",
    [
        (
            65_000,
            "claude-sonnet-4-5",
            "max_tokens=65000 is above the 64000 output tokens claude-sonnet-4-5-20250929 can produce; "
            "pass max_tokens=64000 or less, or omit it to use the model's limit.",
        ),
        (
            100_000,
            "claude-3-7-sonnet-latest",
            "max_tokens=100000 is above the 64000 output tokens claude-3-7-sonnet-20250219 can produce; "
            "pass max_tokens=64000 or less, or omit it to use the model's limit, or send the anthropic-beta "
            "header 'output-128k-2025-02-19' to allow up to 128000.",
        ),
        (
            200_000,
            "claude-3-7-sonnet-latest",
            "max_tokens=200000 is above the 64000 output tokens claude-3-7-sonnet-20250219 can produce; "
            "pass max_tokens=64000 or less, or omit it to use the model's limit.",
        ),
        (
            5000,
            "claude-3-haiku-20240307",
            "max_tokens=5000 is above the 4096 output tokens claude-3-haiku-20240307 can produce; "
            "pass max_tokens=4096 or less, or omit it to use the model's limit.",
        ),
    ],
)
def test_resolve_max_tokens_above_the_limit(requested, model, message):
    with pytest.raises(InvalidRequest) as caught:
        resolve_max_tokens(requested, lookup(model), clamp=False)
    assert str(caught.value) == message


def test_resolve_max_tokens_clamps_with_a_warning():
    value, warning = resolve_max_tokens(40_000, lookup("claude-opus-4-1"), clamp=True)
    assert value == 32_000
    assert warning == (
        "max_tokens=40000 is above the 32000 output tokens claude-opus-4-1-20250805 can produce; "
        "sending max_tokens=32000."
    )


def test_resolve_max_tokens_leaves_unknown_models_to_the_server():
    info = unknown("claude-future-9")
    assert resolve_max_tokens(500_000, info, clamp=False) == (500_000, None)
    assert resolve_max_tokens(None, info, clamp=False) == (64_000, None)


def test_check_context_fits():
    check_context(136_000, 64_000, lookup("claude-sonnet-4-5"))
    check_context(900_000, 64_000, lookup("claude-sonnet-4-5"), betas=["context-1m-2025-08-07"])


@pytest.mark.parametrize(
    "input_tokens, max_tokens, model, betas, window, message",
    [
        (
            150_000,
            64_000,
            "claude-opus-4-5",
            (),
            200_000,
            "The input (150000 tokens) plus max_tokens (64000) is 214000 tokens, over the 200000-token "
            "context "
            "window of claude-opus-4-5-20251101; lower max_tokens to 50000 or less, or shorten the input.",
        ),
        (
            150_000,
            64_000,
            "claude-sonnet-4-5",
            (),
            200_000,
            "The input (150000 tokens) plus max_tokens (64000) is 214000 tokens, over the 200000-token "
            "context "
            "window of claude-sonnet-4-5-20250929; lower max_tokens to 50000 or less, or shorten the input, "
            "or "
            "send the anthropic-beta header 'context-1m-2025-08-07' for a 1M window.",
        ),
        (
            210_000,
            1000,
            "claude-haiku-4-5",
            (),
            200_000,
            "The input (210000 tokens) plus max_tokens (1000) is 211000 tokens, over the 200000-token "
            "context "
            "window of claude-haiku-4-5-20251001; shorten the input by at least 10001 tokens.",
        ),
        (
            990_000,
            64_000,
            "claude-sonnet-4-6",
            ("context-1m-2025-08-07",),
            1_000_000,
            "The input (990000 tokens) plus max_tokens (64000) is 1054000 tokens, over the 1000000-token "
            "context window of claude-sonnet-4-6; lower max_tokens to 10000 or less, or shorten the input.",
        ),
    ],
)
def test_check_context_exceeded(input_tokens, max_tokens, model, betas, window, message):
    with pytest.raises(ContextWindowExceeded) as caught:
        check_context(input_tokens, max_tokens, lookup(model), betas=betas)
    assert str(caught.value) == message
    assert (caught.value.input_tokens, caught.value.max_tokens, caught.value.context_window) == (
        input_tokens,
        max_tokens,
        window,
    )
    assert isinstance(caught.value, InvalidRequest)


def test_check_context_leaves_unknown_models_to_the_server():
    check_context(900_000, 200_000, unknown("claude-future-9"))


USAGE = {
    "input_tokens": 1000,
    "output_tokens": 2000,
    "cache_creation_input_tokens": 4000,
    "cache_read_input_tokens": 10_000,
}


@pytest.mark.parametrize(
    "usage, model, expected",
    [
        (USAGE, "claude-sonnet-4-5", (1000 * 3 + 2000 * 15 + 4000 * 3.75 + 10_000 * 0.3) / 1e6),
        (Usage(**USAGE), "claude-sonnet-4-5", (1000 * 3 + 2000 * 15 + 4000 * 3.75 + 10_000 * 0.3) / 1e6),
        ({"input_tokens": 1_000_000}, "claude-opus-4-1", 15.0),
        (
            {"input_tokens": 10, "output_tokens": None, "cache_read_input_tokens": None},
            "claude-haiku-4-5",
            1e-5,
        ),
        (Usage(input_tokens=0, output_tokens=1_000_000), "claude-3-5-haiku-latest", 4.0),
        (USAGE, "claude-emulator", 0.0),
        (
            {
                **USAGE,
                "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 3000},
            },
            "claude-sonnet-4-5",
            (1000 * 3 + 2000 * 15 + 3000 * 3.75 + 1000 * 6 + 10_000 * 0.3) / 1e6,
        ),
        ({}, "claude-sonnet-4-5", 0.0),
    ],
)
def test_cost(usage, model, expected):
    assert cost(usage, model) == pytest.approx(expected)


def test_cost_of_an_unknown_model_uses_sonnet_prices():
    with pytest.warns(UnknownModelWarning):
        assert cost({"output_tokens": 1_000_000}, "claude-future-9") == pytest.approx(15.0)


def test_set_prices_overrides_by_alias_and_for_unknown_models():
    set_prices("claude-sonnet-4-5", Price(1, 2, 3, 4))
    assert lookup("claude-sonnet-4-5-20250929").price == Price(1, 2, 3, 4)
    assert cost({"input_tokens": 1_000_000, "cache_read_input_tokens": 1_000_000}, "claude-sonnet-4-5") == 5.0
    set_prices("my-proxy-model", Price(0, 0, 0, 0))
    with pytest.warns(UnknownModelWarning):
        assert cost(USAGE, "my-proxy-model") == 0.0
    assert catalog_rows() == _catalog.CATALOG and lookup("claude-sonnet-4-5").price != catalog_rows()[4].price


def test_prices_file_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    price = {"input": 2, "output": 10, "cache_write": 2.5, "cache_read": 0.2}
    path.write_text(json.dumps({"claude-haiku-4-5": price}))
    monkeypatch.setenv("LONGCALL_PRICES", str(path))
    assert lookup("claude-haiku-4-5-20251001").price == Price(2, 10, 2.5, 0.2)
    set_prices("claude-haiku-4-5", Price(9, 9, 9, 9))  # set_prices wins over the file
    assert lookup("claude-haiku-4-5").price == Price(9, 9, 9, 9)


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "which could not be read as JSON"),
        ("[1, 2]", "must hold a JSON object of model ids to prices"),
        ('{"claude-haiku-4-5": {"input": 1}}', "the entry for 'claude-haiku-4-5' needs numbers for input"),
    ],
)
def test_bad_prices_file(tmp_path, monkeypatch, text, message):
    path = tmp_path / "prices.json"
    path.write_text(text)
    monkeypatch.setenv("LONGCALL_PRICES", str(path))
    with pytest.raises(InvalidRequest, match=message):
        lookup("claude-haiku-4-5")


def test_docs_table_is_the_catalog():
    text = DOCS.read_text(encoding="utf-8")
    assert CATALOG_CHECKED in text.splitlines()[2]
    assert markdown_table() in text
    readme = (DOCS.parent.parent / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme  # the README shows the catalog's own numbers
    assert f"checked {CATALOG_CHECKED}" in readme


def test_markdown_table_rows():
    lines = markdown_table().splitlines()
    assert len(lines) == 2 + len(catalog_rows())
    assert (
        lines[0] == "| Model | Context | Max output | Prefill | Thinking | $ in / out per MTok | Lifecycle |"
    )
    assert (
        "| `claude-3-7-sonnet-20250219` (`claude-3-7-sonnet-latest`) | 200k | 64k (128k with "
        "`output-128k-2025-02-19`) | yes | enabled | $3 / $15 | retired 2026-02-19 |"
    ) in lines
    assert (
        "| `claude-3-5-haiku-20241022` (`claude-3-5-haiku-latest`) | 200k | 8,192 | yes | no | $0.80 / $4 "
        "| retired 2026-02-19 |" in lines
    )
    assert (
        "| `claude-opus-4-6` | 200k (1M with `context-1m-2025-08-07`) | 128k | no | enabled, adaptive | $5 "
        "/ $25 | active |"
    ) in lines
    assert "| `claude-sonnet-4-5-20250929` (`claude-sonnet-4-5`) |" in markdown_table()
    assert "| deprecated, retires 2026-11-30 |" in next(line for line in lines if "sonnet-4-5-2025" in line)
