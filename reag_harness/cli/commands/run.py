"""``reag-eval run``: one task through retrieve -> judge -> generate -> score."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...core.config import RunConfig, load_config_file

KINDS = ("retriever", "critic", "generator", "prompt-style")


def configure(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--config", help="YAML run configuration (keys = these long options); the CLI overrides it")
    a("--task", "--tasks", help="task name (reag-eval ls tasks), several separated by commas, or a group "
                                "(kbvqa = infoseek,evqa): the same components, loaded once; default demo")
    a("--task-args", help="task arguments k=v,... (e.g. queries=FILE,images=DIR,kb=DIR); a value with commas "
      "or a dict as JSON (k=\"a,b\", k={...}), or the whole option as a JSON object; with several tasks, "
      "task.k=v goes to one task")
    a("--preset", help="a named configuration (reag-eval ls presets)")
    for kind in KINDS:
        a(f"--{kind}", help=f"{kind} name (reag-eval ls {kind}s)")
        names = [f"--{kind}-args"] + (["--model_args"] if kind == "generator" else [])
        a(*names, help=f"{kind} arguments k=v,... (e.g. pretrained=/local/path); JSON values "
          "(k={...}) or a JSON object")
    a("--gen-kwargs", "--gen_kwargs", help="generation overrides k=v,... (merged into --generator-args)")
    a("--split", help="task split")
    a("--limit", type=limit_value, help="only the first N samples; a fraction below 1 (0.25) takes that share "
                                        "of the questions, rounded up (as lm-eval)")
    a("--batch-size", "--batch_size", help="batch size per model call, or 'auto' (backs off on out-of-memory)")
    a("--chunk-size", type=int, help="samples per pipeline chunk (records are written per chunk)")
    a("--device", help="auto (default), cpu, cuda, cuda:N")
    a("--dtype", help="float32, bfloat16, float16 (default: bf16 on GPU, fp32 on CPU)")
    a("--seed", type=int)
    a("--output-dir", "--output_path", help="where run folders go (default ./runs)")
    a("--no-cache", dest="no_cache", action="store_true", default=None, help="recompute every stage, store nothing")
    a("--cache-dir", "--use_cache", help="stage cache root (default $REAG_HARNESS_CACHE/stages)")
    a("--on-error", choices=("stop", "skip"), help="skip: record a failing sample as an error and go on")
    a("--shard", help="i/n: run only shard i of n (0-based); merge with 'reag-eval merge'")
    a("--leaderboard", help="leaderboard JSON to append the run to")
    a("--no-leaderboard", action="store_true", default=None, help="do not append to the leaderboard")
    a("--quiet", action="store_true", default=None, help="no progress bars")
    a("--predict-only", action="store_true", default=None,
      help="no scoring: write the predictions in the task's official submission format (automatic for a split "
           "without references, e.g. InfoSeek test)")
    a("--wandb", metavar="PROJECT", help="log results, the per-sample table and the run files to Weights & Biases "
                                        "(offline mode without credentials; needs the 'tracking' extra)")
    a("--log_samples", action="store_true", default=None,
      help="accepted for lm-eval habits: samples.jsonl is always written")
    a("-v", "--verbose", action="store_true", default=None,
      help="show other libraries' progress bars and warnings, and every component argument")


def limit_value(text: str) -> int | float:
    """``--limit``: a count (``10``) or, below 1, a share of the questions (``0.25``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count (10) or a share (0.25), got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive count or share, got {text!r}")
    if value < 1:
        return value
    if value != int(value):
        raise argparse.ArgumentTypeError(f"a count must be whole (or a share below 1), got {text!r}")
    return int(value)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults < --config file < CLI flags."""
    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    for key, value in vars(args).items():
        if key in ("config", "command", "_module", "version", "gen_kwargs", "no_cache", "verbose",
                   "log_samples") or value is None:
            continue
        data[key] = value
    if args.no_cache:
        data["cache"] = False
    if args.verbose:
        data["verbose"] = True
    cfg = RunConfig.from_mapping(data, source=args.config or "command line")
    if args.gen_kwargs:
        from ...core.config import parse_kv

        cfg.generator_args.update(parse_kv(args.gen_kwargs, "--gen-kwargs"))
    if isinstance(cfg.batch_size, str) and cfg.batch_size != "auto":
        cfg.batch_size = int(cfg.batch_size)
    return cfg


def run(args: argparse.Namespace) -> int:
    from ...api import evaluate
    from ...results.report import print_summary

    cfg = config_from_args(args)
    args.verbose = cfg.verbose
    if not args.verbose:
        from ...core.quiet import quiet_third_party

        quiet_third_party()
    from ..multitask import evaluate_tasks, is_multi, print_table

    if is_multi(cfg.task):
        print_table(evaluate_tasks(cfg, leaderboard=not cfg.no_leaderboard), sys.stdout, verbose=bool(args.verbose))
        return 0
    results = evaluate(cfg, leaderboard=not cfg.no_leaderboard)
    print_summary(results, sys.stdout, verbose=bool(args.verbose))
    return 0
