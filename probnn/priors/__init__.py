from probnn.priors.scale import BurrXII  # noqa: F401
