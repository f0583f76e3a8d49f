"""An image folder several times larger than a memory budget trains within it, and its decoded cache is reused.

Peak resident memory is measured from outside: the run's anonymous resident memory (``RssAnon`` in
``/proc/<pid>/status``, polled every 20 ms; a copy of the images would stay resident for the whole run) against
the same run on a tiny folder. What the process needs besides the images is the same in both, so the difference
is what the images cost. (The file-backed part of the resident set is left out: it is torch's shared libraries,
about 600 MB, whose pages come and go at start and exit and say nothing about the data.)
"""

import os
import subprocess
import threading
import time

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import BIN

pytestmark = pytest.mark.slow

SIZE = 160       # the side the images are decoded to (from small files: cheap to make and decode)
FILE_SIZE = 40
FILES = 4000
BUDGET_MB = 64  # what the data may add to the process's peak resident memory
RUN = ["model=small_cnn", "model.width=0.25", f"model.input_size={SIZE}", "trainer.budget=steps", "trainer.steps=40",
       "trainer.epochs=1", "trainer.batch_size=8", "trainer.eval_batch_size=8", "logger=none", "trainer.num_threads=1",
       "dataset.val_fraction=0.02", "dataset.test_fraction=0.02", "trainer.data_on_device=false",
       "balancing=random_oversampling"]  # small batches: the activations' memory stays small beside the data


def _folder(root, n):
    import cv2

    rng = np.random.default_rng(0)
    for c, share in enumerate((0.6, 0.3, 0.1)):  # long-tailed: random oversampling adds rows (by number)
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        base = rng.integers(0, 256, (FILE_SIZE, FILE_SIZE, 3), dtype=np.uint8)
        for i in range(int(n * share)):
            image = base.copy()
            image.reshape(-1)[i] = 255 - image.reshape(-1)[i]  # every file distinct (identical files would be grouped)
            cv2.imwrite(str(folder / f"{i:05d}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return root


def _peak_rss_mb(root, cwd, *extra):
    """(peak anonymous resident MB of the run's process, its output)."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    peak = [0]
    with open(cwd / f"log-{time.time_ns()}.txt", "w+") as log:
        proc = subprocess.Popen([str(BIN / "balance-run"), "dataset=image_folder", f"dataset.root={root}", *RUN, *extra],
                                cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)

        def poll():
            while proc.poll() is None:
                try:
                    with open(f"/proc/{proc.pid}/status") as status:
                        anon = [int(line.split()[1]) for line in status if line.startswith("RssAnon:")]
                    peak[0] = max([peak[0], *anon])
                except (OSError, ValueError):
                    pass
                time.sleep(0.02)

        watcher = threading.Thread(target=poll)
        watcher.start()
        code = proc.wait()
        watcher.join()
        log.seek(0)
        output = log.read()
    assert code == 0, output[-3000:]
    return peak[0] / 1024, output


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("large_data")
    return root, _folder(root / "large", FILES), _folder(root / "small", 300)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_a_folder_larger_than_the_budget_trains_within_it_and_its_cache_is_reused(folders):
    cwd, large, small = folders
    decoded_mb = FILES * SIZE * SIZE * 3 / 2**20
    assert decoded_mb > 3 * BUDGET_MB  # the data is several times the budget

    small_peak, _ = _peak_rss_mb(small, cwd)
    first_peak, first = _peak_rss_mb(large, cwd)
    assert f"Decoding {FILES} images into the cache" in first
    second_peak, second = _peak_rss_mb(large, cwd, "seed=1")
    assert "Decoded images loaded from cache" in second and "Decoding" not in second  # no decoding the second time
    print(f"data {decoded_mb:.0f} MB; peak anonymous resident memory: tiny folder {small_peak:.0f} MB, "
          f"first run {first_peak:.0f} MB, second run {second_peak:.0f} MB")
    for peak in (first_peak, second_peak):
        assert peak - small_peak < BUDGET_MB, (
            f"the {decoded_mb:.0f} MB data set raised the peak resident memory by {peak - small_peak:.0f} MB "
            f"(tiny folder: {small_peak:.0f} MB, this run: {peak:.0f} MB); the budget is {BUDGET_MB} MB")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_the_measurement_sees_a_data_set_held_in_memory(folders):
    """The same run with the images held on the device (the CPU's memory) exceeds the budget: the measurement
    above can fail."""
    cwd, large, small = folders
    # data_on_device changes no number, so these are the folders of the runs above: run them again.
    small_peak, _ = _peak_rss_mb(small, cwd, "trainer.data_on_device=true", "overwrite=true")
    held_peak, _ = _peak_rss_mb(large, cwd, "trainer.data_on_device=true", "overwrite=true")
    assert held_peak - small_peak > BUDGET_MB


def test_streamed_and_device_resident_images_give_the_same_run(folders):
    """trainer.data_on_device changes where the images are, never a number: the same predictions, byte for byte."""
    cwd, _, small = folders
    outputs = {}
    for where in ("true", "false"):
        _, output = _peak_rss_mb(small, cwd, f"trainer.data_on_device={where}", "overwrite=true", "seed=7",
                                 "trainer.steps=12")
        folder = Path(output.split("Done:")[1].split("-> ")[1].split()[0])
        outputs[where] = (folder / "predictions.csv").read_bytes(), (folder / "history.csv").read_text()
    assert outputs["true"][0] == outputs["false"][0]
    strip = [[line.rsplit(",", 1)[0] for line in text.splitlines()] for _, text in outputs.values()]  # not seconds
    assert strip[0] == strip[1]
