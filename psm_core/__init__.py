"""PSM: a Personal Small Model curates each user's tiered long-term memory.

```python
from psm_core import PSM
psm = PSM.local()
mem = psm.for_user("alice")
mem.observe("I moved to Lisbon last spring", session_id="s1")
print(mem.recall("where does alice live?").format_context())
```
"""

from psm_core.config import PSMSettings
from psm_core.errors import (
    ConfigurationError,
    EmptyTextError,
    InvalidInputError,
    InvalidUserIdError,
    MissingDependencyError,
    NotFoundError,
    PSMClosedError,
    PSMError,
    SkillError,
    StoreError,
    StoreLockedError,
    TextTooLongError,
    VersionConflictError,
)
from psm_core.memory import MemoryStats, UserMemory
from psm_core.psm import PSM
from psm_core.recall import RecallResult, ScoredMemory
from psm_core.types import Event, Kind, MemoryRecord, Status, Tier

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "EmptyTextError",
    "Event",
    "InvalidInputError",
    "InvalidUserIdError",
    "Kind",
    "MemoryRecord",
    "MemoryStats",
    "MissingDependencyError",
    "NotFoundError",
    "PSM",
    "PSMClosedError",
    "PSMError",
    "PSMSettings",
    "RecallResult",
    "ScoredMemory",
    "SkillError",
    "Status",
    "StoreError",
    "StoreLockedError",
    "TextTooLongError",
    "Tier",
    "UserMemory",
    "VersionConflictError",
    "__version__",
]
