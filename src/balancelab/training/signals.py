"""Graceful stop: a signal asks training to stop after the current batch, save its state, and exit.

SIGTERM (a scheduler's kill, ``kill``), SIGINT (Ctrl-C) and SIGUSR1 (SLURM's warning before a time
limit, with ``--signal=USR1@<seconds>``) set a flag that the training loop reads after every batch;
the loop saves the full state and raises ``Interrupted``. A second signal stops at once, with the
signal's default action. After the state is saved, :meth:`StopSignals.hand_over` passes the signal
on to a handler that was installed before ours (submitit's, which requeues a SLURM job), so the
cluster launcher's own protocol still runs.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Callable, Dict, Optional

log = logging.getLogger("balancelab")
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2")


class StopSignals:
    def __init__(self, names=STOP_SIGNALS):
        self.signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
        self.received: Optional[int] = None
        self.previous: Dict[int, object] = {}
        self.pid = os.getpid()

    def __call__(self) -> Optional[str]:
        """The name of the signal that asked to stop, or None."""
        return None if self.received is None else signal.Signals(self.received).name

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self.pid:  # a forked child inherited the handler: the parent does the saving
            return
        if self.received is not None:  # second signal: stop now, the way the signal normally stops a process
            log.error("Second %s: stopping immediately without saving.", signal.Signals(signum).name)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received = signum
        log.warning("%s received: finishing the current batch, then saving the training state "
                    "(send it again to stop at once).", signal.Signals(signum).name)

    def hand_over(self) -> None:
        """Give the received signal to the handler that was there before ours (e.g. submitit's requeue)."""
        previous = self.previous.get(self.received)
        # Python's own SIGINT handler only raises KeyboardInterrupt: the state is saved, we exit ourselves.
        if callable(previous) and previous is not signal.default_int_handler:
            previous(self.received, None)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for sig in self.signals:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.previous = {sig: h for sig, h in self.previous.items()}  # kept for hand_over after exit


def no_stop() -> Optional[str]:
    return None


StopCheck = Callable[[], Optional[str]]
