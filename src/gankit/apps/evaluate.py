"""Evaluation of generators: K independent fake sets against cached real features, every score stamped
with its protocol. Schedules (compare_gan): during training (`eval.every`), after training over every
checkpoint (`--checkpoint all`), or continuously as checkpoints appear (`--watch`)."""
from __future__ import annotations

import csv
import datetime
import io
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from gankit import __version__
from gankit.config import Config, replace
from gankit.data import load_dataset
from gankit.data.base import DataInfo
from gankit.data.toy2d import toy_modes
from gankit.errors import ConfigError, RunDirError
from gankit.families import FAMILIES
from gankit.files import RunLock, atomic_write_json, atomic_write_text, check_writable_dir, os_error_reason, read_text
from gankit.metrics.features import cached_real_features, extract, make_extractor, tensor_batches
from gankit.metrics.inputs import load_image_set, to_signed
from gankit.metrics.suite import METRICS, MetricOptions, default_classifier, default_metrics, is_label_score, kid_subset_size
from gankit.runs.directory import EVAL_LOCK_NAME, read_run_config
from gankit.runs.snapshots import load_classifier_source, load_generator, load_generator_source
from gankit.train.checkpoint import SNAPSHOT_NAME, list_states, load_snapshot
from gankit.train.status import read_status, writer_gone


