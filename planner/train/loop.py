"""The training loop. Like minGPT's trainer it knows nothing about the model's insides, nor about jobs:
whoever runs it passes callbacks (`on_log`, `should_stop`) and a checkpoint folder.

Choices, and why:
- each run's LR schedule (linear warmup, cosine decay to 10%) spans that run's own token budget:
  Hoffmann et al. 2022 (§3.1, Fig. A1) show a cosine cycle longer than the run overstates the loss;
- or warmup-stable-decay ("wsd"): constant LR after warmup, then a cooldown over the last `decay_frac`
  of the run with the (1 - sqrt) shape; Hägele et al. 2024 (arXiv 2405.18392, §3, Fig. 4-5) find a
  20% cooldown matches the cosine schedule's loss. A stable run saves "branch" checkpoints at given
  steps and a cooldown run starts from one (`init_from`), so one run per size serves many horizons;
- bf16 autocast and fused AdamW on CUDA (fp32 master weights, so no loss scaling is needed);
- torch.compile on CUDA by default; on CPU it costs more compile time than a small run saves;
- batches are drawn from a generator seeded by (seed, step), so a resumed run sees the same data
  it would have seen without the interruption;
- MFU counts model FLOPs per token (6N + 12·L·d·T, `architecture.flops_per_token`) against the
  accelerator's dense BF16 peak (`planner.core.hardware`); on CPU there is no peak, so no MFU.
"""
from __future__ import annotations

import math
import pickle  # only for its UnpicklingError: nothing here unpickles
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, Field

from planner.errors import PlannerError
from planner.core.hardware import get_accelerator

CHECKPOINT = "checkpoint.pt"
WSD_COOLDOWN_SHARE = 0.2  # Hägele et al. 2024 (arXiv 2405.18392), §3 and Fig. 5: 20% matches cosine


def branch_checkpoint(step: int) -> str:
    """File name of a stable-phase checkpoint kept for cooldown branches at this step."""
    return f"branch-{step}.pt"


class TrainConfig(BaseModel):
    tokens: int = Field(gt=0, description="training tokens: the run's budget; the LR schedule spans it")
    batch_size: int = Field(default=16, gt=0, description="sequences per optimizer step")
    micro_batch: int | None = Field(default=None, gt=0, description="sequences per forward pass (accumulate)")
    seq_len: int = Field(default=128, gt=1)
    lr: float = Field(default=3e-3, gt=0, description="peak learning rate")
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1, description="final LR as a share of the peak")
    warmup_frac: float = Field(default=0.05, ge=0, lt=1)
    warmup_steps: int | None = Field(default=None, ge=1, description="overrides warmup_frac (WSD branches "
                                     "share their parent's warmup)")
    schedule: Literal["cosine", "wsd"] = "cosine"
    decay_frac: float = Field(default=WSD_COOLDOWN_SHARE, ge=0, le=1,
                              description="wsd: cooldown share of the run's steps (0 = stable to the end)")
    branch_steps: list[int] = Field(default_factory=list, description="steps at which to keep a checkpoint "
                                    "for cooldown branches (wsd stable runs)")
    weight_decay: float = Field(default=0.1, ge=0)
    grad_clip: float = Field(default=1.0, gt=0)
    evals: int = Field(default=8, ge=1, description="held-out evaluations over the run (the last at the end)")
    eval_tokens: int = Field(default=16384, gt=0, description="held-out tokens per evaluation")
    log_every: int = Field(default=0, ge=0, description="steps between logs; 0 = about 50 logs per run")
    checkpoint_every_s: float = Field(default=60.0, gt=0)
    seed: int = 0
    device: str = "cpu"
    compile: Literal["auto", "on", "off"] = "auto"
    peak_tflops: float | None = Field(default=None, gt=0, description="accelerator peak; None = look it up")
    cpu_threads: int = Field(default=1, ge=1, description="torch threads on CPU (see Trainer.__init__)")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.tokens / self.tokens_per_step))


