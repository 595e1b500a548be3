"""The taxonomy of personal attributes a fact can be about, and whether each holds one value or many.

A later value of a *single*-valued attribute updates the earlier one (where one lives, employer,
partner, an appointment's time); a new value of a *multi*-valued one complements it (pets, languages,
places visited). Single-valued attributes that exist once per object (an appointment, a medication, a
team) are keyed by that object too: the physio appointment moving does not touch the dentist's.
``other`` is the open class: a personal statement that fits none of the named attributes; two ``other``
statements relate only through the skill's reading of the pair.

The PersonaChat relations of ``../shared/data/personas`` (PersonaExt) map onto this taxonomy with
:data:`PERSONA_RELATIONS` (used to train PSM-mini's attribute head).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_NAMES",
    "Attribute",
    "FAMILIES",
    "NONE",
    "OTHER",
    "PERSONA_RELATIONS",
    "attribute",
    "family",
    "is_single",
]

Cardinality = Literal["single", "multi"]


@dataclass(frozen=True)
class Attribute:
    """One personal attribute: its name, cardinality, a description and cue words (for rules and docs)."""

    name: str
    cardinality: Cardinality
    description: str
    cues: tuple[str, ...] = ()
    keyed: bool = False  # single-valued per object (an appointment, a medication): the object is part of the slot


OTHER = "other"
NONE = "none"  # not a personal statement at all (questions, chit-chat, statements about the world)

ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        "residence",
        "single",
        "where one lives now (city, country, home)",
        ("live", "moved", "flat", "apartment", "house", "home", "rent"),
    ),
    Attribute("hometown", "single", "where one comes from, grew up", ("grew up", "from", "born", "hometown")),
    Attribute(
        "employer",
        "single",
        "the company or organisation one works for",
        ("work at", "work for", "employer", "company", "join", "start at", "hired"),
    ),
    Attribute(
        "job_title",
        "single",
        "one's job, role, profession, position",
        ("job", "role", "position", "promoted", "work as", "i'm a", "career"),
    ),
    Attribute(
        "job_status",
        "single",
        "employed, unemployed, retired, on leave, work pattern",
        ("retired", "unemployed", "laid off", "part-time", "full-time", "shift", "remote"),
    ),
    Attribute("manager", "single", "one's boss or line manager", ("manager", "boss", "supervisor", "reports to")),
    Attribute(
        "colleagues", "multi", "coworkers, team members, direct reports", ("colleague", "coworker", "team", "direct report")
    ),
    Attribute("salary", "single", "income, pay, salary, rent paid", ("salary", "earn", "paid", "pay", "income", "raise")),
    Attribute(
        "education",
        "single",
        "school, university, degree, subject studied, grade",
        ("study", "school", "university", "college", "degree", "major", "grade", "class"),
    ),
    Attribute(
        "partner",
        "single",
        "one's partner, spouse, boyfriend, girlfriend",
        ("partner", "wife", "husband", "boyfriend", "girlfriend", "fiance", "dating", "married to"),
    ),
    Attribute(
        "relationship_status",
        "single",
        "single, married, divorced, engaged",
        ("single", "married", "divorced", "engaged", "widowed", "broke up", "split up"),
    ),
    Attribute("children", "multi", "one's children, their names and ages", ("son", "daughter", "kid", "child", "baby")),
    Attribute(
        "family",
        "multi",
        "parents, siblings, relatives",
        ("mother", "mom", "mum", "father", "dad", "brother", "sister", "sibling", "aunt", "uncle", "grandma", "cousin"),
    ),
    Attribute("friends", "multi", "friends and other people in one's life", ("friend", "buddy", "neighbour", "neighbor")),
    Attribute(
        "pets",
        "multi",
        "pets one has, their names, kind and state",
        ("dog", "cat", "pet", "puppy", "kitten", "hamster", "parrot", "fish"),
    ),
    Attribute(
        "vehicle",
        "single",
        "the car, bike or other vehicle one owns, its colour or model",
        ("car", "drive", "truck", "bike", "motorbike", "scooter", "van"),
    ),
    Attribute("phone", "single", "phone, phone number, email, contact details", ("phone", "number", "email", "mobile")),
    Attribute("possessions", "multi", "other things one owns", ("own", "bought", "have a", "collection", "laptop")),
    Attribute(
        "diet",
        "single",
        "what one eats or avoids as a rule (vegetarian, vegan, keto)",
        ("vegetarian", "vegan", "keto", "diet", "gluten", "kosher", "halal"),
    ),
    Attribute(
        "health",
        "multi",
        "conditions, injuries, allergies, medications, fitness",
        ("allergic", "allergy", "injury", "sick", "diagnosed", "medication", "surgery", "pain", "asthma"),
    ),
    Attribute(
        "body", "single", "physical attributes: hair, height, weight, age", ("hair", "tall", "weigh", "years old", "age", "eyes")
    ),
    Attribute(
        "appointment",
        "single",
        "a scheduled appointment, meeting, reservation or deadline and its time",
        ("appointment", "meeting", "booked", "reservation", "scheduled", "dentist", "doctor", "interview", "due"),
        keyed=True,
    ),
    Attribute(
        "plan",
        "multi",
        "plans, trips, goals and intentions",
        ("plan", "going to", "will", "trip", "next week", "goal", "want to", "hope to"),
    ),
    Attribute("travel", "multi", "places visited or lived in before", ("visited", "been to", "travelled", "traveled", "trip to")),
    Attribute(
        "food_preference",
        "multi",
        "foods and drinks one likes or dislikes",
        ("love", "like", "favourite food", "eat", "drink", "coffee", "tea", "wine"),
    ),
    Attribute(
        "favorite",
        "single",
        "a favourite thing of one kind (colour, band, show, book, season)",
        ("favourite", "favorite", "best"),
        keyed=True,
    ),
    Attribute(
        "hobbies",
        "multi",
        "activities, sports and hobbies",
        ("hobby", "play", "enjoy", "like to", "running", "hiking", "paint", "read"),
    ),
    Attribute("languages", "multi", "languages one speaks or learns", ("speak", "language", "fluent", "learning")),
    Attribute(
        "skills",
        "multi",
        "abilities, programming languages and tools one knows",
        ("can", "know how", "skill", "programming", "python", "used"),
    ),
    Attribute("beliefs", "multi", "religion, politics, values", ("believe", "religion", "christian", "muslim", "vote")),
    Attribute(
        "membership",
        "multi",
        "clubs, teams and groups one belongs to or supports",
        ("member", "club", "support", "team", "gym", "volunteer"),
    ),
    Attribute(
        "schedule",
        "single",
        "routines and times: when one wakes, trains, commutes",
        ("every", "usually", "wake", "commute", "morning", "routine"),
        keyed=True,
    ),
    Attribute("quantity", "single", "a count or amount of something one has or does", ("how many", "number of"), keyed=True),
    Attribute("name", "single", "one's own name, surname or nickname", ("my name", "call me", "surname")),
    Attribute("identity", "single", "gender, nationality, ethnicity", ("nationality", "citizen", "gender")),
    Attribute("fears", "multi", "fears, worries and dislikes of situations", ("afraid", "scared", "fear", "worry", "hate")),
    Attribute(OTHER, "multi", "a personal statement that fits no named attribute"),
)

ATTRIBUTE_NAMES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)
_BY_NAME = {a.name: a for a in ATTRIBUTES}

PERSONA_RELATIONS: dict[str, str] = {
    "live_in_citystatecountry": "residence", "live_in_general": "residence", "place_origin": "hometown",
    "employed_by_company": "employer", "pre_employed_by_company": "employer", "employed_by_general": "job_title",
    "has_profession": "job_title", "want_job": "plan", "job_status": "job_status", "work_schedule": "job_status",
    "dislike_job": "job_title", "attend_school": "education", "school_status": "education", "has_degree": "education",
    "like_subject": "education", "dislike_subject": "education", "marital_status": "relationship_status",
    "relationship": "relationship_status", "have_chidren": "children", "have_children": "children",
    "have_no_children": "children", "have_family": "family", "have_sibling": "family", "have_no_sibling": "family",
    "have_no_family": "family", "fall_out": "family", "get_along": "family", "have_pet": "pets",
    "like_animal": "pets", "favorite_animal": "favorite", "dislike_animal": "fears", "have_vehicle": "vehicle",
    "own": "possessions", "have_no": "possessions", "diet": "diet", "do_not_eat": "diet", "like_food": "food_preference",
    "dislike_food": "food_preference", "like_drink": "food_preference", "dislike_drink": "food_preference",
    "favorite_drink": "favorite", "do_not_drink": "diet", "health_status": "health", "physical_attribute": "body",
    "gender": "identity", "race": "identity", "name": "name", "like_activity": "hobbies", "favorite_hobby": "hobbies",
    "has_ability": "skills", "weakness": "skills", "like_sport": "hobbies", "favorite_sport": "favorite",
    "dislike_sport": "hobbies", "dislike_activity": "hobbies", "like_read": "hobbies", "like_watching": "hobbies",
    "like_music": "hobbies", "like_general": "hobbies", "like_character": "hobbies", "favorite_music_artist": "favorite",
    "favorite_color": "favorite", "like_color": "favorite", "dislike_color": "favorite", "favorite_season": "favorite",
    "favorite_movie": "favorite", "favorite_show": "favorite", "favorite_book": "favorite", "favorite_place": "favorite",
    "dislike_music": "hobbies", "belief": "beliefs", "member_of": "membership", "international_exp": "travel",
    "used_to": OTHER, "doing": "hobbies", "do_not_do": OTHER, "want_no": OTHER, "want_do": "plan", "want": "plan",
    "dislike": "fears", "scared_of": "fears", "worry_about": "fears", "allergy_to": "health", "other": OTHER,
}  # fmt: skip
"""PersonaChat (PersonaExt) relation → attribute of this taxonomy."""


FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"employer", "job_title", "job_status", "manager", "colleagues", "salary"}),
    frozenset({"residence", "hometown", "travel"}),
    frozenset({"partner", "relationship_status"}),
    frozenset({"children", "family", "friends"}),
    frozenset({"diet", "food_preference", "health"}),
    frozenset({"hobbies", "membership", "schedule", "skills", "languages"}),
    frozenset({"vehicle", "possessions", "phone"}),
    frozenset({"appointment", "plan", "schedule"}),
)
"""Attributes whose statements may replace one another ("I'm a nurse at St Mary's" → "I started at Anybotics"):
a new fact is compared with the speaker's facts of every attribute of its families."""


def family(name: str) -> frozenset[str]:
    """``name`` and the attributes it shares a family with."""
    out = {name}
    for fam in FAMILIES:
        if name in fam:
            out |= fam
    return frozenset(out)


def attribute(name: str) -> Attribute:
    """The attribute ``name`` (``other`` for names this taxonomy does not know)."""
    return _BY_NAME.get(name, _BY_NAME[OTHER])


def is_single(name: str) -> bool:
    """Whether attribute ``name`` holds one value at a time (a new value updates the old one)."""
    return attribute(name).cardinality == "single"
