"""A byte-level BPE trained on the corpus itself (HF `tokenizers`), so nothing is downloaded.

Both the tokenizer and the encoded token arrays are cached under `data_dir()/tokens/`, keyed by the
corpus manifest hash and the vocabulary size: the second run of a ladder starts training at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import PlannerError
from planner.core.settings import data_dir
from planner.train.corpus import Corpus

EOT = "<|endoftext|>"  # separates documents, so no sequence silently runs from one file into the next
MIN_VOCAB = 257  # 256 byte tokens + the separator


def cache_dir(corpus: Corpus, vocab_size: int) -> Path:
    path = data_dir() / "tokens" / f"{corpus.manifest_sha256[:16]}-v{vocab_size}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def train_tokenizer(corpus: Corpus, vocab_size: int):
    """Train (or load from cache) a byte-level BPE with `vocab_size` entries on the training split."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < MIN_VOCAB or vocab_size > 65535:
        raise PlannerError(f"vocabulary size must be between {MIN_VOCAB} and 65535 (got {vocab_size})")
    path = cache_dir(corpus, vocab_size) / "tokenizer.json"
    if path.exists():
        return Tokenizer.from_file(str(path))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    train_docs, _ = corpus.split()
    tok.train_from_iterator(train_docs, trainer=trainer)
    tmp = path.with_suffix(".tmp")
    tok.save(str(tmp))
    tmp.replace(path)  # atomic: two workers training the same tokenizer never read half a file
    return tok


@dataclass
class TokenData:
    train: np.ndarray  # uint16 token ids, documents joined by EOT
    heldout: np.ndarray
    vocab_size: int


def _encode(tok, docs: list[str]) -> np.ndarray:
    eot = tok.token_to_id(EOT)
    ids: list[int] = []
    for enc in tok.encode_batch(docs):
        ids.extend(enc.ids)
        ids.append(eot)
    return np.asarray(ids, dtype=np.uint16)


def token_data(corpus: Corpus, vocab_size: int) -> TokenData:
    """The corpus encoded with its tokenizer, train and held-out, cached as .npy files."""
    folder = cache_dir(corpus, vocab_size)
    paths = {split: folder / f"{split}.npy" for split in ("train", "heldout")}
    if not all(p.exists() for p in paths.values()):
        tok = train_tokenizer(corpus, vocab_size)
        for split, docs in zip(("train", "heldout"), corpus.split()):
            tmp = folder / f"{split}.tmp.npy"
            np.save(tmp, _encode(tok, docs))
            tmp.replace(paths[split])
    return TokenData(train=np.load(paths["train"]), heldout=np.load(paths["heldout"]), vocab_size=vocab_size)
