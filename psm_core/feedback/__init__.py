"""Feedback: the content-free log of retrievals and their outcomes (the training signal)."""

from psm_core.feedback.log import OUTCOME_VALUES, FeedbackLog, Outcome

__all__ = [
    "FeedbackLog",
    "OUTCOME_VALUES",
    "Outcome",
]
