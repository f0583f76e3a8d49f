"""``balance-predict``: apply a run's best_model.pt to image files, as the run applied it to its test split.

Everything that shaped the training inputs is read from the checkpoint's metadata, never guessed:
the input size, the channels, the resize policy (``config.dataset.resize_policy``; the array datasets
are square and are squashed, which is ``resize``), the normalisation mean/std, the class names and,
for two classes, the operating threshold chosen on validation. Files are decoded by the same function
as the image_folder dataset (balancelab.data.decode), normalised and scored by the same code as the
test split (training.batches.DeviceImages, evaluation.forward.probabilities, evaluation.decision), so a
run's own test images give back its predictions.csv.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from balancelab.errors import (EXIT_OUTPUT_ERROR, EXIT_USER_ERROR, BalancelabError, ConfigError, DataError,
                               OutputWriteError)
from balancelab.evaluation.decision import DecisionRule
from balancelab.data.listing import is_image_file
from balancelab.logs import setup_logging
from balancelab.options.imports import importable_working_directory
from balancelab.output import atomic
from balancelab.output.contract import CONFIG_FILE, FINISHED, Status
from balancelab.output.run_folder import UnreadableRunFile, read_job_record

log = logging.getLogger("balancelab")

# Files decoded and scored per chunk: bounds memory on large folders (decoded images are small).
CHUNK = 2048
RESIZE_POLICIES = ("resize", "center_crop")


@dataclass(frozen=True)
class Preprocessing:
    """How the run turned a file into the model's input."""

    input_size: int
    channels: int
    resize_policy: str
    mean: Tuple[float, ...]
    std: Tuple[float, ...]

    @classmethod
    def from_metadata(cls, meta: dict, source: str) -> "Preprocessing":
        dataset = (meta.get("config") or {}).get("dataset") or {}
        policy = meta.get("resize_policy") or dataset.get("resize_policy") or "resize"
        if policy not in RESIZE_POLICIES:
            raise DataError(f"{source}: resize policy {policy!r} in the checkpoint's metadata is not one of "
                            f"{', '.join(RESIZE_POLICIES)}; the checkpoint is damaged or from another program.")
        norm = meta["normalization"]
        return cls(int(meta["input_size"]), int(meta["in_channels"]), policy, tuple(map(float, norm["mean"])),
                   tuple(map(float, norm["std"])))


