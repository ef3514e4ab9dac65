"""The `gankit` command. Thin: parse, build the config, call library functions.

Exit codes: 0 success, 2 user error (one line naming the bad thing), 1 internal error (traceback),
128+N when stopped by signal N after saving a checkpoint.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from gankit import __version__
from gankit.config import EVAL_SEED_MAX, NUM_SAMPLES_MAX, SEED_MAX  # light: pydantic, no torch
from gankit.errors import GankitError
from gankit.files import atomic_write_json, check_output_path  # light: no torch
from gankit.memory import keep_freed_memory


class UserPath(click.Path):
    """A path option as a Path with `~` expanded (the shell leaves `--out=~/x` alone)."""

    def __init__(self, **kwargs):
        super().__init__(path_type=Path, **kwargs)

    def convert(self, value, param, ctx):
        return super().convert(os.path.expanduser(value) if isinstance(value, str) else value, param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gankit")
@click.option("--debug", is_flag=True, help="Show the traceback of user errors too.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train and evaluate GANs: WGAN-GP, compare_gan, Improved-GAN, StarGAN, AdaGAN."""
    # glibc page-faults each large tensor in again on every use: 1.6x on a 10k-sample evaluation, and on an AMX CPU,
    # where the arithmetic got fast, 1.03-1.25x per training iteration (gankit.memory; GANKIT_MALLOC=system: off)
    keep_freed_memory()
    ctx.obj = {"debug": debug}


@cli.command()
def presets() -> None:
    """List the shipped presets with one-line descriptions."""
    from gankit.config import preset_descriptions

    items = preset_descriptions()
    width = max(map(len, items)) if items else 0
    for name, description in items.items():
        click.echo(f"{name:<{width}}  {description}")


@cli.command()
@click.argument("preset")
@click.option("--out", type=UserPath(), help="Run directory (default: runs/<preset>-<time>).")
@click.option("--steps", type=click.IntRange(min=1), help="Generator iterations in total (replaces train.steps/epochs).")
@click.option("--set", "overrides", multiple=True, metavar="KEY.SUB=VALUE", help="Override a config value (repeatable).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Training device (train.device).")
@click.option("--seed", type=int, help="Random seed (train.seed).")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and exit.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
def train(preset, out, steps, overrides, device, seed, dry_run, overwrite, progress) -> None:
    """Train PRESET (a preset name or a YAML file)."""
    from gankit.names import load_checked_config

    extra = list(overrides)
    if steps is not None:
        extra += [f"train.steps={steps}", "train.epochs=null"]
    if device is not None:
        extra.append(f"train.device={device}")
    if seed is not None:
        extra.append(f"train.seed={seed}")
    cfg = load_checked_config(preset, extra)  # every registry name too: a bad one fails before anything is created
    if dry_run:
        click.echo(cfg.to_yaml(), nl=False)
        return
    if out is None:
        import time

        out = Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    from gankit.apps.train import train as run_training

    _report(run_training(cfg, out, overwrite, progress))


