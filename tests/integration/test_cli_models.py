"""`longcall models` through the real command: the Models API when it answers, the table when not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longcall.testing import Emulator

from .test_cli import make_env, run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_models_lists_what_the_models_api_says_a_model_longcall_never_heard_of_included(
    emulator: Emulator, home: Path
):
    emulator.add_model("claude-zephyr-9", max_tokens=12_345, max_input_tokens=300_000)
    result = run(make_env(emulator, home), "models", "--json")

    assert result.returncode == 0, result.stderr
    listed = {row["id"]: row for row in json.loads(result.stdout)}
    assert listed["claude-zephyr-9"]["max_output"] == 12_345
    assert listed["claude-zephyr-9"]["context_window"] == 300_000
    assert {row["source"] for row in listed.values()} == {"models_api"}
    assert [r.path for r in emulator.requests] == ["/v1/models"]
    assert (home / "models.json").exists()  # cached beside the journal


def test_models_without_a_key_lists_the_bundled_table_and_sends_nothing(emulator: Emulator, home: Path):
    env = make_env(emulator, home)
    del env["ANTHROPIC_API_KEY"]
    env["ANTHROPIC_BASE_URL"] = "https://api.anthropic.com"
    result = run(env, "models")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["Model", "Context", "Max"]
    assert any(line.startswith("claude-sonnet-4-6 ") and "bundled" in line for line in lines)
    assert emulator.requests == []
