"""The feedback log: which memories were surfaced, and how they turned out. ``PSM_HOME/feedback.sqlite3``,
or PostgreSQL (``PSM_DATABASE_URL``) shared by every process of a deployment (:mod:`psm_core.coordination`).

```
retrievals  one row per recall whose memories reached an LLM (user key, run id, time)
surfaced    the memories of a retrieval with their content-free features and ranks
outcomes    helpful / irrelevant / corrected / neutral / explicit score, per memory of a retrieval, or of
            the retrieval as a whole (no memory id: log_retrieval_outcome)
profiles    per user, running sums of the utility profile (psm_core.feedback.profile); numbers only
```
Each retrieval also keeps the user's profile as it was when logged (the learning context).
No text and no embedding is ever written: :meth:`FeedbackLog.training_view` is what learning sees.
Erasing a user deletes their rows (:meth:`erase_user`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psm_core.coordination import Backend, Database, SQLiteBackend, Tx, backend_for
from psm_core.errors import InvalidInputError, NotFoundError
from psm_core.feedback.profile import PROFILE_KEYS, PROFILE_TRAITS, profile_increment, profile_vector
from psm_core.recall import RecallResult
from psm_core.skill.base import Candidate
from psm_core.skill.features import FEATURE_NAMES, candidate_features
from psm_core.stores.chroma import user_key

if TYPE_CHECKING:
    from psm_core.config import PSMSettings

__all__ = [
    "FeedbackLog",
    "OUTCOME_VALUES",
    "Outcome",
    "policy_version",
]


class Outcome(str, Enum):
    """What happened after memories were surfaced. A correction is the strongest negative signal."""

    HELPFUL = "helpful"
    NEUTRAL = "neutral"
    IRRELEVANT = "irrelevant"
    CORRECTED = "corrected"
    SCORE = "score"


OUTCOME_VALUES: dict[Outcome, float] = {
    Outcome.HELPFUL: 1.0,
    Outcome.NEUTRAL: 0.0,
    Outcome.IRRELEVANT: -0.5,
    Outcome.CORRECTED: -1.0,
}

_FEATURE_COLS = ", ".join(f'"{n}" REAL' for n in FEATURE_NAMES)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS retrievals (
    retrieval_id TEXT PRIMARY KEY, user_key TEXT NOT NULL, run_id TEXT, created_at REAL NOT NULL,
    user_time REAL NOT NULL, skill TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS retrievals_user ON retrievals(user_key);
CREATE INDEX IF NOT EXISTS retrievals_run ON retrievals(run_id);
CREATE TABLE IF NOT EXISTS surfaced (
    retrieval_id TEXT NOT NULL, user_key TEXT NOT NULL, memory_id TEXT NOT NULL, rank INTEGER NOT NULL,
    score REAL NOT NULL, {_FEATURE_COLS}, PRIMARY KEY (retrieval_id, memory_id)
);
CREATE INDEX IF NOT EXISTS surfaced_user ON surfaced(user_key);
CREATE TABLE IF NOT EXISTS outcomes (
    outcome_id INTEGER PRIMARY KEY AUTOINCREMENT, retrieval_id TEXT NOT NULL, user_key TEXT NOT NULL,
    memory_id TEXT, outcome TEXT NOT NULL, value REAL NOT NULL, source TEXT NOT NULL,
    created_at REAL NOT NULL, applied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outcomes_user ON outcomes(user_key, applied);
CREATE TABLE IF NOT EXISTS profiles (user_key TEXT PRIMARY KEY, n REAL NOT NULL DEFAULT 0);
"""
_PROFILE_COLS = [f"p_{t}" for t in PROFILE_TRAITS]  # running sums (profiles table)
_SNAPSHOT_COLS = [f"p_{k}" for k in PROFILE_KEYS]  # the profile when a retrieval was logged (retrievals table)
_TRAIT_COLS = ", ".join(f'"{t}"' for t in PROFILE_TRAITS)
_POLICY_VERSION = re.compile(r"\+policy-v(\d+)$")


def policy_version(skill_name: str) -> int:
    """The utility-policy version in a skill name such as ``baseline+policy-v3`` (0 without a policy)."""
    m = _POLICY_VERSION.search(skill_name or "")
    return int(m.group(1)) if m else 0