@cli.command()
@click.argument("run_dir", type=UserPath())
@click.option("--steps", type=click.IntRange(min=1), help="New total of generator iterations.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Device to continue on.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
def resume(run_dir, steps, device, progress) -> None:
    """Continue RUN_DIR exactly where its last checkpoint stopped."""
    from gankit.apps.train import resume as run_resume

    _report(run_resume(run_dir, steps, device, progress))


@cli.command()
@click.argument("run_dir", type=UserPath())
@click.option("--num", type=click.IntRange(1, NUM_SAMPLES_MAX), required=True, help="Number of samples.")
@click.option("--out", type=UserPath(), required=True,
              help="x.png = one grid, x.npz = uint8 array (N, H, W, C) under 'images', else a folder of PNGs.")
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True, help="Seed of the latent noise.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def sample(run_dir, num, out, seed, device) -> None:
    """Generate samples from RUN_DIR's generator snapshot."""
    from gankit.apps.generate import check_samples_out, sample_to
    from gankit.train.loop import resolve_device

    out = check_samples_out(out, run_dir, num)
    click.echo(f"wrote {sample_to(out, run_dir, num, seed, str(resolve_device(device)))}")


@cli.command()
@click.argument("run_dir", type=UserPath())
@click.option("--input", "input_path", type=UserPath(), help="An image file or a folder of images.")
@click.option("--split", type=click.Choice(["train", "test"]), help="Translate the first --num images of this split instead.")
@click.option("--num", type=click.IntRange(min=1), default=8, show_default=True, help="Images taken from --split.")
@click.option("--targets", multiple=True, help="A target domain: the attributes that are on, comma-separated (repeat for "
              "more; '' = all off). Default: one per attribute, a colour switched on or another attribute flipped.")
@click.option("--out", type=UserPath(), required=True, help="The grid PNG: a row per input.")
@click.option("--per-image", type=UserPath(), help="Also a folder with one PNG row per input.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def translate(run_dir, input_path, split, num, targets, out, per_image, device) -> None:
    """Translate images with RUN_DIR's StarGAN generator: [input, each target] per row."""
    from gankit.apps.translate import translate_images
    from gankit.train.loop import resolve_device

    out = check_output_path(out, "file", replaces=(".png",))
    per_image = check_output_path(per_image, "folder", "--per-image") if per_image is not None else None
    click.echo("wrote " + translate_images(run_dir, out, input_path, split, num, list(targets), per_image,
                                           str(resolve_device(device))))


@cli.command()
@click.argument("run_dir", type=UserPath())
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True, help="onnx (the onnx extra) or torchscript.")
@click.option("--out", type=UserPath(), help="The file (default: RUN_DIR/generator.onnx or .torchscript.pt).")
@click.option("--tolerance", type=float, default=1e-4, show_default=True, help="Largest abs difference from PyTorch allowed.")
def export(run_dir, fmt, out, tolerance) -> None:
    """Freeze RUN_DIR's generator with a dynamic batch size and check it against PyTorch on random inputs."""
    from gankit.apps.export import export_generator

    out = check_output_path(out, "file", replaces=(".onnx", ".pt")) if out is not None else None
    report = export_generator(run_dir, fmt, out, tolerance)
    inputs = ", ".join(f"{k} {tuple(v)}" for k, v in report["inputs"].items())
    click.echo(f"exported {report['family']} generator to {report['path']} ({inputs} -> {tuple(report['output'])}) in "
               f"{report['seconds']:.1f} s; parity on batches {report['batches']}: max abs diff {report['max_abs_diff']:.3g} "
               f"<= {report['tolerance']:g}; details {report['sidecar']}")


@cli.command("eval")
@click.argument("run_dir", type=UserPath())
@click.option("--metrics", help="Comma-separated metrics (default: the run's eval.metrics, else chosen by its data).")
@click.option("--num-samples", type=click.IntRange(min=2), help="Generated samples per run.")
@click.option("--num-real", type=click.IntRange(min=2), help="Reference items (first N of the split).")
@click.option("--reference", type=click.Choice(["train", "test"]), help="Split the samples are compared with.")
@click.option("--runs", type=click.IntRange(min=1), help="Independent fake sets (mean and std over them).")
@click.option("--checkpoint", default="last", show_default=True, help="all | last | STEP (all = eval after train).")
@click.option("--watch", is_flag=True, help="Evaluate checkpoints as they appear until the run finishes.")
@click.option("--rescore", is_flag=True, help="With --checkpoint all or --watch: score again checkpoints eval.json "
              "already holds under the same protocol (kept by default).")
@click.option("--poll", type=click.FloatRange(min=0.01, max=86400), default=10.0, show_default=True,
              help="Seconds between looks with --watch.")
@click.option("--timeout", type=click.FloatRange(min=0, max=10**7), help="With --watch: stop (exit 2) after this many "
              "seconds if the run has not ended. Without it, --watch still ends when the training process is gone.")
@click.option("--extractor", help="Domain classifier for fd metrics (digits, fashion_mnist).")
@click.option("--inception-weights", type=UserPath(), help="FID Inception weights file.")
@click.option("--seed", type=click.IntRange(0, EVAL_SEED_MAX), help="Seed of the generated noise (eval.seed).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: the cores idle when it starts).")
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True,
              help="G's EMA where the run keeps one, or G as trained (from training states; written to eval-raw.json "
              "and scores-raw.csv).")
