"""Self-supervised feature sets on tiny randomly initialised models of each architecture, saved in tmp_path."""

from __future__ import annotations

import importlib.util
import json
import pickle
import socket
import sys

import numpy as np
import pandas as pd
import pytest

from tests.helpers import write_tone

HAVE_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "safetensors"))
needs_extra = pytest.mark.skipif(not HAVE_EXTRA, reason='needs the ssl extra: pip install ".[ssl]"')
ARCHS = ("wavlm", "hubert", "wav2vec2", "data2vec", "whisper")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The hub's offline switches, and a socket guard that fails any connection attempt."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    attempts = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert not attempts, attempts


def build_model(arch: str, folder, seed: int = 0):
    """A tiny randomly initialised model of ``arch`` saved with safetensors in ``folder``."""
    import torch
    import transformers as T

    torch.manual_seed(seed)
    small = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    if arch == "whisper":
        model = T.WhisperModel(T.WhisperConfig(
            d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=16, max_source_positions=50,
            max_target_positions=8, vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
            decoder_start_token_id=1))
    else:
        config_class, model_class = {"wavlm": (T.WavLMConfig, T.WavLMModel), "hubert": (T.HubertConfig, T.HubertModel),
                                     "wav2vec2": (T.Wav2Vec2Config, T.Wav2Vec2Model),
                                     "data2vec": (T.Data2VecAudioConfig, T.Data2VecAudioModel)}[arch]
        if arch == "data2vec":
            small["num_conv_pos_embeddings"] = 4
        model = model_class(config_class(**small))
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    if not HAVE_EXTRA:
        pytest.skip('needs the ssl extra: pip install ".[ssl]"')
    root = tmp_path_factory.mktemp("models")
    return {arch: build_model(arch, root / arch) for arch in ARCHS}


def clips(seconds=(1.0, 1.5)):
    rng = np.random.default_rng(0)
    return [(0.1 * rng.normal(size=int(s * 16000))).astype(np.float32) for s in seconds]