class TrainResult(BaseModel):
    steps: int
    tokens: int
    final_loss: float = Field(description="held-out loss (nats/token) at the end")
    final_train_loss: float
    tokens_per_s: float
    flops: float = Field(description="model FLOPs of the whole run (flops_per_token x tokens)")
    mfu: float | None = None
    resumed_from_step: int = 0
    first_step: int = Field(default=0, description="a cooldown branch: the parent's step it started from")
    seconds: float
    cpu_seconds: float = Field(default=0.0, description="CPU time of this process while training (evals "
                               "excluded), over all attempts: on CPU the device time, and unlike `seconds` "
                               "not inflated by other processes sharing the cores")
    device: str
    compiled: bool


@dataclass
class Callbacks:
    on_log: Callable[[int, dict], None] = lambda step, metrics: None
    should_stop: Callable[[], bool] = lambda: False


@dataclass
class _State:
    step: int = 0
    seconds: float = 0.0  # training time (evals excluded), over all attempts
    cpu_seconds: float = 0.0  # process CPU time over the same windows
    first_step: int = 0  # where this run's own training began (a cooldown branch: its parent's step)
    losses: list = field(default_factory=list)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to `min_lr_ratio` at the run's last step; or (wsd) constant,
    then a (1 - sqrt) cooldown to `min_lr_ratio` over the last `decay_frac` of the steps."""
    warmup = cfg.warmup_steps or max(1, round(cfg.warmup_frac * cfg.steps))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "wsd":
        decay_start = cfg.steps - round(cfg.decay_frac * cfg.steps)
        if step < decay_start:
            return cfg.lr
        progress = (step - decay_start + 1) / max(1, cfg.steps - decay_start)
        return floor + (cfg.lr - floor) * (1 - math.sqrt(min(1.0, progress)))
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def peak_flops_per_s(cfg: TrainConfig) -> float | None:
    """Dense BF16 peak of this process's accelerator, from planner.core.hardware (None on CPU or if unknown)."""
    if cfg.peak_tflops:
        return cfg.peak_tflops * 1e12
    if not cfg.device.startswith("cuda"):
        return None
    import torch

    name = accelerator_name(torch.cuda.get_device_name())
    try:
        return get_accelerator(name).peak_flops
    except PlannerError:
        return None  # a GPU the hardware table does not list: report tokens/s only


def accelerator_name(cuda_name: str) -> str:
    """Map torch's device name ("NVIDIA H100 80GB HBM3") to the hardware table's name ("H100-SXM")."""
    n = cuda_name.upper()
    if "H100" in n:
        return "H100-PCIe" if "PCIE" in n else "H100-SXM"
    if "A100" in n:
        return "A100-40GB" if "40GB" in n else "A100-80GB"
    for known in ("H200", "B200", "L40S", "A10G", "L4", "V100", "MI300X", "MI250X"):
        if known in n:
            return known
    return cuda_name


def batch_at(data: np.ndarray, step: int, cfg: TrainConfig):
    """Random windows of seq_len+1 tokens, fixed by (seed, step) so a resumed run sees the same data."""
    rng = np.random.default_rng([cfg.seed, step])
    starts = rng.integers(0, len(data) - cfg.seq_len - 1, size=cfg.batch_size)
    return np.stack([data[s: s + cfg.seq_len + 1] for s in starts]).astype(np.int64)