def eval_command(run_dir, metrics, num_samples, num_real, reference, runs, checkpoint, watch, rescore, poll, timeout,
                 extractor, inception_weights, seed, device, threads, weights) -> None:
    """Score RUN_DIR's generator(s) and write eval.json and scores.csv."""
    import torch

    from gankit.apps.evaluate import evaluate_run
    from gankit.metrics.suite import METRICS
    from gankit.train.loop import resolve_device
    from gankit.train.threads import choose_threads

    # unset: the cores idle now, as training takes them (two threads beside a busy training stall in OpenMP barriers)
    torch.set_num_threads(choose_threads(threads)[0])

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    for name in names or []:
        METRICS.get(name)
    result = evaluate_run(run_dir, checkpoint, str(resolve_device(device)), str(inception_weights) if inception_weights else None,
                          extractor, watch, poll, log=click.echo, timeout=timeout, rescore=rescore, metrics=names, num_samples=num_samples,
                          num_real=num_real, reference=reference, runs=runs, seed=seed, weights=weights)
    click.echo(f"wrote {result['path']}")
    from gankit.apps.report import refresh_report

    refresh_report(run_dir, log=click.echo)


@cli.command()
@click.argument("path", type=UserPath())
@click.option("--out", type=UserPath(), help="The HTML file (default: PATH/report.html).")
def report(path, out) -> None:
    """Write PATH's report.html: a run's curves, sample grids, eval table and config, or a study's table and plots."""
    from gankit.apps.report import write_report

    out = check_output_path(out, "file", replaces=(".html", ".htm")) if out is not None else None
    click.echo(f"wrote {write_report(path, out)}")


class MetricFlags(click.Command):
    """A command with one flag per metric that declares one (`Metric.flag`: --fid, --kid, --isc, --prc, --dc), read
    from the metric registry when the command is parsed or its help shown (not when the CLI starts: the registry
    imports torch)."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not any(getattr(p, "metric", None) for p in self.params):
            from gankit.metrics.suite import METRICS

            for name in METRICS.in_order():
                if flag := METRICS.get(name).flag:
                    option = click.Option([f"--{flag}", f"metric_{name}"], is_flag=True, help=METRICS.get(name).description + ".")
                    option.metric = name
                    self.params.insert(2 + sum(bool(getattr(p, "metric", None)) for p in self.params), option)
        return super().get_params(ctx)


@cli.command("metrics", cls=MetricFlags)
@click.option("--input1", required=True, type=UserPath(), help="Folder of images or .npz (the samples).")
@click.option("--input2", type=UserPath(), help="Folder of images or .npz (the reference).")
@click.option("--fd", "fd_extractor", help="FD, KID, IS, precision/recall and density/coverage on a domain classifier "
              "(digits, fashion_mnist).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--inception-weights", type=UserPath(), help="FID Inception weights file.")
@click.option("--is-splits", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True)
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=2020, show_default=True,
              help="RNG seed of KID subsets and IS shuffling.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def metrics_command(input1, input2, fd_extractor, as_json, inception_weights, is_splits, kid_subsets, kid_subset_size, seed,
                    batch_size, device, **chosen) -> None:
    """Scores between two image sets, like torch-fidelity's `fidelity` command."""
    import json

    from gankit.apps.evaluate import compare_image_sets
    from gankit.metrics.suite import DOMAIN_TWINS, METRICS, MetricOptions
    from gankit.train.loop import resolve_device

    names = [key.removeprefix("metric_") for key, on in chosen.items() if on]
    if fd_extractor:
        names += list(DOMAIN_TWINS.values()) if input2 else [DOMAIN_TWINS["is"]]
    if not names:
        flags = ", ".join(f"--{METRICS.get(n).flag}" for n in METRICS.in_order() if METRICS.get(n).flag)
        raise click.UsageError(f"choose at least one of {flags}, --fd EXTRACTOR")
    options = MetricOptions(is_splits, kid_subsets, kid_subset_size, seed)
    weights = str(inception_weights) if inception_weights else None
    result = compare_image_sets(Path(input1), Path(input2) if input2 else None, names, fd_extractor, weights,
                                str(resolve_device(device)), batch_size, options)
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        for key, value in result["scores"].items():
            click.echo(f"{key}: {value:.6g}")


@cli.command()
@click.argument("preset")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=5, show_default=True, help="Timed iterations per run.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs; the figure is their median.")
@click.option("--warmup", type=click.IntRange(min=1), default=2, show_default=True, help="Untimed iterations first.")
@click.option("--data", type=click.Choice(["auto", "real", "synthetic"]), default="auto", show_default=True,
              help="auto: the preset's data when on disk, else random data of its shape.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (train.threads).")
