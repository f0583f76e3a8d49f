"""The run folder: where it is, whether it may be written, and how files land in it."""
