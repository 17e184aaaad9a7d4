"""Datasets: UCI-format folders, scikit-learn's offline sets, and synthetic prior tasks."""

from probnn.datasets.tasks import TaskBatch, sample_task_batch, uniform_inputs

__all__ = ["TaskBatch", "sample_task_batch", "uniform_inputs"]
