"""The process-wide default PSM that the LangChain and LlamaIndex adapters use when built without ``psm=``."""

from __future__ import annotations

import atexit
import logging
import threading

from psm_core.psm import PSM

__all__ = ["default_psm"]

logger = logging.getLogger(__name__)

_default: PSM | None = None
_default_lock = threading.Lock()


def default_psm() -> PSM:
    """The process-wide ``PSM.local()`` used when an adapter is built without ``psm=`` (closed at exit).

    An embedded store has one writer per process, so every adapter without an explicit PSM shares it.
    Once it is closed, the next adapter built without ``psm=`` gets a fresh one.
    """
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = PSM.local()
            atexit.register(_default.close)
            logger.info("created the default PSM at %s", _default.settings.home)
        return _default
