"""Secrets from the environment, the config file or a file that an agent may rotate.

A `Secret` never shows its value in `repr`, `str` or formatting, so it cannot leak into a log line, an
exception or a debug page by accident; code that needs the value calls `reveal()`. A file-backed
secret is re-read when the file changes (Kubernetes secret volumes and vault sidecars swap the file
under us), so rotated temporary credentials need no restart.

No credential holds whitespace (IAM's password policy answers `\\S{6,32}` as its rule; tokens, access
keys and secret keys are base64 or alphanumeric), so one that has any is refused rather than sent to
fail signature checks and lock the access key. A file drops the whitespace around its content (the newline
`echo value > file` leaves); what remains inside is refused, on every re-read as at load time.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["NO_WHITESPACE", "Secret", "SecretError", "whitespace_flaw"]

NO_WHITESPACE = "credentials have no whitespace"


class SecretError(Exception):
    """A secret file could not be read, or holds whitespace (`malformed`: the file was read, its
    content is wrong). The message names the file, never its content."""

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def whitespace_flaw(value: str) -> str:
    """What whitespace `value` has, said without the value ("ends in a newline"), or "" if none."""
    if value.endswith(("\n", "\r")):
        return "ends in a newline"
    if value[:1].isspace():
        return "starts with whitespace"
    if value[-1:].isspace():
        return "ends in whitespace"
    if any(c.isspace() for c in value):
        return "contains whitespace"
    return ""


@dataclass(eq=False)
class Secret:
    """A secret value, given inline or read from `path` on demand."""

    _value: str | None = None
    path: Path | None = None
    _stamp: tuple[int, int, int] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def inline(cls, value: str) -> Secret:
        return cls(_value=value)

    @classmethod
    def from_file(cls, path: str | Path) -> Secret:
        secret = cls(path=Path(path))
        secret.reveal()  # fail at load time, not at the first scrape
        return secret

    def reveal(self) -> str:
        """The current value; a file is re-read when its size, mtime or inode changed."""
        if self.path is None:
            assert self._value is not None
            return self._value
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            with self._lock:
                if stamp != self._stamp or self._value is None:
                    value = self.path.read_text(encoding="utf-8").strip()
                    if not value:
                        raise SecretError(f"secret file {self.path} is empty")
                    if flaw := whitespace_flaw(value):
                        raise SecretError(f"secret file {self.path} {flaw}; {NO_WHITESPACE}", malformed=True)
                    self._value, self._stamp = value, stamp
                return self._value
        except OSError as exc:
            raise SecretError(f"cannot read secret file {self.path}: {exc.strerror}") from None

    def fingerprint(self) -> tuple[int, int, int] | None:
        """Changes when a file-backed secret's file changes (None for inline secrets and missing files)."""
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def __repr__(self) -> str:
        return f"Secret(file={str(self.path)!r})" if self.path else "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)
