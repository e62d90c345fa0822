"""Request validation (pydantic models), with one clear line per problem and the HTTP status to answer."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ROOM_PATTERN", "Invalid", "SendRequest", "TokenRequest", "check_body_size", "check_room", "parse"]

M = TypeVar("M", bound=BaseModel)
ROOM_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class Invalid(Exception):
    """A request the service refuses; ``status`` is 413 or 422, the message names the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    client_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]
    body: str


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # lenient: ttl_s may come as 3600.0 from a client
    user: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s]+$")]
    ttl_s: Annotated[int, Field(gt=0, le=7 * 24 * 3600)] = 3600


def parse(model: type[M], data: Any) -> M:
    """``data`` as ``model``; Invalid(422) naming the first bad field otherwise."""
    if not isinstance(data, dict):
        raise Invalid(422, "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Invalid(422, f"{where}: {first['msg']}") from None


def check_room(room: str) -> None:
    if not ROOM_PATTERN.fullmatch(room):
        raise Invalid(422, "room: must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")


def check_body_size(body: str, limit: int) -> None:
    size = len(body.encode())
    if size > limit:
        raise Invalid(413, f"body: {size} bytes is more than the limit of {limit} bytes")
    if size == 0:
        raise Invalid(422, "body: must not be empty")
    if "\x00" in body:
        raise Invalid(422, "body: must not contain NUL characters")
