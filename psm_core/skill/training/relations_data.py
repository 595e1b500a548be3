"""Real-text data for the attribute and relation heads: PersonaChat triplets and the memops scenarios.

```
load_persona(path)            utterances of ../shared/data/personas (head "i"/"my"), detokenised, with the
                              attribute of their relation (psm_core.attributes.PERSONA_RELATIONS)
persona_pairs(rows, …)        same relation + same tail → duplicate; same single-valued relation, other
                              tail → update; same multi-valued attribute, other tail → complement;
                              different attribute groups → unrelated
load_scenarios(path)          benchmarks/memops/scenarios/{train,test}.jsonl
scenario_pairs(scenarios)     (new, old, relation) of old/new and statement turns, and distractor pairs
scenario_statements(…)        labelled user turns with their attribute (MEMOPS_ATTRIBUTES), noise → none
```
The memops test split is for evaluation only: :func:`psm_core.skill.training.relations.train_relations`
reads the train split alone.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psm_core.attributes import NONE, PERSONA_RELATIONS
from psm_core.skill.base import Relation
from psm_core.skill.training.relations_curriculum import RelPair

__all__ = [
    "MEMOPS_ATTRIBUTES",
    "PersonaRow",
    "detokenize",
    "heldout_text",
    "load_persona",
    "load_scenarios",
    "persona_pairs",
    "scenario_pairs",
    "scenario_statements",
]

# the memops scenarios name the slot they test; this is its attribute in psm_core.attributes
# fmt: off
MEMOPS_ATTRIBUTES: dict[str, str] = {
    "address": "residence", "alcohol": "diet", "allergies": "health", "allergy": "health", "appointment_time": "appointment",
    "arrival_time": "appointment", "bank": "other", "bike": "vehicle", "birthday": "other", "birthday_other": "family",
    "birthplace": "hometown", "caffeine": "food_preference", "car": "vehicle", "car_colour": "vehicle",
    "car_inspection": "appointment", "car_ownership": "vehicle", "certifications": "skills", "child_age": "children",
    "child_school": "children", "child_school_year": "children", "child_shoe_size": "children", "children": "children",
    "class_level": "education", "club_schedule": "schedule", "collections": "possessions", "commute": "schedule",
    "diet": "diet", "dietary_restriction": "diet", "direct_reports": "colleagues", "diy": "hobbies", "doctor": "health",
    "email": "phone", "employer": "employer", "energy_supplier": "other", "event_day": "appointment",
    "exam_date": "appointment", "favourite_band": "favorite", "favourite_cafe": "favorite", "favourite_colour": "favorite",
    "favourite_food": "favorite", "favourite_show": "favorite", "festivals": "hobbies", "flight_date": "appointment",
    "flying": "travel", "friends": "friends", "goal": "plan", "guest_count": "plan", "gym": "membership",
    "hair_colour": "body", "handedness": "body", "health_conditions": "health", "hobbies": "hobbies",
    "home_type": "residence", "hometown": "hometown", "hourly_rate": "salary", "injuries": "health",
    "instruments": "hobbies", "internet_provider": "other", "intolerance": "health", "job_title": "job_title",
    "jobs": "job_title", "landlord": "residence", "languages": "languages", "laptop": "possessions",
    "liked_foods": "food_preference", "main_hobby": "hobbies", "manager": "manager", "manager_name": "manager",
    "marathon": "hobbies", "marital_status": "relationship_status", "medication_dose": "health",
    "meeting_room": "appointment", "meeting_time": "appointment", "mortgage_rate": "salary", "number_of_cats": "pets",
    "number_of_children": "children", "occupation": "job_title", "parent_residence": "family", "partner": "partner",
    "partner_job": "partner", "partner_name": "partner", "pet_name": "pets", "pet_status": "pets", "pets": "pets",
    "phone": "phone", "phone_number": "phone", "places_lived": "travel", "places_visited": "travel",
    "practice_day": "schedule", "programming": "skills", "project_lead": "manager", "rent": "salary",
    "rent_due_date": "appointment", "reservation_time": "appointment", "residence": "residence", "running_pb": "hobbies",
    "salary": "salary", "savings_goal": "plan", "sibling_name": "family", "siblings": "family",
    "sister_residence": "family", "smoking": "health", "study_subject": "education", "subscriptions": "possessions",
    "surgery": "health", "surname": "name", "swimming": "hobbies", "take_home_pay": "salary",
    "teams_supported": "membership", "therapy_day": "schedule", "train_time": "schedule", "university": "education",
    "vehicles": "vehicle", "vet": "pets", "volunteering": "membership", "wake_time": "schedule", "weight": "body",
    "work_pattern": "job_status", "work_shift": "job_status", "work_team": "colleagues", "working_hours": "job_status",
}
# fmt: on

# PersonaChat relations that hold one value at a time (a different tail of the same relation updates it); the
# other relations of single-valued attributes mix several keys (hair and height are both "physical_attribute")
_PERSONA_SINGLE = frozenset(
    {"live_in_citystatecountry", "employed_by_company", "has_profession", "employed_by_general", "marital_status", "name",
     "favorite_color", "favorite_season", "favorite_movie", "favorite_show", "favorite_book", "favorite_music_artist",
     "favorite_sport", "favorite_animal", "favorite_drink", "favorite_place", "favorite_hobby", "diet"}
)  # fmt: skip
_PERSONA_SKIP = frozenset({"other", "fears", "plan"})  # loose attributes: no pairs from them
_MARITAL = frozenset({"married", "single", "engaged", "divorced", "widow", "widowed", "dating"})
# attribute groups: persona pairs of different groups are unrelated
_GROUPS: dict[str, str] = {
    "residence": "place", "hometown": "place", "travel": "place", "employer": "work", "job_title": "work",
    "job_status": "work", "manager": "work", "colleagues": "work", "salary": "work", "education": "education",
    "partner": "people", "relationship_status": "people", "children": "people", "family": "people", "friends": "people",
    "pets": "pets", "vehicle": "things", "phone": "things", "possessions": "things", "diet": "food",
    "food_preference": "food", "health": "health", "body": "health", "appointment": "time", "schedule": "time",
    "hobbies": "leisure", "favorite": "leisure", "skills": "leisure", "membership": "leisure", "languages": "leisure",
    "name": "self", "identity": "self", "beliefs": "self",
}  # fmt: skip


@dataclass(frozen=True)
class PersonaRow:
    text: str
    relation: str
    attribute: str
    tail: str


def detokenize(text: str) -> str:
    """PersonaChat's lowercased, space-tokenised text as people type it: "i am . you ?" → "I am. You?"."""
    t = re.sub(r"\s+([.,!?;:])", r"\1", text.strip())
    t = re.sub(r"\s+(n't|'s|'m|'re|'ve|'ll|'d)\b", r"\1", t)
    t = re.sub(r"\bi\b", "I", t)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), t)