@needs_extra
@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_layers_and_pooling(models, arch):
    from features.ssl import SSLExtractor, SSLSpec

    ys = clips()
    hidden = SSLExtractor(SSLSpec(arch, str(models[arch]), layer="all", pooling="frames")).hidden_states(ys)
    for y, h in zip(ys, hidden, strict=True):
        assert h.shape[0] == 3 and h.shape[2] == 16  # front end + 2 layers, 16 dims
        assert abs(h.shape[1] - y.size / 320) <= 1.5  # 20 ms frames
    h = hidden[1]
    for layer, expect in ((0, h[0]), (2, h[2]), (None, h[2]), ("mean", h.mean(0))):
        ex = SSLExtractor(SSLSpec(arch, str(models[arch]), layer=layer, pooling="mean+std"))
        out = ex.transform(ys)[1]
        np.testing.assert_allclose(out, np.concatenate([expect.mean(0), expect.std(0)]), rtol=1e-5, atol=1e-6)
        assert len(ex.columns("x")) == out.size == 32
    stacked = SSLExtractor(SSLSpec(arch, str(models[arch]), layer="all", pooling="mean")).transform(ys)[1]
    np.testing.assert_allclose(stacked.reshape(3, 16), h.mean(1), rtol=1e-5, atol=1e-6)  # layer-major
    frames = SSLExtractor(SSLSpec(arch, str(models[arch]), layer=1, pooling="frames")).transform(ys)[1]
    np.testing.assert_allclose(frames, h[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(h[0].mean(0), h[2].mean(0))  # the layers differ, so selection is tested


@needs_extra
def test_layer_out_of_range_and_wrong_architecture(models):
    from features.registry import FeatureError
    from features.ssl import SSLExtractor, SSLSpec

    with pytest.raises(FeatureError, match="hidden states 0-2"):
        SSLExtractor(SSLSpec("wavlm", str(models["wavlm"]), layer=3))
    with pytest.raises(FeatureError, match="model_type 'hubert', not wavlm"):
        SSLExtractor(SSLSpec("wavlm", str(models["hubert"])))


@needs_extra
def test_deterministic_and_batch_independent(models):
    from features.ssl import SSLExtractor, SSLSpec

    ys = clips((1.0, 1.0, 1.2))
    spec = SSLSpec("wavlm", str(models["wavlm"]), layer=2, batch_size=4)
    together = SSLExtractor(spec).transform(ys)
    again = SSLExtractor(spec).transform(ys)
    alone = [SSLExtractor(SSLSpec("wavlm", str(models["wavlm"]), layer=2, batch_size=1)).transform([y])[0]
             for y in ys]
    for a, b, c in zip(together, again, alone, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)


@needs_extra
def test_long_clip_in_overlapping_chunks(models):
    from features.ssl import SSLExtractor, SSLSpec, frames_for

    y = clips((5.0,))[0]
    whole = SSLExtractor(SSLSpec("wav2vec2", str(models["wav2vec2"]), layer=2, pooling="frames")).transform([y])[0]
    chunked = SSLExtractor(SSLSpec("wav2vec2", str(models["wav2vec2"]), layer=2, pooling="frames",
                                   chunk_seconds=2.0, overlap_seconds=0.5)).transform([y])[0]
    assert whole.shape[0] == frames_for(y.size)
    assert abs(chunked.shape[0] - whole.shape[0]) <= 2
    # Far from the chunks' edges a frame sees the same context whole or chunked; near them it differs a little.
    np.testing.assert_allclose(chunked[:40], whole[:40], rtol=0.2, atol=0.2)


def test_stitch_takes_each_time_once_in_order():
    from features.ssl import chunk_starts, stitch

    n, size, overlap = 16000 * 5, 32000, 8000
    starts = chunk_starts(n, size, overlap)
    assert starts[0] == 0 and starts[-1] + size == n and all(b - a <= size - overlap for a, b in zip(starts,
                                                                                                    starts[1:], strict=False))
    parts = [(s + 320 * np.arange(min(size, n - s) // 320))[None, :, None].astype(float) for s in starts]
    times = stitch(parts, starts, overlap)[0, :, 0]
    assert np.all(np.diff(times) > 0) and np.all(np.diff(times) <= 320 * 1.5)
    assert times[0] == 0 and times[-1] >= n - 640


def _table(tmp_path, n=3):
    paths = [write_tone(tmp_path / "audio" / f"c{i}.wav", seconds=0.6 + 0.2 * i, freq=200 + 50 * i, seed=i)
             for i in range(n)]
    return pd.DataFrame({"path": [str(p) for p in paths]})


@needs_extra
def test_cache_hit_then_miss_when_weights_change_not_when_moved(models, tmp_path):
    import shutil

    from features import extract
    from features.ssl import SSLSpec, register_ssl_set

    table, cache = _table(tmp_path), tmp_path / "cache"
    folder = tmp_path / "model"
    shutil.copytree(models["hubert"], folder)
    name = register_ssl_set(SSLSpec("hubert", str(folder), layer=1, pooling="mean"), "test-hubert")
    first = extract(table, ["rms", name], cache_dir=cache, jobs=2)  # rms in the bank pass, the encoder in its own
    assert first.report.computed == 3 and first.vectors[name].shape == (3, 16) and first.vectors["rms"].size
    second = extract(table, ["rms", name], cache_dir=cache, jobs=2)
    assert second.report.cache_hits == 3 and second.report.computed == 0
    np.testing.assert_array_equal(first.vectors[name], second.vectors[name])

    moved = tmp_path / "elsewhere"
    shutil.move(folder, moved)  # the key is the weights' digest, not the path
    register_ssl_set(SSLSpec("hubert", str(moved), layer=1, pooling="mean"), "test-hubert-moved")
    from features.registry import REGISTRY
    assert REGISTRY["test-hubert-moved"].identity == REGISTRY[name].identity

    build_model("hubert", moved, seed=1)  # new weights in the same folder
    changed = register_ssl_set(SSLSpec("hubert", str(moved), layer=1, pooling="mean"), "test-hubert-moved2")
    assert REGISTRY[changed].identity != REGISTRY[name].identity
    third = extract(table, [changed], cache_dir=cache)
    assert third.report.computed == 3
    assert not np.allclose(third.vectors[changed], first.vectors[name])
    other_layer = register_ssl_set(SSLSpec("hubert", str(moved), layer=2, pooling="mean"), "test-hubert-l2")
    assert REGISTRY[other_layer].identity != REGISTRY[changed].identity


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@needs_extra
def test_pickle_only_folder_refused_and_never_run(models, tmp_path):
    from features.registry import FeatureError
    from features.ssl import SSLSpec, register_ssl_set

    folder, marker = tmp_path / "pickled", tmp_path / "payload-ran"
    folder.mkdir()
    (folder / "config.json").write_text((models["wavlm"] / "config.json").read_text())
    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"weights": _Payload(str(marker))}, handle)
    with pytest.raises(FeatureError, match="only pickled weights .pytorch_model.bin.*--allow-pickle-weights") as info:
        register_ssl_set(SSLSpec("wavlm", str(folder)))
    assert "\n" not in str(info.value)
    assert not marker.exists()


@needs_extra
def test_hub_id_not_in_cache_is_one_line_and_offline(tmp_path, monkeypatch, no_network):
    from features.registry import FeatureError
    from features.ssl import model_dir

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FeatureError, match="not in the local Hugging Face cache.*nothing is downloaded"):
        model_dir("microsoft/wavlm-base-plus")
    assert not no_network


def test_extra_missing_is_one_line(monkeypatch):
    from features.registry import FeatureError
    from features.ssl import SSLSpec, register_ssl_set

    for module in ("torch", "transformers"):
        monkeypatch.setitem(sys.modules, module, None)  # an import of it now fails, as when not installed
    with pytest.raises(FeatureError, match=r"need PyTorch and transformers: pip install") as info:
        register_ssl_set(SSLSpec("wavlm", "/nowhere"))
    assert "\n" not in str(info.value)


def test_cli_extra_missing_exit_2(monkeypatch, capsys):
    from benchmark.cli import main

    monkeypatch.setitem(sys.modules, "torch", None)
    code = main(["extract", "--profile", "small", "--features", "mfcc,wavlm:path=/nowhere,layer=6"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install" in err[0]


def test_cli_spec_parsing():
    from benchmark.cli.common import UsageError
    from benchmark.cli.ssl_args import parse_spec, split_specs

    assert split_specs("all,wavlm:path=~/m,layer=6,pool=mean+std,mfcc") == [
        "all", "wavlm:path=~/m,layer=6,pool=mean+std", "mfcc"]
    spec, name = parse_spec("whisper:path=/m,layer=all,pool=frames,chunk=10,name=w", "--ssl", device="auto")
    assert (spec.arch, spec.layer, spec.pooling, spec.chunk_seconds, spec.device, name) == (
        "whisper", "all", "frames", 10.0, "auto", "w")
    assert parse_spec("hubert:path=/m,layer=last", "--ssl")[0].layer is None
    for bad, words in (("bert:path=/m", "not one of"), ("wavlm:layer=6", "give path="),
                       ("wavlm:path=/m,layer=x", "layer=x"), ("wavlm:path=/m,colour=red", "keys path")):
        with pytest.raises(UsageError, match=words):
            parse_spec(bad, "--features")


@needs_extra
def test_cli_extract_with_tiny_model(models, tmp_path, capsys):
    from benchmark.cli import main

    cfg = json.loads((models["data2vec"] / "config.json").read_text())
    assert cfg["model_type"] == "data2vec-audio"
    table = _table(tmp_path, n=2)
    manifest = tmp_path / "manifest.csv"
    table.assign(path=[p.split("/audio/")[1] for p in table["path"]], emotion=["angry", "sad"],
                 speaker=["a", "b"]).assign(path=lambda t: "audio/" + t["path"]).to_csv(manifest, index=False)
    args = ["extract", "--dataset", "manifest", "--data-dir", str(manifest), "--cache-dir", str(tmp_path / "c"),
            "--features", f"data2vec:path={models['data2vec']},layer=mean,pool=mean+std"]
    assert main(args) == 0
    assert "2 computed, 0 failed" in capsys.readouterr().out
    assert main(args) == 0
    assert "2 cache hits, 0 computed" in capsys.readouterr().out


def test_ssl_head_not_in_all():
    from models.registry import resolve_models

    assert "ssl_head" not in resolve_models("all") and resolve_models("ssl_head") == ["ssl_head"]


@pytest.mark.neural
def test_ssl_head_weighted_layers_and_padding():
    from models import make_model

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 8)
    X = np.full((24, 20, 3 * 4), np.nan, np.float32)
    for i in range(24):
        n = int(rng.integers(8, 16))
        X[i, :n] = rng.normal(size=(n, 12))
        X[i, :n, 8:] += 2.0 * y[i]  # only the last of the 3 stacked layers carries the emotion
    model = make_model("ssl_head", layers=3, max_epochs=40, learning_rate=3e-2, early_stopping=False)
    model.fit(X, y, groups=np.tile(np.arange(6), 4))  # every speaker has every emotion
    assert (model.predict(X) == y).mean() > 0.9
    weights = model.model_.get_layer("layer_weights").get_weights()[0]
    assert np.argmax(weights) == 2  # the learned sum leans on the informative layer
    padded = np.concatenate([X, np.full((24, 10, 12), np.nan, np.float32)], axis=1)
    np.testing.assert_allclose(model.predict_proba(padded), model.predict_proba(X), atol=1e-5)
    with pytest.raises(ValueError, match="do not split into layers=5"):
        make_model("ssl_head", layers=5, max_epochs=1).fit(X, y)


@needs_extra
def test_gpu_gives_the_cpu_numbers(models):
    import torch

    from features.ssl import SSLExtractor, SSLSpec

    if not torch.cuda.is_available():
        pytest.skip("no GPU visible to PyTorch")
    ys = clips()
    cpu = SSLExtractor(SSLSpec("wavlm", str(models["wavlm"]), layer="all")).transform(ys)
    gpu = SSLExtractor(SSLSpec("wavlm", str(models["wavlm"]), layer="all", device="cuda")).transform(ys)
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
