"""Training: loss, optimizers, learning-rate schedules, checkpoints and the loop."""
