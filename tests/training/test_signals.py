"""StopSignals: the first signal asks to stop after the batch, a second one stops at once, handlers come back."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from balancelab.training.signals import StopSignals, no_stop


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2"])
def test_a_signal_is_recorded_not_obeyed(name, caplog):
    sig = getattr(signal, name)
    with caplog.at_level("WARNING", logger="balancelab"), StopSignals() as stop:
        assert stop() is None
        os.kill(os.getpid(), sig)
        time.sleep(0.01)  # the handler runs in the main thread at its next check
        assert stop() == name
    assert f"{name} received" in caplog.text and "send it again to stop at once" in caplog.text


def test_the_handlers_before_are_back_afterwards():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    with StopSignals():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before


def test_hand_over_passes_the_signal_to_the_handler_that_was_there_before():
    got = []
    old = signal.signal(signal.SIGUSR2, lambda signum, frame: got.append(signum))
    try:
        with StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.01)
        assert got == []  # ours took it while installed
        stop.hand_over()
        assert got == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_hand_over_does_not_raise_keyboard_interrupt_for_ctrl_c():
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
    stop.hand_over()  # Python's default SIGINT handler would raise KeyboardInterrupt: the state is saved already


def test_outside_the_main_thread_nothing_is_installed():
    result = {}

    def body():
        before = signal.getsignal(signal.SIGTERM)
        with StopSignals() as stop:
            result["same"] = signal.getsignal(signal.SIGTERM) is before
            result["stop"] = stop()

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert result == {"same": True, "stop": None} and no_stop() is None


SECOND_SIGNAL = textwrap.dedent("""
    import os, signal, sys, time
    from balancelab.training.signals import StopSignals
    sig = getattr(signal, sys.argv[1])
    with StopSignals() as stop:
        os.kill(os.getpid(), sig)
        deadline = time.time() + 5
        while stop() is None and time.time() < deadline:
            time.sleep(0.01)
        print("first:", stop(), flush=True)
        os.kill(os.getpid(), sig)
        time.sleep(30)
        print("still running after the second signal", flush=True)
""")


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGUSR1"])
def test_a_second_signal_stops_at_once_the_way_the_signal_stops_a_process(name):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", SECOND_SIGNAL, name], capture_output=True, text=True, timeout=60)
    assert result.returncode == -getattr(signal, name), result.stderr[-2000:]
    assert time.monotonic() - started < 20
    assert f"first: {name}" in result.stdout and "still running" not in result.stdout
    assert f"Second {name}: stopping immediately" in result.stderr
