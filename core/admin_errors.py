"""The one refusal the operator actions raise (partners, suppliers, orders): an HTTP status, a code, and for a
validation error the field and the reason, so every caller (JSON route, console page, CLI) can say which input is
wrong and why."""

from __future__ import annotations


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["fields"] = [{"field": self.field, "reason": self.message}]
        return body


def invalid(field: str, reason: str) -> AdminError:
    return AdminError(422, "validation_error", reason, field)


def not_found(what: str) -> AdminError:
    return AdminError(404, "not_found", f"no such {what}")


def page_bounds(limit: int, offset: int, max_limit: int = 500) -> None:
    if not 1 <= limit <= max_limit:
        raise invalid("limit", f"must be between 1 and {max_limit}")
    if offset < 0:
        raise invalid("offset", "must not be negative")


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its own wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
