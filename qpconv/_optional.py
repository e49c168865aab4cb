"""Optional dependencies: import them, or say which extra of qpconv installs them.

``pip install qpconv`` installs the layer with torch only. The PennyLane reference
backend, the replication wing, the book and the tests each have an extra (see
``pyproject.toml``); a feature whose extra is missing raises an :class:`ImportError`
that names the extra to install, before any work starts.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Sequence
from types import ModuleType

__all__ = ["import_optional", "require_installed"]


def _message(feature: str, missing: Sequence[str], extra: str) -> str:
    verb = "is" if len(missing) == 1 else "are"
    return f"{feature} needs {', '.join(missing)}, which {verb} not installed: pip install 'qpconv[{extra}]'"


def import_optional(module: str, *, extra: str, feature: str) -> ModuleType:
    """``import module``, or an ImportError naming the extra that installs it.

    Args:
        module: the module to import, e.g. ``"pennylane"``.
        extra: the qpconv extra that installs it, e.g. ``"pennylane"``.
        feature: what needs it, for the message, e.g. ``"the PennyLane backend"``.

    Raises:
        ImportError: ``module`` is not installed; the message says
            ``pip install 'qpconv[<extra>]'``.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and module.split(".")[0] != error.name.split(".")[0]:
            raise  # the module is there, but something it imports is broken: not a missing extra
        raise ImportError(_message(feature, [module], extra)) from error


def require_installed(modules: Iterable[str], *, extra: str, feature: str) -> None:
    """Check, without importing them, that ``modules`` are installed.

    Raises:
        ImportError: one or more are missing; the message lists them and the extra to install.
    """
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise ImportError(_message(feature, missing, extra))
