"""Feedback: the content-free log of retrievals and outcomes, and the utility policy learned from it.

```
attribution.py  which surfaced memories an answer used, which a correction blames; outcomes of the next user turn
tracker.py   FeedbackTracker: offered memories -> LLM call -> answer -> the user's next turn (the adapters' core)
log.py       FeedbackLog: retrievals, surfaced memories (features), outcomes, user profiles (SQLite)
profile.py   a user's utility profile: which traits their helpful memories had (numbers only)
policy.py    UtilityPolicy (shared weights) and PolicySkill (wraps any MemorySkill)
versions.py  PolicyStore: versioned weights under PSM_HOME/policy, active pointer, rollback
events.py    feedback events as arrays, NDCG of held-out retrievals
learn.py     learn / update_policy: train from the log behind a held-out safety gate
simulate.py  simulated users with hidden utility, for the learning curve and tests
cli.py       `psm learn`
```
"""

from psm_core.feedback.attribution import blamed_memories, correction_terms, group_by_outcome, memory_outcomes, used_memories
from psm_core.feedback.learn import LearnReport, learn, update_policy
from psm_core.feedback.log import OUTCOME_VALUES, FeedbackLog, Outcome
from psm_core.feedback.policy import PolicySkill, UtilityPolicy
from psm_core.feedback.profile import PROFILE_KEYS, PROFILE_TRAITS
from psm_core.feedback.tracker import FeedbackTracker, Verdict
from psm_core.feedback.versions import PolicyStore

__all__ = [
    "FeedbackLog",
    "FeedbackTracker",
    "LearnReport",
    "OUTCOME_VALUES",
    "Outcome",
    "PROFILE_KEYS",
    "PROFILE_TRAITS",
    "PolicySkill",
    "PolicyStore",
    "UtilityPolicy",
    "Verdict",
    "blamed_memories",
    "correction_terms",
    "group_by_outcome",
    "learn",
    "memory_outcomes",
    "update_policy",
    "used_memories",
]
