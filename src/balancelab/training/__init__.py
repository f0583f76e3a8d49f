"""Training: device and seeding, on-device batches, optimisation and the epoch loop."""
