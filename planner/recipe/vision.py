"""Vision foundation models: exact parameter counts of the published configs as transformers builds them
(CLIPModel, Dinov2Model, SamModel; tests/recipe/test_vision.py instantiates each on the meta device), and training
compute as samples seen x tokens per sample x 6 x the parameters each token passes through.

A ViT token is one image patch (plus the class token); every count below says where its sample count and
token count come from.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from planner.core.laws import FLOPS_PER_PARAM_TOKEN
from planner.errors import PlannerError

# SAM's prompt encoder + mask decoder are 256 wide for every image-encoder size (Kirillov et al. 2023, §3 and
# App. A): the same 4,064,816 parameters under ViT-B, -L and -H (tests check it against transformers).
SAM_PROMPT_AND_MASK_DECODER = 4_064_816


class Tower(BaseModel):
    """One pre-norm transformer encoder (CLIP, DINOv2 or SAM style)."""

    width: int = Field(gt=0)
    layers: int = Field(gt=0)
    mlp: int = Field(gt=0, description="MLP inner size (per branch for SwiGLU)")
    swiglu: bool = False


class VisionPreset(BaseModel):
    name: str
    family: Literal["clip", "dinov2", "sam"]
    image: Tower
    image_size: int = Field(description="training resolution (pixels)")
    config_image_size: int = Field(description="resolution of the released config's position table")
    patch: int
    text: Tower | None = None
    text_vocab: int = 49408
    text_len: int = 77
    projection: int = 0
    samples_seen: float = Field(description="images (or image-text pairs) processed in training")
    samples_source: str
    tokens_note: str
    source: str


def _tower(t: Tower) -> int:
    """Encoder layers: 2 LayerNorms, q/k/v/out with biases, the MLP with biases (DINOv2 adds 2 layer-scales)."""
    attention = 4 * (t.width * t.width + t.width)
    mlp = (t.width * 2 * t.mlp + 2 * t.mlp + t.mlp * t.width + t.width) if t.swiglu \
        else (2 * t.width * t.mlp + t.mlp + t.width)
    return t.layers * (attention + mlp + 4 * t.width)


def _patches(size: int, patch: int) -> int:
    return (size // patch) ** 2


def _clip(p: VisionPreset) -> dict[str, int]:
    v, t = p.image, p.text
    vision = (v.width + 3 * p.patch**2 * v.width + (_patches(p.config_image_size, p.patch) + 1) * v.width
              + 4 * v.width + _tower(v))  # class token, patch conv (no bias), positions, pre/post LayerNorm
    text = p.text_vocab * t.width + p.text_len * t.width + _tower(t) + 2 * t.width
    return {"image_encoder": vision, "text_encoder": text,
            "other": (v.width + t.width) * p.projection + 1}  # projections (no bias) + logit scale


def _dinov2(p: VisionPreset) -> dict[str, int]:
    v = p.image
    embed = (2 * v.width + (_patches(p.config_image_size, p.patch) + 1) * v.width
             + 3 * p.patch**2 * v.width + v.width)  # class + mask tokens, positions, patch conv with bias
    return {"image_encoder": embed + _tower(v) + v.layers * 2 * v.width + 2 * v.width, "other": 0}


def _sam(p: VisionPreset) -> dict[str, int]:
    v = p.image
    grid = p.config_image_size // p.patch
    head_dim = v.width // {768: 12, 1024: 16, 1280: 16}[v.width]
    # relative position tables (2 x (2s - 1) x head_dim per layer): window 14 except the 4 global layers
    rel = 2 * head_dim * ((v.layers - 4) * (2 * 14 - 1) + 4 * (2 * grid - 1))
    neck = v.width * 256 + 256 * 256 * 9 + 4 * 256
    encoder = 3 * p.patch**2 * v.width + v.width + grid * grid * v.width + _tower(v) + rel + neck
    return {"image_encoder": encoder, "other": SAM_PROMPT_AND_MASK_DECODER}


class VisionParams(BaseModel):
    name: str
    total: int
    image_encoder: int
    text_encoder: int = 0
    other: int = Field(description="projections (CLIP); prompt encoder + mask decoder (SAM)")


class VisionCompute(BaseModel):
    name: str
    samples_seen: float
    tokens_per_sample: float = Field(description="patch tokens per sample, all crops and towers")
    flops: float
    flops_per_sample: float
    assumption: str
    source: str


def vision_params(name: str) -> VisionParams:
    p = get_vision_preset(name)
    parts = {"clip": _clip, "dinov2": _dinov2, "sam": _sam}[p.family](p)
    return VisionParams(name=name, total=sum(parts.values()), image_encoder=parts["image_encoder"],
                        text_encoder=parts.get("text_encoder", 0), other=parts["other"])


def _flops_per_sample(p: VisionPreset, counts: VisionParams) -> tuple[float, float]:
    six = FLOPS_PER_PARAM_TOKEN
    if p.family == "clip":  # both towers forward and backward on every pair
        img = _patches(p.image_size, p.patch) + 1
        return six * (counts.image_encoder * img + counts.text_encoder * p.text_len), img + p.text_len
    if p.family == "dinov2":
        glob, local = _patches(224, p.patch) + 1, _patches(98, p.patch) + 1
        student = six * counts.image_encoder * (2 * glob + 8 * local)  # 2 global + 8 local crops, fwd + bwd
        teacher = 2 * counts.image_encoder * 2 * glob  # the EMA teacher only runs forward, on global crops
        return student + teacher, 2 * glob + 8 * local
    tokens = _patches(p.image_size, p.patch)
    return six * counts.image_encoder * tokens, tokens  # SAM: image encoder only (see SAM_TOKENS)


def vision_compute(name: str) -> VisionCompute:
    p = get_vision_preset(name)
    per_sample, tokens = _flops_per_sample(p, vision_params(name))
    return VisionCompute(name=name, samples_seen=p.samples_seen, tokens_per_sample=tokens,
                         flops=per_sample * p.samples_seen, flops_per_sample=per_sample,
                         assumption=f"{p.samples_source}; {p.tokens_note}", source=p.source)


CLIP_SRC = "Radford et al. 2021, 'Learning Transferable Visual Models From Natural Language Supervision'"
CLIP_SAMPLES = "32 epochs over 400M image-text pairs = 12.8B pairs (Radford et al. 2021, §2.5)"
CLIP_TOKENS = ("image patches + class token through the image tower and 77 text positions through the text tower, "
               "forward and backward (6 FLOPs per parameter per token); the extra 336 px epoch of ViT-L/14@336 "
               "is not counted")
DINO_SRC = "Oquab et al. 2023, 'DINOv2: Learning Robust Visual Features without Supervision'"
DINO_SAMPLES = "625k iterations x 3,072 images = 1.92B images (Oquab et al. 2023, implementation details)"
DINO_TOKENS = ("per image 2 global crops of 224 px and 8 local crops of 98 px (multi-crop), student forward and "
               "backward on all, the EMA teacher forward on the global crops; heads and the short high-resolution "
               "phase are not counted")
SAM_SRC = "Kirillov et al. 2023, 'Segment Anything'"
SAM_SAMPLES = "90k iterations x 256 images = 23M images (Kirillov et al. 2023, App. A: ~2 epochs of SA-1B)"
SAM_TOKENS = ("64 x 64 = 4,096 patch tokens per 1024 px image through the image encoder, forward and backward; "
              "the mask decoder, run for up to 64 masks x 11 prompting rounds per image (App. A), is not counted "
              "and is a large share of the real cost")


def _clip_preset(name, width, layers, patch, text_width, projection):
    return VisionPreset(name=name, family="clip", image=Tower(width=width, layers=layers, mlp=4 * width),
                        image_size=224, config_image_size=224, patch=patch,
                        text=Tower(width=text_width, layers=12, mlp=4 * text_width), projection=projection,
                        samples_seen=12.8e9, samples_source=CLIP_SAMPLES, tokens_note=CLIP_TOKENS,
                        source=f"{CLIP_SRC}, appendix hyperparameter tables")


def _dino_preset(name, width, layers, swiglu=False):
    mlp = 4096 if swiglu else 4 * width  # SwiGLU hidden = 2/3 of 4 x 1536, rounded to a multiple of 8
    # Only ViT-g was trained from scratch; ViT-S/B/L were distilled from it (dinov2 MODEL_CARD.md), so their
    # compute here is the student's alone, an assumption the table states.
    tokens = DINO_TOKENS if swiglu else DINO_TOKENS + ("; distilled from ViT-g/14 (model card): the ViT-g teacher's "
                                                       "forward passes are not counted")
    return VisionPreset(name=name, family="dinov2", image=Tower(width=width, layers=layers, mlp=mlp, swiglu=swiglu),
                        image_size=224, config_image_size=518, patch=14, samples_seen=625e3 * 3072,
                        samples_source=DINO_SAMPLES, tokens_note=tokens, source=f"{DINO_SRC}, appendix architecture table")


def _sam_preset(name, width, layers):
    return VisionPreset(name=name, family="sam", image=Tower(width=width, layers=layers, mlp=4 * width),
                        image_size=1024, config_image_size=1024, patch=16, samples_seen=90e3 * 256,
                        samples_source=SAM_SAMPLES, tokens_note=SAM_TOKENS, source=f"{SAM_SRC}, App. A")


@lru_cache(maxsize=1)
def vision_presets() -> dict[str, VisionPreset]:
    presets = [
        _clip_preset("clip-vit-b-16", 768, 12, 16, 512, 512),
        _clip_preset("clip-vit-l-14", 1024, 24, 14, 768, 768),
        _dino_preset("dinov2-vit-b-14", 768, 12),
        _dino_preset("dinov2-vit-l-14", 1024, 24),
        _dino_preset("dinov2-vit-g-14", 1536, 40, swiglu=True),
        _sam_preset("sam-vit-b", 768, 12),
        _sam_preset("sam-vit-l", 1024, 24),
        _sam_preset("sam-vit-h", 1280, 32),
    ]
    return {p.name: p for p in presets}


def get_vision_preset(name: str) -> VisionPreset:
    presets = vision_presets()
    if name not in presets:
        raise PlannerError(f"unknown vision preset {name!r}; choose one of: {', '.join(presets)}")
    return presets[name]
