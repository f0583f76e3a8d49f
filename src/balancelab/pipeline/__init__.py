"""The stages of one run that compute and then write: they call the layers below (training, evaluation) for
results and hand them to the file primitives (output). Nothing below imports them."""
