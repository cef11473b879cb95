"""Subcommands for model shapes and memory: params, flops-per-token, memory, suggest-shape, presets."""
from __future__ import annotations

from typing import Callable

from planner.commands import refuse_unused
from planner.core import architecture, memory
from planner.core.numbers import check_positive
from planner.errors import PlannerError

# --flag -> ModelConfig field, for custom shapes or overriding a preset (e.g. --vocab for a tokenizer).
SHAPE_FLAGS = {"family": str, "vocab": int, "d_model": int, "layers": int, "heads": int, "kv_heads": int,
               "d_ff": int, "max_seq": int, "experts": int, "experts_per_token": int, "sliding_window": int}
FIELD = {"vocab": "vocab_size", "layers": "n_layers", "heads": "n_heads", "kv_heads": "n_kv_heads",
         "max_seq": "max_seq_len", "experts": "n_experts"}


def _add_shape_args(p) -> None:
    p.add_argument("--preset", help=f"model preset: {', '.join(architecture.PRESETS)}")
    for flag, kind in SHAPE_FLAGS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", type=kind, help="custom shape (overrides the preset)")
    p.add_argument("--tie", action="store_true", default=None, help="tie the LM head to the embedding")


def _config(args) -> architecture.ModelConfig:
    given = {FIELD.get(flag, flag): getattr(args, flag) for flag in SHAPE_FLAGS if getattr(args, flag) is not None}
    if args.tie:
        given["tie_embeddings"] = True
    if args.preset:
        base = architecture.get_preset(args.preset)
        return architecture.ModelConfig(**{**base.model_dump(), **given}) if given else base
    missing = [f"--{f.replace('_', '-')}" for f in ("vocab", "d_model", "layers", "heads", "d_ff")
               if FIELD.get(f, f) not in given]
    if missing:
        raise PlannerError(f"give --preset NAME or a full custom shape (missing {', '.join(missing)})")
    return architecture.ModelConfig(**given)


def params_command(sub) -> Callable:
    p = sub.add_parser("params", help="exact parameter counts (total, non-embedding, embedding, active)")
    _add_shape_args(p)
    return lambda args: architecture.param_counts(_config(args))


def flops_command(sub) -> Callable:
    p = sub.add_parser("flops-per-token", help="FLOPs per token (6N + 12·L·d·T training, 2N + 2·L·d·T inference)")
    _add_shape_args(p)
    p.add_argument("--seq", type=int, help="context length T (default: the model's max_seq_len)")
    p.add_argument("--inference", action="store_true", help="inference (forward only) instead of training")

    def handle(args):
        cfg = _config(args)
        if args.seq is not None:
            architecture.check_context(cfg, args.seq)
        return architecture.flops_per_token(cfg, args.seq, training=not args.inference)

    return handle


def memory_command(sub) -> Callable:
    p = sub.add_parser("memory", help="memory per GPU to train (default) or serve a model")
    _add_shape_args(p)
    p.add_argument("--seq", type=int, help="sequence length (default 2048 training, or fewer for GPT-2's 1,024 "
                                           "positions; max_seq_len inference)")
    p.add_argument("--batch", type=int, default=1, help="micro-batch per GPU (training) or sequences (inference)")
    p.add_argument("--gpus", type=int, default=1, help="GPUs to shard over")
    p.add_argument("--gpu-memory-gb", type=float, help="instead of --gpus: pick the fewest GPUs of this size")
    p.add_argument("--inference", action="store_true", help="serving memory: weights + KV cache")
    p.add_argument("--optimizer", default="adam-mixed", choices=list(memory.OPTIMIZER_BYTES))
    p.add_argument("--sharding", default="none", choices=list(memory.SHARDED))
    p.add_argument("--recompute", default="none", choices=["none", "selective", "full"])
    p.add_argument("--attention", default="flash", choices=["flash", "sdpa", "eager"])
    p.add_argument("--weights-dtype", default="bf16", choices=list(memory.DTYPE_BYTES))
    p.add_argument("--kv-dtype", default="bf16", choices=list(memory.DTYPE_BYTES))
    return _memory