def collect_inputs(inputs: Sequence[str | Path]) -> Tuple[List[Path], List[Tuple[str, str]]]:
    """(image files in input order, folders walked recursively and sorted; [(input, why it is skipped)]).

    A named file is tried whatever its extension (the user asked for it); inside folders only image
    extensions count, hidden files and folders left out, as in the image_folder dataset.
    """
    files, problems = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p)
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                problems.append((str(path), "folder holds no image files (.jpg .jpeg .png .bmp .tif .tiff .webp)"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append((str(path), "no such file or folder"))
    return files, problems


def load_model(checkpoint: str | Path, device):
    """(model on ``device`` in eval mode, metadata); a clear error for a missing or foreign file."""
    from balancelab.checkpoint import load_checkpoint

    path = Path(checkpoint)
    if not path.is_file():
        raise DataError(f"Checkpoint {path} does not exist. Give the best_model.pt of a finished run, e.g. "
                        "outputs/runs/<run>/best_model.pt.")
    try:
        model, meta = load_checkpoint(path)
    except (KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a balancelab checkpoint (its metadata lacks {exc}); give the best_model.pt "
                        "that balance-run wrote.") from None
    except Exception as exc:
        raise DataError(f"{path} cannot be loaded as a checkpoint ({type(exc).__name__}: {exc}); give the "
                        "best_model.pt that balance-run wrote.") from None
    return model.to(device), meta


def decision_threshold(meta: dict, override: Optional[float]) -> Optional[float]:
    """The binary operating threshold: --threshold, else the one the run chose on validation."""
    names = meta["class_names"]
    if override is not None:
        if len(names) != 2:
            raise ConfigError(f"--threshold applies to two-class models; this one has {len(names)} classes "
                              f"({', '.join(map(str, names))}). Leave --threshold out (the arg-max class is used).")
        if not 0.0 <= override <= 1.0:
            raise ConfigError(f"--threshold must be a probability in [0, 1]; received {override}.")
        return float(override)
    saved = meta.get("threshold")
    return float(saved["value"]) if saved else None


def check_run_finished(checkpoint: Path, allow_unfinished: bool = False) -> None:
    """A checkpoint inside a run folder is the run's result only when the run finished: read the folder with the
    one job reader and refuse a failed, diverged or incomplete run's model unless ``allow_unfinished`` (then
    warn). A checkpoint outside a run folder (no config.yaml beside it) is taken as given."""
    folder = Path(checkpoint).parent
    if not (folder / CONFIG_FILE).is_file():
        return
    try:
        record = read_job_record(folder)
        status = record.status
    except UnreadableRunFile as exc:
        status, record = f"{Status.INCOMPLETE.value} ({exc})", None
    if record is not None and status in FINISHED:
        return
    why = {Status.INCOMPLETE.value: "it has no experiment_summary.json: it was stopped, or is still running, "
                                    "before its evaluation finished",
           Status.FAILED.value: "failure.json says an error ended it"}.get(status, "its summary says so")
    message = (f"{checkpoint} belongs to run {folder.name}, which is {status} ({why}); its best_model.pt may not "
               f"be the model the run would report. Finish the run (run its balance-run command again: it resumes) "
               f"or pass --allow-unfinished to predict with it anyway.")
    if not allow_unfinished:
        raise DataError(message)
    log.warning("%s", message.replace(" or pass --allow-unfinished to predict with it anyway", ""))


def predict_files(checkpoint: str | Path, inputs: Sequence[str | Path], device: str = "auto", batch_size: int = 256,
                  threshold: Optional[float] = None,
                  allow_unfinished: bool = False) -> Tuple[pd.DataFrame, List[Tuple[str, str]], dict]:
    """(one row per readable file, [(path, why unreadable)], metadata).

    Columns: path, pred_index, pred_class, confidence (the probability of the predicted class),
    prob_<class> for every class.
    """
    import torch

    from balancelab.data.decode import decode_image
    from balancelab.training.batches import DeviceImages
    from balancelab.evaluation.forward import probabilities
    from balancelab.training.runtime import select_device

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer; received {batch_size}.")
    torch_device = select_device(device)
    if Path(checkpoint).is_file():
        check_run_finished(Path(checkpoint), allow_unfinished)
    model, meta = load_model(checkpoint, torch_device)
    prep = Preprocessing.from_metadata(meta, str(checkpoint))
    rule = DecisionRule(decision_threshold(meta, threshold))
    names = [str(n) for n in meta["class_names"]]
    files, unreadable = collect_inputs(inputs)
    frames = []
    for start in range(0, len(files), CHUNK):
        images, kept = [], []
        for path in files[start:start + CHUNK]:
            image, reason = decode_image(str(path), prep.input_size, prep.channels, prep.resize_policy)
            if image is None:
                unreadable.append((str(path), reason))
            else:
                images.append(image)
                kept.append(str(path))
        if not images:
            continue
        data = DeviceImages(np.stack(images), np.zeros(len(images), np.int64), torch_device, prep.mean, prep.std)
        with torch.no_grad():
            scale = float(meta.get("logit_scale", 1.0))  # LDAM on a cosine classifier: the logits the loss saw
            probs = torch.cat([probabilities(model(x) * scale).cpu() for x, _ in data.ordered_batches(batch_size)]).numpy()
        pred, confidence = rule.predict(probs)
        frame = pd.DataFrame({"path": kept, "pred_index": pred, "pred_class": [names[i] for i in pred],
                              "confidence": confidence})
        for i, name in enumerate(names):
            frame[f"prob_{name}"] = probs[:, i]
        frames.append(frame)
    columns = ["path", "pred_index", "pred_class", "confidence"] + [f"prob_{n}" for n in names]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return table, unreadable, meta


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``balance-predict CHECKPOINT INPUT... [--out FILE] [--device ...] [--batch-size N] [--threshold P]``"""

    parser = argparse.ArgumentParser(
        prog="balance-predict",
        description="Predict the class of image files with a run's best_model.pt, preprocessed exactly as in "
                    "training (size, channels, resize policy and normalisation from the checkpoint).")
    parser.add_argument("checkpoint", type=Path, help="best_model.pt of a finished run")
    parser.add_argument("inputs", nargs="+", help="image files and/or folders (searched recursively)")
    parser.add_argument("--out", default="balance_predictions.csv",
                        help="CSV to write (default: balance_predictions.csv in the current folder; - for stdout)")
    parser.add_argument("--unreadable-out", default=None,
                        help="also write the unreadable files as CSV (path, reason) here (default: "
                             "<out>.unreadable.csv when there are any)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threshold", type=float, default=None,
                        help="two-class models: P(positive) >= THRESHOLD predicts the positive class "
                             "(default: the threshold the run chose on validation)")
    parser.add_argument("--allow-unfinished", action="store_true",
                        help="predict with the checkpoint of a run that failed, diverged or has not finished "
                             "(refused by default)")
    args = parser.parse_args(argv)
    setup_logging()

    importable_working_directory()  # a run's own model (_target_: my_project.nets.TinyNet) imports from here
    try:
        table, unreadable, meta = predict_files(args.checkpoint, args.inputs, args.device, args.batch_size,
                                                args.threshold, allow_unfinished=args.allow_unfinished)
    except BalancelabError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_USER_ERROR)
    for path, reason in unreadable:
        log.warning("Unreadable, skipped: %s (%s)", path, reason)
    try:
        if args.out == "-":
            table.to_csv(sys.stdout, index=False)
        else:
            atomic.write_csv(Path(args.out), table)
        if unreadable:
            target = args.unreadable_out or (None if args.out == "-" else f"{args.out}.unreadable.csv")
            if target:
                atomic.write_csv(Path(target), pd.DataFrame(unreadable, columns=["path", "reason"]))
    except OutputWriteError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_OUTPUT_ERROR)
    threshold = meta.get("threshold")
    rule = (f"P({meta['class_names'][1]}) >= {args.threshold if args.threshold is not None else threshold['value']:.4g}"
            if threshold or args.threshold is not None else "arg-max class")
    log.info("Predicted %d file(s) (%s)%s%s.", len(table), rule,
             f"; {len(unreadable)} unreadable (listed above" + (f" and in {target})" if unreadable and target else ")")
             if unreadable else "", "" if args.out == "-" else f" -> {args.out}")
    if table.empty:
        log.error("No input could be read: nothing was predicted. Give image files or folders of images.")
        sys.exit(EXIT_USER_ERROR)