class Trainer:
    """Trains `model` on token arrays; `flops_per_token` is the model's (for FLOPs and MFU).
    `init_from`: a checkpoint file to start from when the run has none of its own (a cooldown branch
    starts from its stable parent's checkpoint)."""

    def __init__(self, model, train_tokens: np.ndarray, heldout_tokens: np.ndarray, cfg: TrainConfig,
                 flops_per_token: float, callbacks: Callbacks | None = None, checkpoint_dir: Path | None = None,
                 init_from: Path | None = None):
        for name, arr in (("training", train_tokens), ("held-out", heldout_tokens)):
            if len(arr) <= cfg.seq_len + 1:
                raise PlannerError(f"the {name} split has {len(arr)} tokens, fewer than one sequence of "
                                   f"{cfg.seq_len}; use a larger corpus or a shorter seq_len")
        import torch

        self.torch, self.cfg = torch, cfg
        if cfg.device == "cpu":
            # Small models gain little from more threads, and on a busy machine OpenMP threads that
            # spin-wait for each other made a 20k-parameter step 30x slower (1.4 s vs 0.04 s, 2 cores).
            torch.set_num_threads(cfg.cpu_threads)
        self.device = torch.device(cfg.device)
        self.model = model.to(self.device)
        self.train_tokens, self.heldout_tokens = train_tokens, heldout_tokens
        self.flops_per_token = flops_per_token
        self.callbacks = callbacks or Callbacks()
        self.checkpoint_dir, self.init_from = checkpoint_dir, init_from
        self.cuda = self.device.type == "cuda"
        self.optimizer = self._optimizer()
        self.compiled = cfg.compile == "on" or (cfg.compile == "auto" and self.cuda)
        self.forward = torch.compile(self.model) if self.compiled else self.model
        self.peak = peak_flops_per_s(cfg)

    def _optimizer(self):
        # No weight decay on norms and biases (1-d tensors), the usual GPT/Llama practice.
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": self.cfg.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        kind = {"fused": True} if self.cuda else {"foreach": True}
        return self.torch.optim.AdamW(groups, lr=self.cfg.lr, betas=(0.9, 0.95), eps=1e-8, **kind)

    def _autocast(self):
        return self.torch.autocast(device_type=self.device.type, dtype=self.torch.bfloat16, enabled=self.cuda)

    def loss(self, batch: np.ndarray):
        """Mean next-token cross-entropy of a (batch, seq_len + 1) token array, through `self.forward`
        (which a caller may wrap, e.g. to drop virtual-token positions) under the run's autocast."""
        torch = self.torch
        ids = torch.from_numpy(batch).to(self.device, non_blocking=True)
        with self._autocast():
            logits = self.forward(input_ids=ids[:, :-1]).logits
        return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                                                 ids[:, 1:].reshape(-1))

    def train_step(self, step: int):
        """One optimizer step on the batch of `step` (with the LR of that step); returns the loss tensor
        (not synced, so a caller timing steps decides when to wait for the device)."""
        cfg, batch = self.cfg, batch_at(self.train_tokens, step, self.cfg)
        micro = cfg.micro_batch or cfg.batch_size
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for i in range(0, cfg.batch_size, micro):
            part = batch[i: i + micro]
            loss = self.loss(part) * (len(part) / cfg.batch_size)
            loss.backward()
            total += loss.detach()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        return total

    def evaluate(self) -> float:
        """Mean held-out loss over fixed, evenly spaced windows (the same windows every time)."""
        cfg, data = self.cfg, self.heldout_tokens
        windows = max(1, min(cfg.eval_tokens // cfg.seq_len, (len(data) - 1) // cfg.seq_len))
        starts = np.linspace(0, len(data) - cfg.seq_len - 1, windows).astype(int)
        micro = cfg.micro_batch or cfg.batch_size
        self.model.eval()
        losses = []
        with self.torch.no_grad():
            for i in range(0, len(starts), micro):
                batch = np.stack([data[s: s + cfg.seq_len + 1] for s in starts[i: i + micro]]).astype(np.int64)
                losses.append(float(self.loss(batch)) * len(batch))
        self.model.train()
        return sum(losses) / len(starts)

    # ---- checkpoints -----------------------------------------------------------------------------
    # Only tensors and plain types are saved, so loading needs no pickled code (weights_only=True).
    def _save(self, state: _State, name: str = CHECKPOINT) -> None:
        if self.checkpoint_dir is None:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_dir / (name + ".tmp")
        self.torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                         "step": state.step, "seconds": state.seconds, "cpu_seconds": state.cpu_seconds,
                         "first_step": state.first_step,
                         "config": self.cfg.model_dump(mode="json")}, tmp)
        tmp.replace(self.checkpoint_dir / name)  # a kill mid-save leaves the previous checkpoint

    def _load(self) -> _State:
        own = self.checkpoint_dir / CHECKPOINT if self.checkpoint_dir else None
        if own is not None and own.exists():
            saved = self._read(own)
            return _State(step=saved["step"], seconds=saved["seconds"], cpu_seconds=saved.get("cpu_seconds", 0.0),
                          first_step=saved.get("first_step", 0))
        if self.init_from is not None:  # a branch: the parent's weights and optimizer, none of its time
            saved = self._read(Path(self.init_from))
            return _State(step=saved["step"], first_step=saved["step"])
        return _State()

    def _read(self, path: Path) -> dict:
        try:  # weights_only: a file that carries pickled code (planted, or not ours) is refused, never run
            saved = self.torch.load(path, map_location=self.device, weights_only=True)
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError, TypeError) as err:
            raise PlannerError(f"{path.parent.name}/{path.name} is not a checkpoint of this run (tensors and plain "
                               f"values only; {type(err).__name__}), so it was not loaded: delete it to start the "
                               "run over") from None
        return saved

    # ---- the loop ---------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, state = self.cfg, self._load()
        self.resumed_from, steps = state.step, cfg.steps
        log_every = cfg.log_every or max(1, steps // 50)
        eval_at = {round(steps * (i + 1) / cfg.evals) for i in range(cfg.evals)}
        self.started = last_save = time.time()
        window_t, window_tokens, train_loss, eval_loss = time.time(), 0, float("nan"), float("nan")
        window_cpu = time.process_time()
        while state.step < steps and not self.callbacks.should_stop():
            state.losses.append(self.train_step(state.step))
            state.step += 1
            window_tokens += cfg.tokens_per_step
            if state.step % log_every == 0 or state.step in eval_at:
                train_loss = float(sum(float(x) for x in state.losses) / len(state.losses))  # syncs once
                state.losses.clear()
                window_s = max(time.time() - window_t, 1e-9)  # training time only: evals come after
                state.seconds += window_s
                state.cpu_seconds += time.process_time() - window_cpu
                metrics = self._metrics(state, train_loss, window_tokens / window_s)
                if state.step in eval_at:
                    eval_loss = metrics["eval_loss"] = self.evaluate()
                self.callbacks.on_log(state.step, metrics)
                window_t, window_tokens, window_cpu = time.time(), 0, time.process_time()
            if state.step in cfg.branch_steps:
                self._save(state, branch_checkpoint(state.step))
            if time.time() - last_save > cfg.checkpoint_every_s and state.step < steps:
                self._save(state)
                last_save = time.time()
        self._save(state)
        return self._result(state, train_loss, eval_loss)

    def _metrics(self, state: _State, train_loss: float, rate: float) -> dict:
        done_here = max(1, state.step - self.resumed_from)
        metrics = {"loss": train_loss, "lr": lr_at(state.step - 1, self.cfg),
                   "tokens": state.step * self.cfg.tokens_per_step, "tokens_per_s": rate,
                   "progress": (state.step - state.first_step) / max(1, self.cfg.steps - state.first_step),
                   "eta_s": (time.time() - self.started) / done_here * (self.cfg.steps - state.step)}
        if self.peak:
            metrics["mfu"] = rate * self.flops_per_token / self.peak
        return metrics

    def _result(self, state: _State, train_loss: float, eval_loss: float) -> TrainResult:
        if state.step < self.cfg.steps or math.isnan(eval_loss):  # stopped early, or resumed at the end
            eval_loss = self.evaluate()
        tokens = state.step * self.cfg.tokens_per_step
        trained = (state.step - state.first_step) * self.cfg.tokens_per_step  # a branch: its cooldown only
        rate = trained / max(state.seconds, 1e-9)  # over all attempts, training time only
        return TrainResult(steps=state.step, tokens=tokens, final_loss=eval_loss, final_train_loss=train_loss,
                           tokens_per_s=rate, flops=tokens * self.flops_per_token,
                           mfu=rate * self.flops_per_token / self.peak if self.peak else None,
                           resumed_from_step=self.resumed_from, first_step=state.first_step,
                           seconds=state.seconds, cpu_seconds=state.cpu_seconds, device=self.cfg.device,
                           compiled=self.compiled)
