"""Posterior predictive distributions: one small class per distribution kind, one interface."""

from probnn.predictive.bar import BarPredictive
from probnn.predictive.base import Predictive
from probnn.predictive.categorical import CategoricalPredictive
from probnn.predictive.gaussian import GaussianPredictive
from probnn.predictive.mixture import MixturePredictive
from probnn.predictive.student_t import StudentTPredictive
from probnn.predictive.transformed import AffinePredictive

__all__ = [
    "AffinePredictive",
    "BarPredictive",
    "CategoricalPredictive",
    "GaussianPredictive",
    "MixturePredictive",
    "Predictive",
    "StudentTPredictive",
]
