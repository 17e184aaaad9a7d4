"""Evaluation: the model zoo that ``probnn demo`` / ``probnn evaluate`` iterate over, and a runner."""

from probnn.evaluation.runner import EvaluationResult, evaluate_entry, summarise
from probnn.evaluation.zoo import ZOO, ZooEntry, register_entry

__all__ = ["ZOO", "EvaluationResult", "ZooEntry", "evaluate_entry", "register_entry", "summarise"]
