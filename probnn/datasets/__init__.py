"""Datasets: UCI-format folders, scikit-learn's offline sets, and synthetic prior tasks."""

from probnn.datasets.tasks import TaskBatch, sample_task_batch, uniform_inputs

__all__ = ["TaskBatch", "sample_task_batch", "uniform_inputs"]
from probnn.datasets.sklearn import load_sklearn
from probnn.datasets.split import DataSplit
from probnn.datasets.uci import load_uci, num_splits

__all__ += ["DataSplit", "load_sklearn", "load_uci", "num_splits"]
