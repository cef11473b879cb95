"""Subcommands of the adaptation planner: adapt-estimate (pure arithmetic) and adapt (measured runs)."""
from __future__ import annotations

from typing import Callable, get_args

from planner.adapt import estimate as adaptation
from planner.adapt.estimate import AdaptRequest
from planner.adapt.methods import get_method, method_names
from planner.adapt.methods.base import Attention, Precision
from planner.commands import add_gpu_argument, refuse_unused
from planner.core.architecture import default_seq


def _knobs(p) -> None:
    d = AdaptRequest()
    p.add_argument("--preset", default="llama-2-7b", help="architecture preset or model-table entry")
    p.add_argument("--rank", type=int, default=d.rank, help="LoRA/QLoRA rank")
    p.add_argument("--alpha", type=float, default=d.alpha, help="LoRA alpha")
    p.add_argument("--targets", default=None,
                   help="LoRA target modules, comma-separated (default: peft's), or all-linear")
    p.add_argument("--virtual-tokens", type=int, default=d.virtual_tokens, help="prompt/prefix tokens")
    p.add_argument("--batch", type=int, default=d.micro_batch, help="micro-batch (sequences per GPU)")
    p.add_argument("--seq", type=int, default=None,
                   help=f"sequence length in tokens (default {d.seq_len}, or a GPT-2 model's positions if fewer)")
    p.add_argument("--precision", default=d.precision, choices=get_args(Precision))
    p.add_argument("--attention", default=d.attention, choices=get_args(Attention))
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute layers in backward")


def _request(args, method: str) -> AdaptRequest:
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets else None
    extra = {k: getattr(args, k) for k in ("dataset_tokens", "epochs", "mfu") if hasattr(args, k)}
    if hasattr(args, "gpu"):
        extra["accelerator"] = args.gpu
    return AdaptRequest(method=method, rank=args.rank, alpha=args.alpha, target_modules=targets,
                        virtual_tokens=args.virtual_tokens, micro_batch=args.batch, seq_len=args.seq,
                        precision=args.precision, attention=args.attention,
                        gradient_checkpointing=args.gradient_checkpointing, **extra)


def adapt_estimate_command(sub) -> Callable:
    p = sub.add_parser("adapt-estimate", help="trainable params, memory, FLOPs and cost of adaptation methods")
    p.add_argument("--method", default="lora", help=f"one of {', '.join(method_names())}, or all")
    _knobs(p)
    d = AdaptRequest()
    p.add_argument("--tokens", dest="dataset_tokens", type=float, default=d.dataset_tokens,
                   help="dataset size in tokens")
    p.add_argument("--epochs", type=float, default=d.epochs)
    add_gpu_argument(p, "for time, cost and the fit check")
    p.add_argument("--mfu", type=float, default=d.mfu, help=f"model-FLOPs utilisation, 0-1 (default {d.mfu})")

    def run(args):
        if args.seq is None:  # the default fits the model: GPT-2 has 1,024 learned positions, not 2,048
            args.seq = default_seq(adaptation.resolve_model(args.preset), AdaptRequest().seq_len)
        if args.method == "all":
            return adaptation.compare(args.preset, _request(args, "lora"))
        _only_its_knobs(args)
        return adaptation.estimate(args.preset, _request(args, args.method))

    return run


# The method-specific flags and the AdaptRequest field each sets (a method's Knobs name the fields it reads).
METHOD_FLAGS = {"--rank": "rank", "--alpha": "alpha", "--targets": "target_modules",
                "--virtual-tokens": "virtual_tokens"}


def _only_its_knobs(args) -> None:
    """A knob of another method (`--method full --rank 16`) changed nothing and said nothing: refused."""
    d, reads = AdaptRequest(), set(get_method(args.method).Knobs.model_fields)
    given = {"--rank": args.rank != d.rank, "--alpha": args.alpha != d.alpha, "--targets": args.targets is not None,
             "--virtual-tokens": args.virtual_tokens != d.virtual_tokens}
    refuse_unused([flag for flag, on in given.items() if on and METHOD_FLAGS[flag] not in reads],
                  f"to {args.method} (it reads {', '.join(sorted(reads)) or 'no method knob'}; --method all "
                  "estimates every method)")


def adapt_command(sub) -> Callable:
    p = sub.add_parser("adapt", help="measure every adaptation method on a small base model (same data/steps)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--methods", default="all", help=f"comma-separated subset of {', '.join(method_names())}")
    p.add_argument("--steps", type=int, default=20, help="adaptation steps per method")
    p.add_argument("--base-steps", type=int, default=50,
                   help="pretraining steps on Python source for the base (ignored with --base-job)")
    p.add_argument("--base-job", type=int, default=None,
                   help="base weights: the id of a finished verification job of this store (see `jobs`); "
                        "its model and final checkpoint replace --preset")
    p.add_argument("--corpus", default="prose",
                   help="downstream corpus: 'prose' (the Python docs, built in) or a .txt/.jsonl path")
    p.add_argument("--corpus-bytes", type=int, default=200_000, help="downstream text to use")
    _knobs(p)
    p.set_defaults(preset="tiny", batch=8, seq=64, precision="fp32")

    def run(args):
        from planner.adapt.measure import AdaptRunSpec, run_adaptation  # the job system and the trainer

        methods = method_names() if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
        spec = AdaptRunSpec(preset=args.preset, methods=methods, device=args.device, corpus=args.corpus,
                            corpus_bytes=args.corpus_bytes, base_job=args.base_job, steps=args.steps,
                            base_steps=args.base_steps, knobs=_request(args, "lora"))
        return run_adaptation(spec)

    return run


COMMANDS = [adapt_estimate_command, adapt_command]
