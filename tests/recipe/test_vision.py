"""Vision presets: every parameter count equals what transformers instantiates for the published config
(meta device: no weights, no downloads), and the training-compute assumptions."""
import pytest
import torch
import transformers

from planner.recipe import vision

CLIP_TEXT = dict(num_hidden_layers=12, max_position_embeddings=77, vocab_size=49408)
HF_CONFIGS = {  # the published hyperparameters (Radford 2021, Oquab 2023 and Kirillov 2023 appendices; the released configs)
    "clip-vit-b-16": lambda: transformers.CLIPConfig(
        text_config=dict(hidden_size=512, intermediate_size=2048, num_attention_heads=8, **CLIP_TEXT),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                           patch_size=16, image_size=224), projection_dim=512),
    "clip-vit-l-14": lambda: transformers.CLIPConfig(
        text_config=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, **CLIP_TEXT),
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24,
                           patch_size=14, image_size=224), projection_dim=768),
    "dinov2-vit-b-14": lambda: transformers.Dinov2Config(hidden_size=768, num_hidden_layers=12,
                                                         num_attention_heads=12, image_size=518, patch_size=14),
    "dinov2-vit-l-14": lambda: transformers.Dinov2Config(hidden_size=1024, num_hidden_layers=24,
                                                         num_attention_heads=16, image_size=518, patch_size=14),
    "dinov2-vit-g-14": lambda: transformers.Dinov2Config(hidden_size=1536, num_hidden_layers=40,
                                                         num_attention_heads=24, mlp_ratio=4, use_swiglu_ffn=True,
                                                         image_size=518, patch_size=14),
    "sam-vit-b": lambda: transformers.SamConfig(vision_config=dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, global_attn_indexes=[2, 5, 8, 11])),
    "sam-vit-l": lambda: transformers.SamConfig(vision_config=dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, global_attn_indexes=[5, 11, 17, 23])),
    "sam-vit-h": lambda: transformers.SamConfig(vision_config=dict(
        hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, global_attn_indexes=[7, 15, 23, 31])),
}
MODEL_CLASS = {"clip": transformers.CLIPModel, "dinov2": transformers.Dinov2Model, "sam": transformers.SamModel}


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list(vision.vision_presets()))
def test_counts_match_transformers(name):
    with torch.device("meta"):
        model = MODEL_CLASS[vision.get_vision_preset(name).family](HF_CONFIGS[name]())
    counts = vision.vision_params(name)
    assert counts.total == _count(model)
    if name.startswith("clip"):
        assert counts.image_encoder == _count(model.vision_model)
        assert counts.text_encoder == _count(model.text_model)
    if name.startswith("sam"):
        assert counts.image_encoder == _count(model.vision_encoder)


def test_published_totals():
    """The issue's figures: CLIP ViT-L/14 both towers 427,616,513; DINOv2 ViT-g/14 1,136,480,768; SAM ViT-H
    641,090,864 (image encoder 637,026,048)."""
    assert vision.vision_params("clip-vit-l-14").total == 427_616_513
    assert vision.vision_params("dinov2-vit-g-14").total == 1_136_480_768
    sam = vision.vision_params("sam-vit-h")
    assert (sam.total, sam.image_encoder) == (641_090_864, 637_026_048)


def test_training_compute_assumptions():
    """CLIP: 12.8B pairs (Radford 2021 §2.5) x (257 image + 77 text tokens); DINOv2: 1.92B images x (2 x 257 +
    8 x 50) crop tokens; SAM: 23M images x 4,096 patches."""
    clip = vision.vision_compute("clip-vit-l-14")
    assert clip.samples_seen == 12.8e9 and clip.tokens_per_sample == 257 + 77
    assert clip.flops == pytest.approx(6 * (303_179_776 * 257 + 123_060_480 * 77) * 12.8e9)
    dino = vision.vision_compute("dinov2-vit-g-14")
    assert dino.tokens_per_sample == 2 * 257 + 8 * 50
    assert dino.flops == pytest.approx(1_136_480_768 * (6 * 914 + 2 * 514) * 1.92e9)
    assert vision.vision_compute("sam-vit-h").tokens_per_sample == 4096
