"""Opaque public ids: a short prefix and 20 random base62 characters (about 119 bits)."""

import secrets
import string

from django.utils.deconstruct import deconstructible

_ALPHABET = string.ascii_letters + string.digits


@deconstructible
class PublicId:
    """Default for a public id field, e.g. `PublicId("cmp")` gives `cmp_4fT...`."""

    def __init__(self, prefix: str, length: int = 20):
        self.prefix = prefix
        self.length = length

    def __call__(self) -> str:
        return f"{self.prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(self.length))

    def __eq__(self, other):
        return isinstance(other, PublicId) and (self.prefix, self.length) == (
            other.prefix,
            other.length,
        )
