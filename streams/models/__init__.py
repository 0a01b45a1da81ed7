"""The live models: the registry, the category model, the learner that updates them exactly once."""