def _outcome_value(outcome: Outcome | str, score: float | None) -> tuple[Outcome, float]:
    """The outcome and its value (an explicit score in [-1, 1] for :attr:`Outcome.SCORE`)."""
    try:
        outcome = Outcome(outcome)
    except ValueError as exc:
        raise InvalidInputError(f"outcome {outcome!r}: use one of {[o.value for o in Outcome]}") from exc
    if outcome is not Outcome.SCORE:
        return outcome, OUTCOME_VALUES[outcome]
    if score is None or not -1.0 <= float(score) <= 1.0:
        raise InvalidInputError(f"an explicit score must be in [-1, 1], got {score!r}")
    return outcome, float(score)


class FeedbackLog:
    """Append-only log of retrievals and outcomes (thread-safe; a SQLite file or PostgreSQL).

    ``FeedbackLog(path)`` opens (or creates) a SQLite file; ``FeedbackLog(backend)`` uses a backend from
    :func:`psm_core.coordination.connect`; :meth:`for_settings` picks the one a :class:`PSMSettings` selects.
    """

    def __init__(self, target: Path | Backend) -> None:
        self.db = Database(SQLiteBackend(target) if isinstance(target, Path) else target)
        self.path = target if isinstance(target, Path) else None
        self.db.ensure(_SCHEMA, self._migrate)

    @classmethod
    def for_settings(cls, settings: PSMSettings) -> FeedbackLog:
        """The log of ``settings``: PostgreSQL at ``database_url``, else ``home/feedback.sqlite3``."""
        if not settings.database_url:
            return cls(settings.home / "feedback.sqlite3")
        return cls(backend_for(settings, "feedback.sqlite3"))

    def _migrate(self, tx: Tx) -> None:
        """Add the profile columns to logs written before profiles existed (idempotent)."""
        for table, columns in (("retrievals", _SNAPSHOT_COLS), ("profiles", _PROFILE_COLS)):
            have = self.db.columns(tx, table)
            for col in columns:
                if col not in have:
                    tx.execute(self.db.backend.ddl(f'ALTER TABLE {table} ADD COLUMN "{col}" REAL NOT NULL DEFAULT 0'))

    def close(self) -> None:
        self.db.close()

    def _write(self, sql_many: list[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        with self.db.tx() as tx:
            for sql, rows in sql_many:
                tx.executemany(sql, rows)

    def log_retrieval(self, user_id: str, result: RecallResult, *, skill: str, run_id: str | None = None) -> str:
        """Record that ``result``'s memories were surfaced (e.g. injected into a prompt); returns its id."""
        rid = uuid.uuid4().hex
        key = user_key(user_id)
        rows = []
        for rank, m in enumerate(result.memories):
            cand = Candidate(
                m.record,
                m.similarity,
                m.lexical,
                m.dense_rank,
                m.lexical_rank,
                m.neighbor_similarity,
                m.neighbor_lexical,
                m.speaker_match,
            )
            feats = candidate_features(cand, result.now)
            rows.append((rid, key, m.id, rank, m.score, *(feats[n] for n in FEATURE_NAMES)))
        cols = ", ".join(["retrieval_id", "user_key", "memory_id", "rank", "score", *(f'"{n}"' for n in FEATURE_NAMES)])
        marks = ", ".join("?" * (5 + len(FEATURE_NAMES)))
        prof = self._profile(key)
        rcols = ", ".join(["retrieval_id", "user_key", "run_id", "created_at", "user_time", "skill", *_SNAPSHOT_COLS])
        rmarks = ", ".join("?" * (6 + len(_SNAPSHOT_COLS)))
        self._write(
            [
                (
                    f"INSERT INTO retrievals ({rcols}) VALUES ({rmarks})",
                    [(rid, key, run_id, time.time(), result.now.timestamp(), skill, *prof.tolist())],
                ),
                (f"INSERT INTO surfaced ({cols}) VALUES ({marks})", rows),
            ]
        )
        return rid

    def log_outcome(
        self,
        user_id: str,
        retrieval_id: str,
        outcome: Outcome | str,
        *,
        memory_ids: Sequence[str] | None = None,
        score: float | None = None,
        source: str = "api",
    ) -> int:
        """Record the outcome of a retrieval (for all its memories, or only ``memory_ids``). Returns rows written."""
        outcome, value = _outcome_value(outcome, score)
        key = user_key(user_id)
        with self.db.read() as tx:
            self._check_retrieval(tx, key, retrieval_id)
            traits = tx.rows(f"SELECT memory_id, {_TRAIT_COLS} FROM surfaced WHERE retrieval_id=? ORDER BY rank", (retrieval_id,))
        surfaced = [r[0] for r in traits]
        ids = list(memory_ids) if memory_ids is not None else surfaced
        unknown = set(ids) - set(surfaced)
        if unknown:
            raise InvalidInputError(f"memories {sorted(unknown)} were not surfaced by retrieval {retrieval_id}")
        now = time.time()
        rows = [(retrieval_id, key, mid, outcome.value, value, source, now) for mid in ids]
        pos = {mid: i for i, mid in enumerate(surfaced)}
        inc = profile_increment([r[1:] for r in traits], [pos[m] for m in ids], value)
        sets = ", ".join(f'"{c}" = "{c}" + ?' for c in _PROFILE_COLS)
        self._write(
            [
                (
                    "INSERT INTO outcomes (retrieval_id, user_key, memory_id, outcome, value, source, created_at) VALUES (?,?,?,?,?,?,?)",
                    rows,
                ),
                ("INSERT INTO profiles (user_key) VALUES (?) ON CONFLICT (user_key) DO NOTHING", [(key,)]),
                (f"UPDATE profiles SET n = n + ?, {sets} WHERE user_key=?", [(len(ids), *inc.tolist(), key)]),
            ]
        )
        return len(rows)

    def log_retrieval_outcome(
        self, user_id: str, retrieval_id: str, outcome: Outcome | str, *, score: float | None = None, source: str = "api"
    ) -> int:
        """Record an outcome of a retrieval as a whole, attributed to none of its memories. Returns its row id.

        For a verdict that belongs to the retrieval, not to a memory: the user corrected the answer,
        but no surfaced memory carried what they corrected (:mod:`psm_core.feedback.attribution`).
        The row has no ``memory_id``: it changes no memory's strength, no profile and no training row.
        """
        outcome, value = _outcome_value(outcome, score)
        key = user_key(user_id)
        with self.db.tx() as tx:
            self._check_retrieval(tx, key, retrieval_id)
            return tx.insert(
                "INSERT INTO outcomes (retrieval_id, user_key, memory_id, outcome, value, source, created_at, applied) "
                "VALUES (?,?,NULL,?,?,?,?,1)",
                (retrieval_id, key, outcome.value, value, source, time.time()),
                "outcome_id",
            )

    @staticmethod
    def _check_retrieval(tx: Tx, key: str, retrieval_id: str) -> None:
        """:class:`NotFoundError` unless ``retrieval_id`` was logged for the user ``key``."""
        if not tx.rows("SELECT 1 FROM retrievals WHERE retrieval_id=? AND user_key=?", (retrieval_id, key)):
            raise NotFoundError(retrieval_id)

    def _profile(self, key: str) -> Any:
        cols = ", ".join(f'"{c}"' for c in _PROFILE_COLS)
        rows = self.db.rows(f"SELECT n, {cols} FROM profiles WHERE user_key=?", (key,))
        if not rows:
            return profile_vector([0.0] * len(PROFILE_TRAITS), 0.0)
        return profile_vector(rows[0][1:], rows[0][0])

    def user_profile(self, user_id: str) -> dict[str, float]:
        """The utility profile of ``user_id`` now (:data:`PROFILE_KEYS` -> number; zeros without outcomes)."""
        return dict(zip(PROFILE_KEYS, self._profile(user_key(user_id)).tolist()))

    def counts(self) -> dict[str, int]:
        """Numbers of retrievals, surfaced memories, outcomes and users with outcomes."""
        (row,) = self.db.rows(
            "SELECT (SELECT COUNT(*) FROM retrievals), (SELECT COUNT(*) FROM surfaced), (SELECT COUNT(*) FROM outcomes), "
            "(SELECT COUNT(DISTINCT retrieval_id) FROM outcomes), (SELECT COUNT(DISTINCT user_key) FROM outcomes)"
        )
        return dict(zip(("retrievals", "surfaced", "outcomes", "retrievals_with_outcomes", "users"), (int(v) for v in row)))

    def retrievals_for_run(self, run_id: str) -> list[tuple[str, str]]:
        """(retrieval_id, user_key) logged under an LLM ``run_id``."""
        return [
            (str(a), str(b)) for a, b in self.db.rows("SELECT retrieval_id, user_key FROM retrievals WHERE run_id=?", (run_id,))
        ]

    def surfaced_ids(self, retrieval_id: str) -> list[str]:
        return [
            str(r[0]) for r in self.db.rows("SELECT memory_id FROM surfaced WHERE retrieval_id=? ORDER BY rank", (retrieval_id,))
        ]

    def outcomes(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Outcome rows (of one user when given), oldest first; ``memory_id`` is None for a retrieval-level outcome."""
        sql = "SELECT outcome_id, retrieval_id, memory_id, outcome, value, source, created_at, applied FROM outcomes"
        args: tuple[Any, ...] = ()
        if user_id is not None:
            sql += " WHERE user_key=?"
            args = (user_key(user_id),)
        return self.db.query(sql + " ORDER BY outcome_id", args)

    def pending_effects(self, user_id: str) -> list[tuple[int, str, float]]:
        """(outcome_id, memory_id, value) not yet applied to the user's store."""
        rows = self.db.rows(
            "SELECT outcome_id, memory_id, value FROM outcomes WHERE user_key=? AND applied=0 AND memory_id IS NOT NULL "
            "ORDER BY outcome_id",
            (user_key(user_id),),
        )
        return [(int(i), str(m), float(v)) for i, m, v in rows]

    def mark_applied(self, outcome_ids: Sequence[int]) -> None:
        self._write([("UPDATE outcomes SET applied=1 WHERE outcome_id=?", [(i,) for i in outcome_ids])])

    def training_view(self, since: datetime | None = None) -> list[dict[str, float]]:
        """Content-free rows for learning: features, rank, score and outcome value; no text, no ids.

        Also ``retrieval`` (an ordinal grouping the rows of one retrieval within this view, in time
        order; not the stored id), ``t`` (when it was logged, epoch seconds), ``policy_version``
        (the utility policy that ranked it, 0 for none) and ``p_<key>`` (the user's profile then, :data:`PROFILE_KEYS`).
        """
        cols = ", ".join(f's."{n}"' for n in FEATURE_NAMES)
        pcols = ", ".join(f'r."{c}"' for c in _SNAPSHOT_COLS)
        sql = (
            f"SELECT s.rank, s.score, {cols}, o.value, r.created_at, r.skill, {pcols}, r.retrieval_id FROM surfaced s "
            "JOIN outcomes o ON o.retrieval_id = s.retrieval_id AND o.memory_id = s.memory_id "
            "JOIN retrievals r ON r.retrieval_id = s.retrieval_id"
        )
        args: tuple[Any, ...] = ()
        if since is not None:
            sql += " WHERE r.created_at >= ?"
            args = (since.timestamp(),)
        sql += " ORDER BY r.created_at, r.retrieval_id, s.rank, o.outcome_id"
        names = ["rank", "score", *FEATURE_NAMES, "value"]
        out: list[dict[str, float]] = []
        ordinal: dict[str, int] = {}
        rows = self.db.rows(sql, args)
        k = len(names)
        for row in rows:
            d: dict[str, float] = dict(zip(names, row[:k]))
            d["retrieval"] = ordinal.setdefault(row[-1], len(ordinal))
            d["t"] = row[k]
            d["policy_version"] = policy_version(row[k + 1])
            d.update(zip(_SNAPSHOT_COLS, row[k + 2 : -1]))
            out.append(d)
        return out

    def erase_user(self, user_id: str) -> None:
        """Delete every row of ``user_id`` and reclaim the space (SQLite: vacuumed, no byte left in the files;
        PostgreSQL: the rows are deleted, and the server's vacuum reuses their space)."""
        self.db.delete_user(("outcomes", "surfaced", "retrievals", "profiles"), user_key(user_id))
        self.db.reclaim(vacuum=True)