def _memory(args):
    cfg = _config(args)
    # 0 is a value, not "not given": `--seq 0` planned 2,048 tokens and `--gpu-memory-gb 0` one GPU
    if args.seq is not None and args.seq <= 0:
        raise PlannerError(f"--seq must be a positive number of tokens (got {args.seq})")
    if args.seq is None and not args.inference:  # the training default fits the model (GPT-2: 1,024 positions)
        args.seq = architecture.default_seq(cfg, 2048)
    architecture.check_context(cfg, args.seq or cfg.max_seq_len)
    if args.gpu_memory_gb is not None:
        check_positive("--gpu-memory-gb", args.gpu_memory_gb, "GB")
        if args.gpus != 1:
            raise PlannerError("give --gpus or --gpu-memory-gb (which picks the fewest GPUs), not both")
    # Each mode reads its own flags: one given for the other mode would change nothing, so it is refused.
    unused = ({"--optimizer": ("optimizer", "adam-mixed"), "--sharding": ("sharding", "none"),
               "--recompute": ("recompute", "none"), "--attention": ("attention", "flash")} if args.inference else
              {"--weights-dtype": ("weights_dtype", "bf16"), "--kv-dtype": ("kv_dtype", "bf16")})
    refuse_unused([flag for flag, (name, default) in unused.items() if getattr(args, name) != default],
                  "to serving memory (--inference): it sets training memory" if args.inference else
                  "to training memory: it sets serving memory (--inference)")
    if args.inference:
        kwargs = dict(weights_dtype=args.weights_dtype, batch=args.batch, seq_len=args.seq, kv_dtype=args.kv_dtype)
        gpus = _fewest(memory.min_gpus_for_inference(cfg, args.gpu_memory_gb, **kwargs), args) \
            if args.gpu_memory_gb is not None else args.gpus
        return memory.inference_memory(cfg, gpus=gpus, **kwargs)
    kwargs = dict(seq_len=args.seq, micro_batch=args.batch, optimizer=args.optimizer,
                  sharding=args.sharding, recompute=args.recompute, attention=args.attention)
    gpus = _fewest(memory.min_gpus_for_training(cfg, args.gpu_memory_gb, **kwargs), args) \
        if args.gpu_memory_gb is not None else args.gpus
    return memory.training_memory(cfg, gpus=gpus, **kwargs)


def _fewest(gpus: int | None, args) -> int:
    if gpus is None:
        hint = "" if args.inference else " (try --sharding zero3, --recompute full or a smaller --batch)"
        raise PlannerError(f"does not fit on any count up to {memory.MAX_GPUS:,} GPUs of {args.gpu_memory_gb:g} GB"
                           f"{hint}")
    return gpus


def suggest_shape_command(sub) -> Callable:
    p = sub.add_parser("suggest-shape", help="a conventional layers/width/heads for a parameter count")
    p.add_argument("--params", type=float, required=True, help="target parameter count, e.g. 1e9")
    p.add_argument("--family", default="llama", choices=["llama", "mistral", "mixtral", "gpt2"])
    p.add_argument("--vocab", type=int, default=32000, help="vocabulary size")
    p.add_argument("--seq", type=int, default=2048, help="max sequence length")
    p.add_argument("--non-embedding", action="store_true", help="the target counts non-embedding params (Kaplan)")
    return lambda args: architecture.explain_shape(
        args.params, family=args.family, vocab_size=args.vocab, seq_len=args.seq,
        counting="non_embedding" if args.non_embedding else "total")


def presets_command(sub) -> Callable:
    sub.add_parser("presets", help="the model presets and their shapes")
    return lambda args: list(architecture.PRESETS.values())


COMMANDS = [params_command, flops_command, memory_command, suggest_shape_command, presets_command]
