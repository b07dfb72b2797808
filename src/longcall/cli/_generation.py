"""Running one generation in a view, then showing the result or explaining the failure.

Shared by the prompt command, `resume` and `demo`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import EXIT_API, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CommandError, fail, say
from ._common import silence_stdout as _silence_stdout

if TYPE_CHECKING:
    from .._engine import LongcallMessage
    from ..display import LiveView, PipeView
    from ..journal import Journal


def _host() -> str:
    from urllib.parse import urlsplit

    return urlsplit(os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com").netloc


def make_view(
    args: argparse.Namespace, *, model: str, max_tokens: int | None, budget: int | None
) -> LiveView | PipeView:
    """The live view on a terminal (on stderr when the text goes to a file or JSON follows), else
    plain text to stdout and status lines to stderr."""
    from ..display import LiveView, PipeView

    verbose = bool(getattr(args, "verbose", False))
    shared: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "budget": budget, "host": _host()}
    if args.json or args.output is not None:
        if sys.stderr.isatty():
            from rich.console import Console

            return LiveView(console=Console(stderr=True), markdown=not args.plain, seams=verbose, **shared)
        return PipeView(show_text=False, verbose=verbose, **shared)
    if sys.stdout.isatty():
        return LiveView(markdown=not args.plain, seams=verbose, **shared)
    return PipeView(verbose=verbose, **shared)


def run(
    args: argparse.Namespace,
    view: LiveView | PipeView,
    call: Callable[[], LongcallMessage],
    *,
    journal: Journal | None = None,
) -> int:
    """Run a generation in `view`, then show the result or explain the failure."""
    from .._errors import GenerationFailed, RequestRejected
    from ..display import OutputClosed

    try:
        with view:
            try:
                message = call()
            finally:
                _settle_journal(view, journal)
    except OutputClosed:
        _silence_stdout()
        say(kept_sentence(view, "stdout was closed, so the call was stopped."))
        return EXIT_OK
    except KeyboardInterrupt:
        finish_partial(args, view, "interrupted")
        say(kept_sentence(view, "Interrupted."))
        return EXIT_INTERRUPTED
    except RequestRejected:
        raise  # the API refused the request itself (also the SDK's class): explained as an API error
    except GenerationFailed as exc:
        code, sentence = explain_failure(exc, view)
        if code == EXIT_FAILED:
            finish_partial(args, view, "failed")
        if args.debug:
            traceback.print_exception(exc)
        say(sentence)
        if args.json:
            error = {
                "type": "error",
                "error": {"message": sentence, "exit_code": code},
                "call_id": view.call_id,
            }
            sys.stdout.write(json.dumps(error) + "\n")
        return code
    finish(args, view, message)
    return EXIT_OK


def _settle_journal(view: LiveView | PipeView, journal: Journal | None) -> None:
    """Wait for the journal's writes; if one failed, the call is not resumable: no `resume` hint."""
    if journal is None:
        return
    journal.flush(10.0)
    if journal.write_failure is not None:
        view.journaled = False


