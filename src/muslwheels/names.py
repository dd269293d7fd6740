"""Text that comes from outside (file names, project names, tags, URLs) as data. Pure.

- :func:`escape`: a name made safe to print: control characters (newlines and carriage returns
  included), and the Unicode line and paragraph separators, shown as ``\\xNN``/``\\uNNNN``, so no
  name can forge a line of output or of a log, nor move the terminal's cursor.
- :func:`name_problem`: why a name may not come in at all (a control character), or None.
- :func:`redact`: a URL without its password, for everything printed or stored.
"""

from __future__ import annotations

import re
import urllib.parse

# C0 controls (tab and newline included), DEL, C1 controls, and the characters that end a line
# for str.splitlines and many terminals and log viewers.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` on one line with its control characters shown as escapes (``a\\x0ab``)."""
    return _UNSAFE.sub(_shown, text)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`escape` would change."""
    return _UNSAFE.search(text) is not None


def name_problem(text: str, what: str = "name") -> str | None:
    """Why ``text`` cannot be a ``what`` (a file, project or tag name), or None: it is empty or
    holds a control character or a line separator."""
    if not text:
        return f"an empty {what}"
    if has_control(text):
        return f"{what} '{escape(text)}' holds a control character or a line break"
    return None


def redact(url: str) -> str:
    """``url`` without the password of its user info (for messages, cache keys and every file the
    tool keeps), escaped and cut to 200 characters. A URL that does not parse loses everything
    between ``//`` and an ``@``."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:
        return _cut(escape(re.sub(r"//[^/]*@", "//***@", url)))
    if parts.password is None and parts.username is None:
        return _cut(escape(url))
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.password is not None else f"{parts.username}@"
    return _cut(escape(urllib.parse.urlunsplit(parts._replace(netloc=user + host))))


def has_credentials(text: str) -> bool:
    """Whether any whitespace-separated URL in ``text`` carries user info (a user name or a
    password: either may be a token)."""
    for word in text.split():
        if "@" not in word:
            continue
        try:
            parts = urllib.parse.urlsplit(word)
        except ValueError:
            return True  # cannot tell: treat it as secret
        if parts.username is not None or parts.password is not None:
            return True
    return False


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
