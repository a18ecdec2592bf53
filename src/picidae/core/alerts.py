"""Alert rules and messages, as data: what a rule may say (``check_rule``), what an alert
posts (``webhook_body``, ``slack_body``) and when a failed post is tried again (``backoff``).

A rule fires on run transitions (``failed``, ``lost``, ``completed``), on ``run.alert(...)``
(``alert``) and, with ``when``, on a where-expression becoming true for a run. Everything is
checked before anything is stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from picidae.core.validation import clean_label
from picidae.core.where.errors import WhereError
from picidae.core.where.parser import parse
from picidae.errors import InvalidInput

#: The triggers ``--on`` takes: transitions to these states, and ``run.alert(...)``.
TRANSITION_EVENTS = ("failed", "lost", "completed")
EVENTS = (*TRANSITION_EVENTS, "alert")
LEVELS = ("info", "warn", "error")
KINDS = ("webhook", "slack")
MAX_TITLE = 1_000
MAX_TEXT = 10_000
#: Attempts before a delivery is given up (about a day with the backoff below).
MAX_ATTEMPTS = 300
BACKOFF_CAP_S = 300.0


def check_events(on: str | list[str] | None) -> list[str]:
    """``--on failed,lost`` as a list of known triggers; ``InvalidInput`` otherwise."""
    if on is None:
        return []
    words = on.split(",") if isinstance(on, str) else list(on)
    out: list[str] = []
    for word in (w.strip().lower() for w in words):
        if not word:
            continue
        if word not in EVENTS:
            raise InvalidInput(f"unknown alert event {word!r}: use {', '.join(EVENTS)}",
                               field="on")
        if word not in out:
            out.append(word)
    return out


def check_url(url: str, field: str) -> str:
    """An ``http(s)://host`` URL, or ``InvalidInput`` naming ``field``."""
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"--{field} needs an http:// or https:// URL, got {url!r}",
                           field=field)
    return url.strip()


def check_expr(expr: str | None, field: str) -> str | None:
    """A where-language expression (``None`` or blank: none), or the parser's error."""
    if expr is None or not expr.strip():
        return None
    try:
        parse(expr)
    except WhereError as exc:  # one line: the problem and where it is
        raise InvalidInput(f"--{field} {expr!r}: {exc.problem} at column {exc.column}",
                           field=field) from None
    return expr.strip()


def check_rule(name: str, on: str | list[str] | None, *, where: str | None = None,
               when: str | None = None, webhook: str | None = None,
               slack: str | None = None) -> dict[str, Any]:
    """A rule as stored: ``{name, on, where, when, kind, url}``, every part checked."""
    clean = clean_label(name, "name", max_len=256) or ""
    if not clean:
        raise InvalidInput("an alert needs a name", field="name")
    events = check_events(on)
    when = check_expr(when, "when")
    where = check_expr(where, "where")
    if not events and when is None:
        raise InvalidInput("an alert needs --on EVENTS (failed,lost,completed,alert) or "
                           "--when EXPR", field="on")
    if (webhook is None) == (slack is None):
        raise InvalidInput("an alert posts to one --webhook URL or one --slack URL",
                           field="webhook")
    kind = "webhook" if webhook is not None else "slack"
    url = check_url(webhook if webhook is not None else str(slack), kind)
    return {"name": clean, "on": events, "where": where, "when": when, "kind": kind,
            "url": url}


def check_alert(title: Any, text: Any = None, level: Any = "info") -> dict[str, Any]:
    """What ``run.alert(title, text, level)`` records: ``{title, text, level}``."""
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("an alert needs a title (a non-empty string)", field="title")
    if text is not None and not isinstance(text, str):
        raise InvalidInput(f"alert text must be a string, got {type(text).__name__}",
                           field="text")
    if level not in LEVELS:
        raise InvalidInput(f"alert level must be one of {', '.join(LEVELS)}, got {level!r}",
                           field="level")
    return {"title": title[:MAX_TITLE], "text": None if text is None else text[:MAX_TEXT],
            "level": level}


def message(trigger: str, run: dict[str, Any], extra: dict[str, Any] | None = None,
            ) -> dict[str, Any]:
    """The title, text and level of an alert for ``trigger`` (an event of ``EVENTS``, or
    ``when``) about ``run``; ``extra`` is ``run.alert``'s own ``{title, text, level}``."""
    name = run.get("name") or run.get("id")
    if trigger == "alert" and extra:
        return {"title": extra.get("title"), "text": extra.get("text"),
                "level": extra.get("level") or "info"}
    if trigger == "when":
        return {"title": f"{name}: {extra.get('when') if extra else 'condition'} is true",
                "text": None, "level": "warn"}
    failure = run.get("failure") or {}
    text = failure.get("message") if trigger in ("failed", "lost") else None
    level = {"failed": "error", "lost": "warn"}.get(trigger, "info")
    return {"title": f"run {name} {trigger}", "text": text, "level": level}


def webhook_body(alert: str, run: dict[str, Any], msg: dict[str, Any], at: str,
                 url: str | None) -> dict[str, Any]:
    """The JSON a webhook receives: ``{alert, run: {id, name, status, url}, title, text,
    level, at}``."""
    return {"alert": alert, "run": {"id": run.get("id"), "name": run.get("name"),
                                    "status": run.get("status"), "url": url},
            "title": msg["title"], "text": msg["text"], "level": msg["level"], "at": at}


def slack_body(body: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook body for a webhook body: ``text`` (the fallback) and
    blocks."""
    icon = {"error": ":red_circle:", "warn": ":warning:"}.get(body["level"],
                                                             ":information_source:")
    run = body["run"]
    link = f"<{run['url']}|{run['name']}>" if run.get("url") else str(run.get("name"))
    head = f"{icon} *{body['title']}*"
    lines = [head, f"run {link} ({run.get('status')}) · alert `{body['alert']}`"]
    if body.get("text"):
        lines.append(str(body["text"]))
    text = "\n".join(lines)
    return {"text": text, "blocks": [{"type": "section",
                                      "text": {"type": "mrkdwn", "text": text[:3000]}}]}


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1, 2, 4... up to
    ``BACKOFF_CAP_S``."""
    return float(min(BACKOFF_CAP_S, 2.0 ** max(0, attempts - 1)))
