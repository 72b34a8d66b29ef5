"""Domain errors: every refusal carries the catalogue's code and the limits that explain it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A command the rules refuse. `code` is a code of rules.md §7.2 / §5.2; `limits` explain it.

    A refused command records nothing: aggregates raise before any `@event` method runs.
    """

    status = 422

    def __init__(self, code: str, message: str = "", **limits: Any) -> None:
        self.code = code
        self.message = message or code
        self.limits = {k: v for k, v in limits.items() if v is not None}
        super().__init__(f"{code}: {self.message}")


class InvalidRequest(DomainError):
    """Malformed input that the catalogue does not judge (400 INVALID_REQUEST)."""

    status = 400

    def __init__(self, message: str, **limits: Any) -> None:
        super().__init__("INVALID_REQUEST", message, **limits)


class NotFound(DomainError):
    status = 404

    def __init__(self, message: str = "not found", **limits: Any) -> None:
        super().__init__("NOT_FOUND", message, **limits)


class VersionConflict(DomainError):
    """Someone else wrote the aggregate (or the person) first: never a lost update."""

    status = 409

    def __init__(self, message: str = "version conflict", **limits: Any) -> None:
        super().__init__("VERSION_CONFLICT", message, **limits)


class PreconditionFailed(DomainError):
    """An If-Match that names another version than the stored one (412)."""

    status = 412

    def __init__(self, message: str = "precondition failed", **limits: Any) -> None:
        super().__init__("PRECONDITION_FAILED", message, **limits)


class PersonGlemt(DomainError):
    """The case's person was forgotten (GDPR erasure): its personal data is gone for good (410)."""

    status = 410

    def __init__(self, message: str = "the person of this case has been forgotten", **limits: Any) -> None:
        super().__init__("PERSON_GLEMT", message, **limits)
