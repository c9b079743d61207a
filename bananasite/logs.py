"""Log lines about a composition carry its public id: the task sets it while it runs one, a
filter on the handler copies it onto every record, and both formats (plain text, JSON) show it."""

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

current_composition: ContextVar[str] = ContextVar("current_composition", default="")


@contextmanager
def composition_context(public_id: str) -> Iterator[None]:
    """Every log line written inside (in this thread, or a context copied from it) names the
    composition."""
    token = current_composition.set(public_id)
    try:
        yield
    finally:
        current_composition.reset(token)


def carried[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` run in a copy of the calling thread's context: hand this to a thread pool, so the
    pool thread's log lines name the composition too. One copy per call: a context cannot be
    entered by two threads at once."""
    return functools.partial(contextvars.copy_context().run, fn)


class CompositionFilter(logging.Filter):
    """Puts `composition` on the record when a composition is being worked on (a caller's own
    `extra={"composition": ...}` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "composition", None):
            public_id = current_composition.get()
            if public_id:
                record.composition = public_id
        return True


class PlainFormatter(logging.Formatter):
    """The plain text format, with ` composition=<id>` after the message when there is one."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        public_id = getattr(record, "composition", None)
        return f"{line} composition={public_id}" if public_id else line


def logging_config(*, json: bool, level: str) -> dict:
    """The LOGGING setting: one console handler, plain text or one JSON object a line."""
    fields = "%(asctime)s %(levelname)s %(name)s %(message)s"
    formatter: dict[str, object]
    if json:
        # Extra record attributes (`composition` among them) become keys of the object.
        formatter = {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": fields}
    else:
        formatter = {"()": "bananasite.logs.PlainFormatter", "format": fields}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"composition": {"()": "bananasite.logs.CompositionFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["composition"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # httpx logs full request URLs at INFO, and some providers accept keys in the query.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "django_q": {"level": "WARNING"},
        },
    }
