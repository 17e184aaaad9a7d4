"""Inference backends (one module per method) and the shared amortized pre-training driver."""

from probnn.inference.pretrain import AmortizedModule, PretrainConfig, PretrainResult, pretrain

__all__ = ["AmortizedModule", "PretrainConfig", "PretrainResult", "pretrain"]