def heldout_text(text: str, share: int = 10) -> bool:
    """The stable held-out share of texts (1 in ``share``, by hash)."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) % share == 0


def _tail(tail: str) -> str:
    t = tail.lower().strip()
    return t[:-1] if t.endswith("s") and len(t) > 3 else t


def load_persona(path: Path) -> list[PersonaRow]:
    """Utterances whose head is the speaker ("i" / "my"), with the attribute of their relation."""
    rows = []
    seen: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("head") not in ("i", "my") or r.get("relation") not in PERSONA_RELATIONS:
                continue
            text = detokenize(r["text"])
            if not text or text in seen:
                continue
            seen.add(text)
            rows.append(PersonaRow(text, r["relation"], PERSONA_RELATIONS[r["relation"]], _tail(r["tail"])))
    return rows


def _short(row: PersonaRow) -> bool:
    """One or two sentences that name the tail: the pair is about the labelled fact."""
    return len(re.findall(r"[.!?](\s|$)", row.text)) <= 2 and row.tail.split()[0][:4] in row.text.lower()


def persona_pairs(rows: Sequence[PersonaRow], rng: random.Random, per_class: int, unrelated_pool: int = 4) -> list[RelPair]:
    """Pairs of utterances of different speakers read as if one speaker said both (see the module docstring).

    Unrelated pairs are drawn ``unrelated_pool`` times over; the caller keeps the most similar ones (hard negatives)."""
    usable = [r for r in rows if r.attribute not in _PERSONA_SKIP and _short(r)]
    by_rel_tail: dict[tuple[str, str], list[PersonaRow]] = defaultdict(list)
    by_rel: dict[str, list[PersonaRow]] = defaultdict(list)
    by_attr: dict[str, list[PersonaRow]] = defaultdict(list)
    for r in usable:
        if r.relation == "marital_status" and r.tail not in _MARITAL:
            continue
        by_rel_tail[(r.relation, r.tail)].append(r)
        by_rel[r.relation].append(r)
        by_attr[r.attribute].append(r)
    out: list[RelPair] = []
    dup_keys = sorted(k for k, v in by_rel_tail.items() if len(v) >= 2)
    for _ in range(per_class):
        a, b = rng.sample(by_rel_tail[rng.choice(dup_keys)], 2)
        out.append(RelPair(a.text, b.text, Relation.DUPLICATE, "persona"))
    single = sorted(k for k in by_rel if k in _PERSONA_SINGLE and len({r.tail for r in by_rel[k]}) >= 2)
    n = 0
    while n < per_class:
        rel = rng.choice(single)
        a, b = rng.sample(by_rel[rel], 2)
        if a.tail != b.tail and a.tail not in b.text.lower() and b.tail not in a.text.lower():
            out.append(RelPair(a.text, b.text, Relation.UPDATE, "persona"))
            n += 1
    multi = sorted(a for a in by_attr if a in _GROUPS and _multi(a) and len(by_attr[a]) >= 2)
    n = 0
    while n < per_class:
        a, b = rng.sample(by_attr[rng.choice(multi)], 2)
        if a.tail != b.tail and a.tail not in b.text.lower() and b.tail not in a.text.lower():
            out.append(RelPair(a.text, b.text, Relation.COMPLEMENT, "persona"))
            n += 1
    grouped = [r for r in usable if r.attribute in _GROUPS]
    n = 0
    while n < per_class * unrelated_pool:
        a, b = rng.sample(grouped, 2)
        if _GROUPS[a.attribute] != _GROUPS[b.attribute]:
            out.append(RelPair(a.text, b.text, Relation.UNRELATED, "persona"))
            n += 1
    return out


def _multi(attribute: str) -> bool:
    from psm_core.attributes import attribute as taxonomy_attribute

    return taxonomy_attribute(attribute).cardinality == "multi"


def load_scenarios(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scenario_pairs(scenarios: Sequence[dict[str, Any]], *, distractors: bool = True) -> list[RelPair]:
    """(new, old, relation) pairs of each scenario: its old → new turns (kind ``memops:<scenario type>``: update,
    correction, complement), its statement turns in order (restatement → duplicate, never → contradiction),
    and, with ``distractors``, every distractor turn against every labelled turn (unrelated; the later turn is new)."""
    out: list[RelPair] = []
    for s in scenarios:
        turns = s["turns"]
        rel = s["relation"]
        for o in s["old_turns"]:
            for n in s["new_turns"]:
                out.append(RelPair(turns[n]["text"], turns[o]["text"], Relation(rel), f"memops:{s['type']}"))
        st = s["statement_turns"]
        if rel in ("duplicate", "contradiction"):
            for i, a in enumerate(st):
                for b in st[i + 1 :]:
                    if turns[a]["text"].strip() != turns[b]["text"].strip() or rel == "duplicate":
                        out.append(RelPair(turns[b]["text"], turns[a]["text"], Relation(rel), f"memops:{s['type']}"))
        if distractors:
            labelled = [*s["old_turns"], *s["new_turns"], *st]
            for d, t in enumerate(turns):
                if t["label"] != "distractor":
                    continue
                for j in labelled:
                    new, old = (d, j) if d > j else (j, d)
                    out.append(RelPair(turns[new]["text"], turns[old]["text"], Relation.UNRELATED, "memops:distractor"))
    return out


def scenario_statements(scenarios: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(text, attribute) of each scenario's labelled statements (old, new, statement turns; attribute from
    :data:`MEMOPS_ATTRIBUTES`) and of its user noise turns (``none``)."""
    out: list[tuple[str, str]] = []
    for s in scenarios:
        attr = MEMOPS_ATTRIBUTES.get(s["attribute"])
        for t in s["turns"]:
            if t["label"] in ("old", "new", "statement") and attr is not None:
                out.append((t["text"], attr))
            elif t["label"] == "noise" and t["role"] == "user":
                out.append((t["text"], NONE))
    return out
