"""The command line: everything before Hydra runs a job (argument parsing, composing the jobs, the pre-flight
checks, output roots, ``--help``, the rewriting of Hydra's messages) and the console entry points."""
