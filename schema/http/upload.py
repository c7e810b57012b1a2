"""The Upload scalar: a file part of a multipart request."""

from __future__ import annotations

from typing import Any

from strawberry import scalar


def _parse_upload(value: Any) -> Any:
    # strawberry's own Upload takes any value: a string would reach the resolver as a "file".
    if not callable(getattr(value, "read", None)):
        raise ValueError("An Upload is a file part of a multipart request, never a literal.")
    return value


# Replaces strawberry's Upload (see `schema.root`): the same name and description.
UPLOAD_SCALAR = scalar(
    name="Upload",
    description="Represents a file upload.",
    serialize=lambda value: value,
    parse_value=_parse_upload,
)
