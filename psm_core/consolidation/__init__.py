"""Sleep-time consolidation: the background pass that reorganizes each user's memory.

```
Consolidator        the service of a PSM (``psm.consolidation``): passes, queue, review, worker
├── ConsolidationPass   one crash-safe pass over one user (steps in pass_.STEPS)
├── JobQueue            durable SQLite queue: leases, retries with backoff
├── ReviewLog           flagged conflicts and their logged resolutions
└── Worker              background thread running due jobs and idle users
ConsolidationConfig  thresholds and schedules;  PassReport  what one pass changed
```
"""

from psm_core.consolidation.config import ConsolidationConfig
from psm_core.consolidation.consolidator import Consolidator
from psm_core.consolidation.jobs import Job, JobQueue
from psm_core.consolidation.pass_ import STEPS, ConsolidationPass, PassReport
from psm_core.consolidation.plan import PassPlan, fact_id
from psm_core.consolidation.review import Conflict, ReviewLog
from psm_core.consolidation.worker import Worker
from psm_core.consolidation.writes import ConsolidationAborted

__all__ = [
    "Conflict",
    "ConsolidationAborted",
    "ConsolidationConfig",
    "ConsolidationPass",
    "Consolidator",
    "Job",
    "JobQueue",
    "PassPlan",
    "PassReport",
    "ReviewLog",
    "STEPS",
    "Worker",
    "fact_id",
]
