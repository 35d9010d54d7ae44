"""Exception classes of sightline.

Every variant of the Rust core's ``sightline::Error`` maps one-to-one onto a
class here; the native module raises them by importing this module. Each
exception carries ``code``, the core's stable machine-readable code
(``"INVALID_INPUT"``, ``"SHAPE_MISMATCH"``, ``"UNKNOWN_ID"``, ``"CONFIG"``,
``"MODEL_FORMAT"``, ``"IO"``, ``"INTERRUPTED"``; the native module lists them
as ``_sightline.ERROR_CODES``) and the variant's structured fields (``field``
of a config error, ``kind`` and ``id`` of an unknown id, ``errno`` and
``filename`` of an I/O error).

The classes also derive from the matching builtin exception, so code written
for plain Python keeps working: ``except ValueError`` catches bad input and
configuration, ``except KeyError`` an unknown id, ``except OSError`` I/O and
model-file problems, ``except FileNotFoundError`` / ``except PermissionError``
a missing or forbidden file.

A fit or tuning run stopped by Ctrl-C raises ``FitInterrupted``, which is
also a ``KeyboardInterrupt`` (chained from the original one), so existing
``except KeyboardInterrupt`` code keeps working; an exception raised inside a
progress callback propagates unchanged.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "SightlineError",
    "InvalidInputError",
    "ShapeMismatchError",
    "UnknownIdError",
    "ConfigError",
    "ModelFormatError",
    "SightlineIOError",
    "SightlineFileNotFoundError",
    "SightlinePermissionError",
    "FitInterrupted",
]


class SightlineError(Exception):
    """Base class of every sightline error. ``code`` is the core's error code."""

    code: str = "SIGHTLINE"


class InvalidInputError(SightlineError, ValueError):
    """An argument or data value is invalid (empty data, NaN/inf/negative
    weights, ``N=0``, an out-of-range index, a model that is not fitted, ...)."""

    code = "INVALID_INPUT"


class ShapeMismatchError(InvalidInputError):
    """Arrays whose lengths or dimensions do not fit together."""

    code = "SHAPE_MISMATCH"


class UnknownIdError(SightlineError, KeyError):
    """A user or item id that the model does not know.

    ``kind`` is ``"user"`` or ``"item"``, ``id`` the id that was looked up.
    """

    code = "UNKNOWN_ID"
    kind: Optional[str] = None
    id: Optional[str] = None

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(SightlineError, ValueError):
    """A configuration value is invalid; ``field`` names it (e.g. ``factors``)."""

    code = "CONFIG"
    field: Optional[str] = None


class ModelFormatError(SightlineError, OSError):
    """A model file or buffer is truncated, corrupt, foreign or of an
    unsupported version."""

    code = "MODEL_FORMAT"


class SightlineIOError(SightlineError, OSError):
    """An operating-system I/O error (file not found, permission denied, ...).

    ``errno`` and ``filename`` are set when known.
    """

    code = "IO"

    def __str__(self) -> str:  # OSError would format "[Errno n] strerror"
        message = str(self.args[0]) if self.args else ""
        return message if self.filename is None else f"{message}: {self.filename!r}"


class SightlineFileNotFoundError(SightlineIOError, FileNotFoundError):
    """A file that does not exist (``errno.ENOENT``)."""


class SightlinePermissionError(SightlineIOError, PermissionError):
    """A file or directory that may not be read or written (``errno.EACCES``)."""


class FitInterrupted(SightlineError, KeyboardInterrupt):
    """A long computation (fit, tuning) stopped by its caller. Also a
    ``KeyboardInterrupt``, so ``except KeyboardInterrupt`` handles it as it
    handles Ctrl-C."""

    code = "INTERRUPTED"
