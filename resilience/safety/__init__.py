"""Guards that stand between an experiment and a system it must not touch."""