def finish(args: argparse.Namespace, view: LiveView | PipeView, message: LongcallMessage) -> None:
    text = "".join(getattr(block, "text", None) or "" for block in message.content if block.type == "text")
    if args.output is not None:
        write_output(args.output, text)
    note = view.stop_note(message, int((view.final or {}).get("usage", {}).get("output_tokens") or 0))
    view.print_result(
        message,
        show_text=args.output is None and not args.json,
        status=note.split(":")[0] if note else "done",
    )
    if note:
        view.print_note(f"  {note}", style="yellow")
    if args.output is not None:
        view.print_note(f"  the text ({len(text):,} characters) is in {args.output}", style="dim")
    if args.json:
        data = dict(view.final or message.model_dump(mode="json", warnings=False))
        data["longcall"] = {
            "call_id": view.call_id,
            "cost_usd": cost(data.get("usage") or {}, str(data.get("model") or view.model)),
            "attempts": [attempt.to_dict() for attempt in message.attempts],
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()


def finish_partial(args: argparse.Namespace, view: LiveView | PipeView, status: str) -> None:
    """Show (or write) what arrived before the call stopped."""
    if args.output is not None:
        text = partial_text(view)
        if text:
            write_output(args.output, text)
    view.print_result(None, show_text=args.output is None and not args.json, status=status)


def partial_text(view: LiveView | PipeView) -> str:
    content = (view.final or {}).get("content") or []
    return "".join(block.get("text") or "" for block in content if block.get("type") == "text")


def write_output(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(EXIT_FAILED, f"could not write {path}: {exc.strerror or exc}; the text is in the journal.")


def cost(usage: dict[str, Any], model: str) -> float | None:
    from .._catalog import cost

    try:
        return cost(usage, model)
    except Exception:  # noqa: BLE001 - a bad price file must not lose the answer
        return None


def kept_sentence(view: LiveView | PipeView, head: str) -> str:
    chars = len(partial_text(view))
    if view.call_id is None:
        return f"{head} Nothing was sent yet."
    if not view.journaled:
        return head
    if not chars:
        return f"{head} Nothing had arrived; run it again with: longcall resume {view.call_id}"
    return (
        f"{head} The {chars:,} characters received are kept in the journal; continue with: "
        f"longcall resume {view.call_id}"
    )


def api_error_detail(exc: Any) -> tuple[str, str]:
    """(error type, message) from an SDK status error's body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        return str(error.get("type") or ""), str(error.get("message") or "")
    return "", str(getattr(exc, "message", exc))


def explain_failure(exc: Any, view: LiveView | PipeView) -> tuple[int, str]:
    import anthropic

    cause = exc.cause
    attempts = len(exc.attempts)
    if not partial_text(view) and isinstance(cause, anthropic.APIConnectionError):
        where = os.environ.get("ANTHROPIC_BASE_URL") or "the Anthropic API"
        reason = cause.__cause__ or cause
        return EXIT_API, (
            f"could not reach {where} ({reason}) after {attempts} attempt(s): check your network "
            "connection"
            + (" and ANTHROPIC_BASE_URL" if "ANTHROPIC_BASE_URL" in os.environ else "")
            + ", then run the same command again."
        )
    last = exc.attempts[-1].error if exc.attempts else None
    why = last or str(exc)
    return EXIT_FAILED, kept_sentence(view, f"The generation failed after {attempts} attempt(s) ({why}).")


def explain_api_error(exc: Any, model: str, max_tokens_given: bool) -> CommandError:
    """An SDK error (the API refused the request) as one sentence."""
    import anthropic

    from .._errors import ContextWindowExceeded, InvalidRequest

    if isinstance(exc, ContextWindowExceeded):
        return CommandError(EXIT_USAGE, str(exc))
    if isinstance(exc, InvalidRequest):
        return CommandError(EXIT_USAGE, f"invalid request: {exc}")
    if isinstance(exc, anthropic.APIConnectionError):
        where = os.environ.get("ANTHROPIC_BASE_URL") or "the Anthropic API"
        return CommandError(
            EXIT_API,
            f"could not reach {where} ({exc.__cause__ or exc}): check your network "
            "connection, then run the same command again.",
        )
    error_type, detail = api_error_detail(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, anthropic.AuthenticationError):
        return CommandError(
            EXIT_API,
            f"the API rejected the credentials ({status} {error_type}: {detail}): check ANTHROPIC_API_KEY.",
        )
    if isinstance(exc, anthropic.PermissionDeniedError):
        return CommandError(EXIT_API, f"the API key may not do this ({status} {error_type}: {detail}).")
    if isinstance(exc, anthropic.NotFoundError):
        return CommandError(
            EXIT_API,
            f"the API does not know the model {model!r} ({status} {error_type}: "
            f"{detail}): check -m/--model or LONGCALL_MODEL (`longcall --help`), or "
            "ANTHROPIC_BASE_URL if it is set.",
        )
    if isinstance(exc, anthropic.BadRequestError):
        lowered = detail.lower()
        if "prompt is too long" in lowered or "context limit" in lowered or "context window" in lowered:
            hint = "shorten the prompt or attach fewer files"
            if max_tokens_given:
                hint = "lower --max-tokens, or " + hint
            return CommandError(
                EXIT_API,
                f"the API refused the prompt: it does not fit {model}'s context window ({detail}): {hint}.",
            )
        return CommandError(EXIT_API, f"the API refused the request as invalid ({status}: {detail}).")
    if isinstance(exc, anthropic.APIStatusError):
        return CommandError(EXIT_API, f"the API answered {status} {error_type}: {detail}")
    return CommandError(EXIT_FAILED, f"{type(exc).__name__}: {exc}")


_CONTEXT_LIMIT = re.compile(r"(\d+)\s*\+\s*(\d+)\s*>\s*(\d+)")


def fitting_max_tokens(exc: Any) -> int | None:
    """From the API's "input length and `max_tokens` exceed context limit: A + B > C": the largest
    max_tokens that fits, or None."""
    import anthropic

    if not isinstance(exc, anthropic.BadRequestError):
        return None
    match = _CONTEXT_LIMIT.search(api_error_detail(exc)[1])
    if match is None:
        return None
    input_tokens, _, limit = (int(group) for group in match.groups())
    room = limit - input_tokens - 16  # a margin: counts can differ by a few tokens between requests
    return room if room >= 256 else None
