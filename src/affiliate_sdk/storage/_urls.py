"""Server URLs in messages: without their passwords."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["redacted", "scrubbed"]

# scheme://user:password@ (the password: anything up to the last "@" of the authority)
_USERINFO: Final = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*):[^/?#]*@")
_OPTION: Final = re.compile(r"password=[^\s&]+")


def redacted(url: str) -> str:
    """``url`` without its password (in its user part or as a ``password=`` option); any
    authority, several hosts included, is left as it is otherwise."""
    url = _OPTION.sub("password=***", url)
    return _USERINFO.sub(r"\g<head>:***@", url, count=1)


def scrubbed(text: str, url: str) -> str:
    """``text`` (a driver's error message about ``url``) without the URL's password, even
    where the driver quotes a piece of it."""
    text = _OPTION.sub("password=***", text)
    found = _USERINFO.match(url)
    if found is None:
        return text
    password = url[found.end("head") + 1 : found.end() - 1]
    for piece in {password, *password.split("%")} - {""}:
        if len(piece) >= 3:
            text = text.replace(piece, "***")
    return text
