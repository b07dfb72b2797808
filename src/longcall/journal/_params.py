"""What the journal stores of a request: everything needed to send it again, no credential.

Pure functions; no I/O.
"""

from __future__ import annotations

import json
from typing import Any

_PROMPT_PREVIEW = 300
# Transport settings, not part of the request the model sees.
_DROPPED_PARAMS = frozenset({"extra_headers", "extra_query", "timeout"})
# Headers that change what the API accepts (sampling parameters need anthropic-version 2023-06-01):
# a resume must send them again.
_PROTOCOL_HEADERS = frozenset({"anthropic-beta", "anthropic-version"})
# Credentials, by exact name (lowercase, "-" read as "_"): a schema property or a JSON field that only
# happens to contain "key", "token" or "auth" (max_tokens, author, keywords) is kept.
SECRET_NAMES = frozenset(
    {
        "api_key",
        "x_api_key",
        "anthropic_api_key",
        "auth_token",
        "authorization",
        "authorization_token",
        "proxy_authorization",
        "access_token",
        "refresh_token",
        "bearer_token",
        "id_token",
        "session_token",
        "aws_secret_access_key",
        "aws_session_token",
        "client_secret",
        "secret_key",
        "password",
        "cookie",
    }
)
# What the user wrote (prompts, schemas): kept exactly as written, whatever its field names.
_CONTENT_NAMES = frozenset({"messages", "system", "input_schema", "schema", "properties"})
HOOKS = frozenset({"on_text", "on_thinking", "on_tool_input", "on_event", "on_attempt"})


def is_secret(name: object) -> bool:
    return isinstance(name, str) and name.lower().replace("-", "_") in SECRET_NAMES


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (val if key in _CONTENT_NAMES else _scrub(val))
            for key, val in value.items()
            if not is_secret(key)
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    return value


def safe_params(params: dict[str, Any]) -> dict[str, Any]:
    """The request parameters as the journal stores them: everything needed to send the request
    again (sampling parameters and `extra_body` included), no credential.

    Dropped: `extra_headers` (only `anthropic-beta` and `anthropic-version` are kept: they change what
    the API accepts and what the model may do, and they are not secrets), `extra_query`, `timeout`,
    the hooks, and at any depth outside content (`messages`, `system`, schemas) every field named
    as a credential is (`api_key`, `authorization_token`, ... see `SECRET_NAMES`).
    """
    kept: dict[str, Any] = {}
    for name, value in params.items():
        if name in HOOKS or name == "longcall_policy":
            continue
        if name == "extra_headers" and isinstance(value, dict):
            protocol = {
                k: v for k, v in value.items() if str(k).lower() in _PROTOCOL_HEADERS and isinstance(v, str)
            }
            if protocol:
                kept[name] = protocol
            continue
        if name in _DROPPED_PARAMS or is_secret(name):
            continue
        kept[name] = value if name in _CONTENT_NAMES else _scrub(value)
    return kept


def prompt_preview(params: dict[str, Any]) -> str:
    """The last user turn's text, shortened: shown by `longcall logs` and searched by `--search`."""
    for message in reversed(params.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        else:  # the question comes last; attachments (documents, stdin) come before it
            texts = [
                block.get("text") or ""
                for block in content or []
                if isinstance(block, dict) and block.get("type") == "text"
            ]
            text = texts[-1] if texts else ""
        text = " ".join(text.split())
        return text if len(text) <= _PROMPT_PREVIEW else text[: _PROMPT_PREVIEW - 1] + "…"
    return ""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