class Evaluator:
    """Holds extractors and real features for one run's config; `evaluate(G)` scores a generator."""

    def __init__(self, cfg: Config, info: DataInfo, device: torch.device | str = "cpu",
                 inception_weights: str | None = None, extractor: str | None = None):
        self.cfg, self.info, self.device = cfg, info, torch.device(device)
        family = FAMILIES.get(cfg.family)
        self.metrics = list(cfg.eval.metrics) if cfg.eval.metrics else \
            list(family.extra_metrics) + default_metrics(cfg.data, info)
        for name in self.metrics:
            METRICS.get(name)
        kinds = {METRICS.get(name).extractor for name in self.metrics}
        if ("points" in kinds and info.kind != "points") or (kinds & {"inception", "domain"} and info.kind != "image"):
            raise ConfigError(f"eval.metrics {self.metrics} do not fit {info.kind} data")
        if "classifier" in kinds and family.build_classifier is None:
            raise ConfigError(f"eval.metrics 'accuracy' scores a classifier; family '{cfg.family}' trains none")
        self.kinds = kinds
        self.extractors = {}
        if "inception" in kinds:
            self.extractors["inception"] = make_extractor("inception", self.device, inception_weights or cfg.eval.inception_weights)
        if "domain" in kinds:
            name = extractor or cfg.eval.extractor or default_classifier(cfg.data, info)
            if name is None:
                raise ConfigError(f"fd metrics need eval.extractor for data '{cfg.data.name}' (a domain classifier: digits, fashion_mnist)")
            self.extractors["domain"] = make_extractor(name, self.device)
        self.real, self.real_counts = self._real_features()
        modes = None
        if info.kind == "points" and cfg.data.distribution != "swissroll":
            modes = toy_modes(cfg.data.distribution, cfg.data.modes, cfg.data.seed)
        e = cfg.eval
        self.options = MetricOptions(e.is_splits, e.kid_subsets, e.kid_subset_size, modes=modes)

    def _real_features(self):
        e = self.cfg.eval
        real, counts = {}, {}
        for kind, extractor in self.extractors.items():
            real[kind], meta = cached_real_features(self.cfg.data, e.reference, extractor, e.num_real, e.batch_size, load_dataset)
            counts[kind] = meta["items"]
        if "classifier" in self.kinds:  # always the whole test split: accuracy is a held-out score
            test = load_dataset(self.cfg.data, "test")
            if test.y is None:
                raise ConfigError(f"metric accuracy needs test labels; data '{self.cfg.data.name}' has none")
            self.test = test
            real["classifier"], counts["classifier"] = {"labels": test.y.numpy()}, len(test)
        if "points" in self.kinds:
            x = load_dataset(self.cfg.data, e.reference).x
            x = x[: e.num_real] if e.num_real else x
            real["points"], counts["points"] = {"points": x.numpy().astype(np.float64)}, len(x)
        return real, counts

    def _fake_features(self, G: torch.nn.Module, run: int) -> dict:
        e, family = self.cfg.eval, FAMILIES.get(self.cfg.family)
        generator = torch.Generator().manual_seed(e.seed * 1000 + run)

        def batches() -> Iterable[torch.Tensor]:
            for start in range(0, e.num_samples, e.batch_size):
                with torch.no_grad():
                    yield family.generate(G, self.cfg, min(e.batch_size, e.num_samples - start), self.device, generator)

        if "points" in self.real:
            return {"points": {"points": torch.cat(list(batches())).cpu().double().numpy()}}
        fake = {kind: {} for kind in self.extractors}
        parts = {kind: [] for kind in self.extractors}
        for images in batches():  # one pass of generation feeds every extractor
            for kind, extractor in self.extractors.items():
                parts[kind].append(extract(extractor, [images]))
        for kind, chunks in parts.items():
            fake[kind] = {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
        return fake

    @torch.no_grad()
    def _classifier_logits(self, classifier: torch.nn.Module) -> dict:
        was_training = classifier.training
        classifier.eval()
        logits = [classifier(self.test.get(index)["x"].to(self.device)).float().cpu()
                  for index in torch.arange(len(self.test)).split(self.cfg.eval.batch_size)]
        classifier.train(was_training)
        return {"logits": torch.cat(logits).numpy()}

    def evaluate(self, G: torch.nn.Module, classifier: torch.nn.Module | None = None) -> dict[str, dict]:
        """{score: {"mean", "std", "values"}} over eval.runs independent fake sets (a classifier's accuracy
        does not depend on the fakes: it is measured once)."""
        values: dict[str, list[float]] = {}
        if "classifier" in self.kinds:
            if classifier is None:
                raise ConfigError("metric accuracy needs the run's classifier")
            scored = self._classifier_logits(classifier)
            for name in self.metrics:
                if (m := METRICS.get(name)).extractor == "classifier":
                    for key, value in m.compute(self.real["classifier"], scored, self.options).items():
                        values.setdefault(key, []).append(float(value))
        generated = [name for name in self.metrics if METRICS.get(name).extractor != "classifier"]
        was_training = G.training
        G.eval()
        for run in range(self.cfg.eval.runs if generated else 0):
            fake = self._fake_features(G, run)
            for name in generated:
                m = METRICS.get(name)
                for key, value in m.compute(self.real[m.extractor], fake[m.extractor], self.options).items():
                    values.setdefault(key, []).append(float(value))
        G.train(was_training)
        return {k: _summary(v, label=is_label_score(k)) for k, v in values.items()}

    def protocol(self) -> dict:
        e = self.cfg.eval
        return {"metrics": self.metrics, "extractors": {k: x.protocol for k, x in self.extractors.items()},
                "image_size": list(self.info.shape), "real_items": self.real_counts, "reference_split": e.reference,
                "reference_data": self.cfg.data.model_dump(mode="json"), "fake_items_per_run": e.num_samples,
                "runs": e.runs, "seed": e.seed, "is_splits": e.is_splits, "metric_rng_seed": self.options.seed,
                "kid": self._kid_protocol(), "gankit_version": __version__}

    def _kid_protocol(self) -> dict:
        """KID's subsets, and the subset size actually used: the option, or fewer when a set is smaller."""
        e = self.cfg.eval
        kinds = {METRICS.get(name).extractor for name in self.metrics if name in ("kid", "fd_kid")}
        used = [kid_subset_size(e.num_samples, self.real_counts[kind], self.options) for kind in kinds]
        return {"subsets": e.kid_subsets, "subset_size": e.kid_subset_size} | ({"subset_size_used": min(used)} if used else {})


def _summary(values: list[float], label: bool = False) -> dict:
    """Mean and std over runs. JSON has no inf/nan, so non-finite scores (reverse KL when no sample lies
    near any mode) are written as the strings 'inf'/'nan'. A label (a class index) gets its most frequent value
    (the smallest on a tie) as its "mean"."""
    if label:
        found, counts = np.unique(values, return_counts=True)
        return {"mean": int(found[counts.argmax()]), "std": float(np.std(values)), "values": [float(v) for v in values]}
    if all(np.isfinite(values)):
        return {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": [float(v) for v in values]}
    return {"mean": "nan" if any(np.isnan(values)) else "inf", "std": "nan",
            "values": [float(v) if np.isfinite(v) else str(v) for v in values]}


def eval_config(cfg: Config, **changes) -> Config:
    updates = {f"eval.{k}": v for k, v in changes.items() if v is not None}
    return replace(cfg, updates) if updates else cfg


def generator_sources(run_dir: Path, checkpoint: str, weights: str = "ema") -> list[tuple[int, str]]:
    """[(step, source)] to evaluate: the snapshot ('last'; with raw `weights` the newest training state, since the
    snapshot holds the EMA), every training state ('all'), or one step."""
    if checkpoint == "last" and weights == "ema":
        _, meta = load_snapshot(run_dir / SNAPSHOT_NAME)
        return [(int(meta.get("step", -1)), str(run_dir / SNAPSHOT_NAME))]
    states = list_states(run_dir)
    if checkpoint == "last":
        if not states:
            raise RunDirError(f"{run_dir}: no checkpoints in checkpoints/ to take G's raw weights from")
        return [(states[-1][0], str(states[-1][1]))]
    if checkpoint == "all":
        if not states:
            raise RunDirError(f"{run_dir}: no checkpoints in checkpoints/ to evaluate")
        return [(step, str(path)) for step, path in states]
    try:
        step = int(checkpoint)
    except ValueError:
        raise ConfigError(f"--checkpoint must be all, last or a step number, got '{checkpoint}'") from None
    found = [(s, str(p)) for s, p in states if s == step]
    if not found:
        raise RunDirError(f"{run_dir}: no checkpoint at step {step} (have: {', '.join(str(s) for s, _ in states) or 'none'})")
    return found


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def result_files(weights: str = "ema") -> tuple[str, str]:
    """Where scores go: eval.json and scores.csv; G's raw weights (`--weights raw`, a run with an EMA) beside them in
    eval-raw.json and scores-raw.csv, so neither set overwrites the other."""
    return ("eval.json", "scores.csv") if weights == "ema" else (f"eval-{weights}.json", f"scores-{weights}.csv")


def write_results(run_dir: Path, results: dict[int, dict], protocol: dict, weights: str = "ema") -> Path:
    """eval.json (per step: scores and the protocol they were measured under) and scores.csv (step, score, mean,
    std), merged with earlier ones: an older step keeps its own protocol. Both written atomically."""
    json_name, csv_name = result_files(weights)
    path = run_dir / json_name
    previous = read_eval_json(path)
    old_protocol = previous.get("protocol")  # files written before entries carried their own
    merged = {step: entry if "protocol" in entry or not isinstance(old_protocol, dict) else {**entry, "protocol": old_protocol}
              for step, entry in previous.get("results", {}).items() if isinstance(entry, dict)}
    merged |= {str(k): {**v, "protocol": protocol} for k, v in results.items()}
    ordered = dict(sorted(merged.items(), key=lambda item: _step_key(item[0])))
    atomic_write_json(path, {"results": ordered, "written": datetime.datetime.now().isoformat(timespec="seconds")})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", "score", "mean", "std", "runs"])
    for step, entry in ordered.items():
        for score, stats in entry.get("scores", {}).items():
            writer.writerow([step, score, stats["mean"], stats["std"], len(stats["values"])])
    atomic_write_text(run_dir / csv_name, buffer.getvalue())
    return path


def _step_key(step: str) -> int:
    try:
        return int(step)
    except ValueError:
        return -1


def read_eval_json(path: Path) -> dict:
    """An earlier eval.json, or {} when there is none; a damaged one is kept aside as eval.json.bad, not lost."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(read_text(path, "eval file"))
        if isinstance(data, dict) and isinstance(data.get("results", {}), dict):
            return data
    except (RunDirError, ValueError):
        pass
    bad = path.with_name(path.name + ".bad")
    try:
        os.replace(path, bad)
    except OSError as err:
        raise RunDirError(f"{path}: unreadable, and it could not be set aside ({os_error_reason(err)})") from None
    print(f"warning: {path} was not a readable eval file; kept as {bad.name}, starting a new one", flush=True)
    return {}


class WatchEnded(RunDirError):
    """`gankit eval --watch` stopped without the run finishing: its writer is gone, or --timeout passed."""


def _watch_should_stop(run_dir: Path, status: dict, started: float, timeout: float | None, done: dict) -> bool:
    """True once the run has ended (by `status`, read before the checkpoints were listed, so that a last checkpoint
    saved just before the run ended was listed); raises WatchEnded when its writer died or the timeout passed."""
    if status.get("state") in ("finished", "interrupted", "failed", "paused"):
        return True
    evaluated = f"evaluated steps {sorted(done) or 'none'}; results in eval.json" if done else "nothing evaluated"
    if not (run_dir / "config.yaml").is_file():
        raise WatchEnded(f"{run_dir}: the run directory (its config.yaml) is gone; {evaluated}")
    if not status and not RunLock(run_dir).held_elsewhere():  # no status to read, and no trainer holds the run
        raise WatchEnded(f"{run_dir}: no training process holds the run and its status.json is missing or unreadable; "
                         f"{evaluated}; if it did not finish, continue it with `gankit resume {run_dir}`")
    if writer_gone(status):
        raise WatchEnded(f"{run_dir}: its training process (PID {status.get('pid')}) is gone while status.json says running "
                         f"at step {status.get('step')}; {evaluated}; continue it with `gankit resume {run_dir}`")
    if timeout is not None and time.monotonic() - started > timeout:
        raise WatchEnded(f"{run_dir}: stopped watching after --timeout {timeout:g} s (run at step {status.get('step', '?')}, "
                         f"state {status.get('state', 'unknown')}); {evaluated}")
    return False


def evaluate_run(run_dir: Path, checkpoint: str = "last", device: str = "cpu", inception_weights: str | None = None,
                 extractor: str | None = None, watch: bool = False, poll_seconds: float = 10.0, log=print,
                 timeout: float | None = None, rescore: bool = False, weights: str = "ema", **changes) -> dict:
    """Score a run's generator(s) and write eval.json and scores.csv, holding the run's evaluation lock (one
    evaluator writing at a time; training may go on beside it). With `checkpoint="all"` or `watch`, a checkpoint that
    eval.json already scored under the same protocol is kept, not scored again, unless `rescore`. `weights`: "ema"
    (G's EMA where the run kept one) or "raw" (G as trained, to eval-raw.json / scores-raw.csv)."""
    run_dir = Path(run_dir)
    if weights not in ("ema", "raw"):
        raise ConfigError(f"--weights must be ema or raw, got '{weights}'")
    cfg = eval_config(read_run_config(run_dir), **changes)
    if weights == "raw" and cfg.train.ema_decay <= 0:
        raise ConfigError(f"{run_dir}: --weights raw, but this run keeps no EMA of G (train.ema_decay "
                          f"{cfg.train.ema_decay:g}), so its eval.json already scores G as trained")
    with RunLock(run_dir, EVAL_LOCK_NAME, activity="evaluating it"):  # fails in one line on a read-only run directory too
        check_writable_dir(run_dir)
        if FAMILIES.get(cfg.family).score_generator is not None:  # a family scored its own way (StarGAN)
            if weights == "raw":
                raise ConfigError(f"{run_dir}: --weights raw is for generators scored by samples; a '{cfg.family}' run "
                                  f"is scored from its snapshot")
            return _score_own_way(run_dir, replace(cfg, {"eval.inception_weights": str(inception_weights)})
                                  if inception_weights else cfg, device, log)
        kept = {} if rescore or not (watch or checkpoint == "all") else \
            read_eval_json(run_dir / result_files(weights)[0]).get("results", {})
        return _evaluate_locked(run_dir, cfg, checkpoint, device, inception_weights, extractor, watch, poll_seconds, log,
                                timeout, kept, weights)


def _score_own_way(run_dir: Path, cfg: Config, device: str, log) -> dict:
    """The snapshot scored by its family's `score_generator` (StarGAN: translations of the test split), written to
    eval.json beside the scores of the family's reference translators."""
    G, _, info, meta = load_generator(run_dir, device)
    scored = FAMILIES.get(cfg.family).score_generator(G, cfg, info, device)
    for name, values in {"model": scored.scores, **scored.references}.items():
        log(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
    step = int(meta.get("step", -1))
    entry = {"source": SNAPSHOT_NAME, "scores": {k: {"mean": v, "std": 0.0, "values": [v]} for k, v in scored.scores.items()},
             "reference_translators": scored.references}
    path = write_results(run_dir, {step: entry}, scored.protocol)
    return {"results": {step: entry}, "protocol": scored.protocol, "path": str(path)}


def _same_entry(entry, source: str, protocol: dict) -> bool:
    """Whether an eval.json entry scored this checkpoint file under this protocol (compared as JSON stores it)."""
    return isinstance(entry, dict) and entry.get("source") == Path(source).name and \
        entry.get("protocol") == json.loads(json.dumps(protocol))


def _evaluate_locked(run_dir: Path, cfg: Config, checkpoint: str, device: str, inception_weights: str | None,
                     extractor: str | None, watch: bool, poll_seconds: float, log, timeout: float | None,
                     kept: dict, weights: str = "ema") -> dict:
    evaluator, done, started = None, {}, time.monotonic()
    json_name = result_files(weights)[0]
    while True:
        status = read_status(run_dir) if watch else {}
        listable = not watch or (run_dir / "checkpoints").is_dir()
        sources = generator_sources(run_dir, "all" if watch else checkpoint, weights) if listable else []
        todo = [(step, src) for step, src in sources if step not in done]
        for step, source in todo:
            try:
                G, info, trained = load_generator_source(run_dir, source, cfg, device, weights)
                evaluator = evaluator or Evaluator(cfg, info, device, inception_weights, extractor)
                if _same_entry(previous := kept.get(str(step)), source, protocol(evaluator, weights)):
                    done[step] = previous
                    log(f"step {step}: kept from {json_name} (the same checkpoint and protocol; --rescore scores it again)")
                    continue
                classifier = load_classifier_source(run_dir, source, cfg, info, device) if "classifier" in evaluator.kinds else None
            except RunDirError:
                if Path(source).suffix != ".pt" or Path(source).exists():
                    raise
                # training beside us deleted it (train.keep_checkpoints) between listing and loading
                log(f"step {step}: {Path(source).name} was deleted by the training (train.keep_checkpoints) before it "
                    f"could be scored; skipped")
                continue
            start = time.perf_counter()
            done[step] = {"source": Path(source).name, "scores": evaluator.evaluate(G, classifier),
                          "seconds": round(time.perf_counter() - start, 2), "training": trained}
            log(f"step {step}: " + ", ".join(f"{k} {v['mean']}" if is_label_score(k) else f"{k} {_fmt(v['mean'])} ± {_fmt(v['std'])}"
                                             for k, v in done[step]["scores"].items()))
            write_results(run_dir, {step: done[step]}, protocol(evaluator, weights), weights)
        if not watch or not todo and _watch_should_stop(run_dir, status, started, timeout, done):
            break
        time.sleep(poll_seconds if timeout is None else max(min(poll_seconds, timeout - (time.monotonic() - started)), 0.05))
    if evaluator is None:
        raise RunDirError(f"{run_dir}: nothing to evaluate")
    return {"results": done, "protocol": protocol(evaluator, weights), "path": str(run_dir / json_name)}


def protocol(evaluator: Evaluator, weights: str) -> dict:
    """The evaluator's protocol, naming G's raw weights where those were scored (EMA entries keep their old stamp)."""
    return evaluator.protocol() if weights == "ema" else {**evaluator.protocol(), "weights": weights}


def compare_image_sets(images1: torch.Tensor | Path, images2: torch.Tensor | Path | None, metrics: list[str],
                       fd_extractor: str | None = None, inception_weights: str | None = None, device: str = "cpu",
                       batch_size: int = 100, options: MetricOptions = MetricOptions()) -> dict:
    """Scores between two uint8 image sets (N, C, H, W), or the paths `load_image_set` reads them from (after the
    feature extractors are built: a missing weights file is said before a large set is decoded): input1 plays
    'fake', input2 'real' (IS uses input1 only)."""
    kinds = {METRICS.get(name).extractor for name in metrics}
    if "points" in kinds:
        raise ConfigError("modes/coverage work on 2-D points, not image sets")
    if images2 is None and any(name not in ("is", "fd_is") for name in metrics):
        raise ConfigError("--input2 is needed for every metric but --isc")
    if "domain" in kinds and not fd_extractor:
        raise ConfigError("fd metrics need --fd EXTRACTOR (digits, fashion_mnist)")
    extractors = {kind: make_extractor("inception" if kind == "inception" else fd_extractor, device, inception_weights)
                  for kind in sorted(kinds)}
    images1, images2 = (x if x is None or isinstance(x, torch.Tensor) else load_image_set(x) for x in (images1, images2))
    scores, protocol = {}, {"input1_items": len(images1), "input2_items": 0 if images2 is None else len(images2)}
    if images2 is not None and {"kid", "fd_kid"} & set(metrics):
        protocol["kid"] = {"subsets": options.kid_subsets, "subset_size": options.kid_subset_size,
                           "subset_size_used": kid_subset_size(len(images1), len(images2), options)}
    for kind, extractor in extractors.items():
        fake = extract(extractor, (to_signed(b) for b in tensor_batches(images1, batch_size)))
        real = extract(extractor, (to_signed(b) for b in tensor_batches(images2, batch_size))) if images2 is not None else fake
        for name in metrics:
            if METRICS.get(name).extractor == kind:
                scores.update(METRICS.get(name).compute(real, fake, options))
        protocol[kind] = extractor.protocol
    return {"scores": scores, "protocol": protocol | {"gankit_version": __version__}}