@click.option("--set", "overrides", multiple=True, metavar="KEY.SUB=VALUE", help="Override a config value (repeatable).")
@click.option("--json", "json_path", type=UserPath(), help="Also write the figures to this JSON file.")
def bench(preset, device, steps, repeats, warmup, data, threads, overrides, json_path) -> None:
    """Time PRESET's training iteration: s/iteration, ms per D and G step, images/s, FLOPs, % of a measured peak."""
    from gankit.apps.bench import bench as run_bench
    from gankit.apps.bench import format_report
    from gankit.names import load_checked_config

    json_path = check_output_path(json_path, "file", "--json", (".json",)) if json_path is not None else None
    extra = [*overrides, f"train.device={device}"] + ([f"train.threads={threads}"] if threads else [])
    result = run_bench(load_checked_config(preset, extra), steps, warmup, repeats, data)
    click.echo(format_report(result))
    if json_path is not None:
        atomic_write_json(json_path, result, indent=2)


@cli.command()
@click.argument("study_file", type=UserPath())
@click.option("--out", type=UserPath(), help="Study directory (default: runs/study-<name>).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: trials in this process or a process pool; ray: trials as Ray tasks (a cluster with --address).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Trials at a time.")
@click.option("--address", help="Ray cluster address (default: start a local Ray instance).")
@click.option("--dry-run", is_flag=True, help="List the trials and exit.")
@click.option("--summary-only", is_flag=True,
              help="Train nothing: write study.csv, summary.md, the plots and report.html from the trials with a result "
                   "so far.")
def study(study_file, out, backend, workers, address, dry_run, summary_only) -> None:
    """Run every trial of STUDY_FILE (grid/random over config keys x seeds), skipping finished ones, and
    write study.csv, summary.md and a plot per metric."""
    from gankit.apps.study import load_study, plan, run_study, summarize_study

    if summary_only:
        result = summarize_study(study_file, out)
        plots = f", plots {', '.join(result['plots'])}" if result["plots"] else ""
        click.echo(f"{result['with_result']} of {result['trials']} trials have a result ({result['finished']} "
                   f"finished); summary {result['summary']}, table {result['csv']}{plots}; report {result['report']}")
        return
    if dry_run:
        for trial in plan(load_study(study_file), str(study_file)):
            click.echo(f"{trial['id']}: " + " ".join(f"{k}={v}" for k, v in trial["overrides"].items()))
        return
    result = run_study(study_file, out, backend, workers, address, log=click.echo)
    plots = f", plots {', '.join(result['plots'])}" if result["plots"] else ""
    click.echo(f"done: {result['finished']}/{result['trials']} trials finished in {result['seconds']:.0f} s; "
               f"summary {result['summary']}, table {result['csv']}{plots}; report {result['report']}")


def _report(summary: dict) -> None:
    from gankit.train import distributed

    if not distributed.current().is_main:  # under torchrun, rank 0 speaks for the job
        return
    if summary.get("note"):  # said already (e.g. a finished run resumed)
        return
    click.echo(f"done: {summary['steps']} steps in {summary['seconds']:.1f} s ({summary['it_per_s']:.2f} it/s); "
               f"run at step {summary['final_step']} in {summary['run_dir']}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (tests call this directly)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="gankit", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("gankit: aborted", err=True)
        return 130
    except click.UsageError as exc:  # one line like every other user error, with where to look
        if debug:
            traceback.print_exc()
        where = f"`{exc.ctx.command_path} --help`" if exc.ctx is not None else "`gankit --help`"
        click.echo(f"gankit: error: {exc.format_message()} (see {where})", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"gankit: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except GankitError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"gankit: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("gankit: interrupted", err=True)
        return 130
    except Exception:
        traceback.print_exc()
        click.echo("gankit: internal error (a bug: please report it with the traceback above)", err=True)
        return 1


def entry() -> None:
    code = 1
    try:
        code = main()
    finally:
        if (group := sys.modules.get("gankit.train.distributed")) is not None:
            group.shutdown(synchronize=code == 0)  # leave a torchrun process group cleanly
    sys.exit(code)
