"""Self-supervised speech encoders as feature sets: WavLM, HuBERT, wav2vec 2.0, data2vec and Whisper's encoder.

The project ships no weights and never downloads any. A set is built from a model the user already has, a
local folder or a Hugging Face cache id, loaded with ``local_files_only`` and the hub's offline switch, from
safetensors only: a folder holding only pickled weights (``pytorch_model.bin``) is refused, since unpickling a
file can run code, unless ``allow_pickle=True`` is given on purpose.

Needs the optional extra ``pip install ".[ssl]"`` (PyTorch, transformers, safetensors); without it, selecting a
set is a one-line :class:`~features.registry.FeatureError` saying how to install it.

Each set's cache key holds the digest of the weights' files (not their path), the layer, the pooling, the
chunking, the analysis rate and the torch/transformers/safetensors versions, so moving a model folder keeps its
cache and changing one weight recomputes everything.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .registry import REGISTRY, FeatureError, feature_set

INSTALL_HINT = 'pip install torch transformers safetensors (or pip install ".[ssl]")'
ARCHITECTURES = {  # spec name -> transformers model_type values it accepts
    "wavlm": ("wavlm",),
    "hubert": ("hubert",),
    "wav2vec2": ("wav2vec2", "wav2vec2-conformer"),
    "data2vec": ("data2vec-audio",),
    "whisper": ("whisper",),
}
POOLINGS = ("mean", "mean+std", "frames")
LAYER_CHOICES = ("all", "mean")  # besides an int: every layer stacked, or their mean
SAMPLE_RATE = 16_000  # every one of these encoders was trained on 16 kHz audio
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
SET_REVISION = 1


@dataclass(frozen=True)
class SSLSpec:
    """What decides one self-supervised feature set.

    Parameters
    ----------
    arch : one of ``wavlm``, ``hubert``, ``wav2vec2``, ``data2vec``, ``whisper``.
    path : a local model folder, or a Hugging Face cache id (``microsoft/wavlm-base-plus``) already in the cache.
    layer : hidden state K (0 is the convolutional front end's projection, K the output of transformer layer K),
        ``"all"`` (every hidden state stacked, for a learned weighted sum in a head) or ``"mean"`` (their mean).
        ``None``: the last layer.
    pooling : ``mean`` or ``mean+std`` over frames (a vector set), or ``frames`` (a sequence set, 20 ms frames).
    chunk_seconds, overlap_seconds : long clips are encoded in chunks of this length overlapping by this much;
        each output frame is taken from the chunk in which it lies furthest from an edge. Whisper's chunk is its
        fixed input window.
    batch_size : chunks of equal length encoded together.
    device : ``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (cuda when PyTorch sees one). Not part of the cache key:
        the numbers agree within float tolerance.
    allow_pickle : load a folder that holds only pickled weights (runs code from the file: only for weights you
        trust).
    """

    arch: str
    path: str
    layer: int | str | None = None
    pooling: str = "mean"
    chunk_seconds: float = 20.0
    overlap_seconds: float = 2.0
    batch_size: int = 8
    device: str = "cpu"
    allow_pickle: bool = False

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise FeatureError(f"self-supervised model {self.arch!r}: choose from {', '.join(ARCHITECTURES)}")
        if self.pooling not in POOLINGS:
            raise FeatureError(f"{self.arch}: pool={self.pooling}: choose from {', '.join(POOLINGS)}")
        if isinstance(self.layer, str) and self.layer not in LAYER_CHOICES:
            raise FeatureError(f"{self.arch}: layer={self.layer}: give a number, 'all' or 'mean'")
        if isinstance(self.layer, int) and self.layer < 0:
            raise FeatureError(f"{self.arch}: layer={self.layer}: layers count from 0")
        if not self.chunk_seconds > 0 or not 0 <= self.overlap_seconds < self.chunk_seconds / 2:
            raise FeatureError(f"{self.arch}: chunk={self.chunk_seconds}, overlap={self.overlap_seconds}: the "
                               "chunk must be positive and the overlap under half of it")
        if self.batch_size < 1:
            raise FeatureError(f"{self.arch}: batch={self.batch_size}: at least 1")
        if not (self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:")):
            raise FeatureError(f"{self.arch}: device={self.device}: cpu, cuda, cuda:N or auto")

    @property
    def kind(self) -> str:
        return "sequence" if self.pooling == "frames" else "vector"


def _modules():
    """(torch, transformers), imported with the hub offline; a one-line FeatureError when the extra is missing."""
    # Set before transformers and huggingface_hub are imported: they read the switches once, at import.
    os.environ["HF_HUB_OFFLINE"] = "1"  # forced, not defaulted: a run never downloads, whatever the shell says
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
        importlib.import_module("safetensors")
    except ImportError:
        raise FeatureError(f"self-supervised feature sets ({', '.join(ARCHITECTURES)}) need PyTorch and "
                           f"transformers: {INSTALL_HINT}") from None
    return torch, transformers


def library_versions() -> dict[str, str]:
    """torch, transformers and safetensors versions from their metadata (no import)."""
    out = {}
    for name in ("torch", "transformers", "safetensors"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def model_dir(path: str) -> Path:
    """The local folder of a model given by path or by Hugging Face cache id, never downloading.

    Raises
    ------
    FeatureError
        Neither a folder nor an id found in the local cache.
    """
    local = Path(path).expanduser()
    if local.is_dir():
        return local.resolve()
    if local.exists():
        raise FeatureError(f"model {path}: not a folder (give the folder holding config.json and the weights)")
    if path.count("/") == 1 and not path.startswith((".", "/", "~")):
        _modules()  # the offline switches are set before huggingface_hub is imported
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(repo_id=path, local_files_only=True)).resolve()
        except Exception as error:  # noqa: BLE001 - the hub raises several kinds; one line says why
            raise FeatureError(f"model {path}: not a folder, and not in the local Hugging Face cache "
                               f"({type(error).__name__}); nothing is downloaded") from None
    raise FeatureError(f"model {path}: no such folder")


def weight_files(folder: Path, allow_pickle: bool) -> list[Path]:
    """The weights' files of a model folder: its safetensors files, or, only with ``allow_pickle``, its pickles.

    Raises
    ------
    FeatureError
        No config.json, no weights, or only pickled weights without ``allow_pickle``.
    """
    if not (folder / "config.json").is_file():
        raise FeatureError(f"model {folder}: no config.json (not a transformers model folder)")
    safe = sorted(folder.glob("*.safetensors"))
    if safe:
        return safe
    pickled = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickled and not allow_pickle:
        raise FeatureError(f"model {folder}: only pickled weights ({pickled[0].name}), and loading a pickle can "
                           "run code from the file; convert it to safetensors, or pass --allow-pickle-weights "
                           "(allow_pickle=True) if you trust it")
    if not pickled:
        raise FeatureError(f"model {folder}: no weights (*.safetensors)")
    return pickled


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def weights_digest(folder: Path, files: Sequence[Path]) -> str:
    """Digest of the model's configuration and weights by content (a moved folder keeps its digest)."""
    h = hashlib.sha256()
    for path in [folder / "config.json", *(folder / n for n in ("preprocessor_config.json",)
                                           if (folder / n).is_file()), *files]:
        stat = path.stat()
        h.update(path.name.encode() + b"\0" + _file_digest(str(path), stat.st_size, stat.st_mtime_ns).encode())
    return h.hexdigest()


class SSLExtractor:
    """One frozen self-supervised encoder: waveforms in, hidden states out, pooled as its spec says.

    The model is loaded on first use (``load``) and kept; ``layers_`` is the number of hidden states (the
    transformer layers plus the front end's), ``digest_`` the weights' digest.

    Parameters
    ----------
    spec : what to load and how to pool.
    """

    def __init__(self, spec: SSLSpec):
        self.spec = spec
        self.folder_ = model_dir(spec.path)
        self.files_ = weight_files(self.folder_, spec.allow_pickle)
        self.digest_ = weights_digest(self.folder_, self.files_)
        config = json.loads((self.folder_ / "config.json").read_text())
        model_type = config.get("model_type", "")
        if model_type not in ARCHITECTURES[spec.arch]:
            raise FeatureError(f"model {spec.path}: its config says model_type {model_type!r}, not {spec.arch}")
        encoder_config = config.get("encoder_layers") if spec.arch == "whisper" else config.get("num_hidden_layers")
        self.layers_ = int(encoder_config) + 1
        if isinstance(spec.layer, int) and spec.layer >= self.layers_:
            raise FeatureError(f"model {spec.path}: layer={spec.layer}, but it has hidden states 0-"
                               f"{self.layers_ - 1}")
        self.hidden_ = int(config.get("d_model") if spec.arch == "whisper" else config.get("hidden_size"))
        preprocessor = self.folder_ / "preprocessor_config.json"
        pre = json.loads(preprocessor.read_text()) if preprocessor.is_file() else {}
        self.normalize_ = bool(pre.get("do_normalize", config.get("feat_extract_norm") == "layer"))
        self._model = None
        self._mel = None

    def identity(self) -> str:
        """Everything besides the analysis settings that decides the numbers: the cache key's part."""
        s = self.spec
        return json.dumps({"revision": SET_REVISION, "arch": s.arch, "weights": self.digest_, "layer": s.layer,
                           "pooling": s.pooling, "chunk": s.chunk_seconds, "overlap": s.overlap_seconds,
                           "normalize": self.normalize_, "libraries": library_versions()}, sort_keys=True)

    # -- the model -------------------------------------------------------------------------------------------
    def device(self) -> str:
        torch, _ = _modules()
        if self.spec.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.spec.device.startswith("cuda") and not torch.cuda.is_available():
            raise FeatureError(f"device={self.spec.device}: PyTorch sees no GPU here (use device=cpu or auto)")
        return self.spec.device

    def load(self):
        if self._model is not None:
            return self._model
        torch, transformers = _modules()
        transformers.logging.set_verbosity_error()  # its loading bars and notes are not ours to print
        transformers.utils.logging.disable_progress_bar()
        kwargs = {"local_files_only": True, "use_safetensors": not self.spec.allow_pickle,
                  "trust_remote_code": False}
        if self.spec.arch == "whisper":
            model = transformers.WhisperModel.from_pretrained(str(self.folder_), **kwargs).get_encoder()
            self._mel = transformers.WhisperFeatureExtractor(feature_size=model.config.num_mel_bins,
                                                             sampling_rate=SAMPLE_RATE)
        else:
            model = transformers.AutoModel.from_pretrained(str(self.folder_), **kwargs)
        model.eval()
        self._model = model.to(self.device())
        return self._model

    def chunk_samples(self) -> int:
        if self.spec.arch == "whisper":  # a fixed window: 2 mel frames of 160 samples per position
            self.load()
            return int(self._model.config.max_source_positions) * 2 * 160
        return int(round(self.spec.chunk_seconds * SAMPLE_RATE))

    # -- encoding --------------------------------------------------------------------------------------------
    def hidden_states(self, waveforms: Sequence[np.ndarray], progress: bool | None = False) -> list[np.ndarray]:
        """Every hidden state of each 16 kHz waveform: a list of float32 (layers, frames, dims) arrays.

        Chunks of equal length (across clips too) are encoded in batches of ``batch_size``; a clip's chunks are
        stitched back frame by frame.
        """
        from tqdm import tqdm

        torch, _ = _modules()
        self.load()
        size = self.chunk_samples()
        overlap = int(round(self.spec.overlap_seconds * SAMPLE_RATE))
        if self.spec.arch == "whisper":
            overlap = min(overlap, size // 4)
        plans, jobs = [], []  # per clip: its chunks' (start, length); all chunks: (clip, index, samples)
        for c, y in enumerate(waveforms):
            y = np.asarray(y, dtype=np.float32)
            if y.size < 400:  # under one 25 ms window: the front end needs at least that much
                y = np.pad(y, (0, 400 - y.size))
            if self.normalize_:
                y = (y - y.mean()) / np.sqrt(y.var() + 1e-7)
            starts = chunk_starts(y.size, size, overlap)
            plans.append([(s, min(size, y.size - s)) for s in starts])
            jobs += [(c, k, y[s: s + size]) for k, s in enumerate(starts)]
        outputs: dict[tuple[int, int], np.ndarray] = {}
        order = sorted(range(len(jobs)), key=lambda j: (jobs[j][2].size, j))
        bar = tqdm(total=len(jobs), unit="chunk", desc=f"{self.spec.arch}",
                   disable=None if progress is None else not progress)
        device = self.device()
        with torch.inference_mode():
            start = 0
            while start < len(order):
                length = jobs[order[start]][2].size
                batch = [order[start]]
                while (len(batch) < self.spec.batch_size and start + len(batch) < len(order)
                       and jobs[order[start + len(batch)]][2].size == length):
                    batch.append(order[start + len(batch)])
                states = self._encode([jobs[j][2] for j in batch], device)  # (batch, layers, frames, dims)
                for row, j in enumerate(batch):
                    n = jobs[j][2].size
                    keep = -(-n // 320) if self.spec.arch == "whisper" else frames_for(n)
                    outputs[jobs[j][:2]] = states[row][:, :keep]
                bar.update(len(batch))
                start += len(batch)
        bar.close()
        return [stitch([outputs[(c, k)] for k in range(len(plan))], [s for s, _ in plan], overlap)
                for c, plan in enumerate(plans)]

    def _encode(self, chunks: list[np.ndarray], device: str) -> np.ndarray:
        torch, _ = _modules()
        if self.spec.arch == "whisper":
            size = self.chunk_samples()
            padded = [np.pad(c, (0, size - c.size)) for c in chunks]
            mel = self._mel(padded, sampling_rate=SAMPLE_RATE, return_tensors="np", padding=False)
            inputs = torch.from_numpy(np.ascontiguousarray(mel["input_features"][..., : size // 160]))
            out = self._model(inputs.to(device), output_hidden_states=True)
        else:
            out = self._model(torch.from_numpy(np.stack(chunks)).to(device), output_hidden_states=True)
        return torch.stack(out.hidden_states, dim=1).float().cpu().numpy()

    def transform(self, waveforms: Sequence[np.ndarray], progress: bool | None = False) -> list[np.ndarray]:
        """The spec's features of each waveform: 1-D vectors (mean, mean+std) or (frames, dims) sequences."""
        return [select_and_pool(h, self.spec.layer, self.spec.pooling) for h in
                self.hidden_states(waveforms, progress)]

    def columns(self, name: str) -> list[str] | None:
        """Column names of the vector a set gives (None for a sequence set)."""
        if self.spec.kind == "sequence":
            return None
        stats = ["mean"] if self.spec.pooling == "mean" else ["mean", "std"]
        layers = [f"l{k}_" for k in range(self.layers_)] if self.spec.layer == "all" else [""]
        return [f"{name}_{lay}{stat}_{i}" for lay in layers for stat in stats for i in range(self.hidden_)]


def chunk_starts(n: int, size: int, overlap: int) -> list[int]:
    """Start samples of the chunks covering ``n`` samples: one chunk when it fits, else a hop of size-overlap,
    the last chunk ending at the clip's end (so no chunk is a short remnant)."""
    if n <= size:
        return [0]
    hop = size - overlap
    starts = list(range(0, n - size, hop)) + [n - size]
    return sorted(set(starts))


def frames_for(samples: int) -> int:
    """Frames the 20 ms encoders give for ``samples`` (wav2vec 2.0's front end: kernels 10,3,3,3,3,2,2, strides
    5,2,2,2,2,2,2, i.e. one frame per 320 samples after a 400-sample receptive field)."""
    return max(1, (samples - 400) // 320 + 1)


def stitch(parts: list[np.ndarray], starts: list[int], overlap: int) -> np.ndarray:
    """One (layers, frames, dims) array from overlapping chunks: each frame from the chunk whose edge is furthest.

    A frame's time is its chunk's start plus 320 samples per frame; in an overlap the boundary is its middle.
    """
    if len(parts) == 1:
        return parts[0]
    pieces = []
    for k, (part, start) in enumerate(zip(parts, starts, strict=True)):
        times = start + 320 * np.arange(part.shape[1])
        lo = -np.inf if k == 0 else (starts[k - 1] + 320 * parts[k - 1].shape[1] + start) / 2
        hi = np.inf if k == len(parts) - 1 else (start + 320 * part.shape[1] + starts[k + 1]) / 2
        pieces.append(part[:, (times >= lo) & (times < hi)])
    return np.concatenate(pieces, axis=1)


def select_and_pool(hidden: np.ndarray, layer: int | str | None, pooling: str) -> np.ndarray:
    """The chosen layer(s) of (layers, frames, dims) hidden states, pooled over frames.

    Returns
    -------
    ``mean``: (dims,) or, for ``layer="all"``, (layers * dims,) layer-major, so a head can reshape it to
    (layers, dims) for a weighted sum; ``mean+std``: twice that, mean then std per layer; ``frames``: (frames,
    dims), or (frames, layers * dims) for ``"all"``.
    """
    if layer is None:
        states = hidden[-1][None]
    elif layer == "all":
        states = hidden
    elif layer == "mean":
        states = hidden.mean(axis=0, keepdims=True)
    else:
        states = hidden[int(layer)][None]
    if pooling == "frames":
        return np.transpose(states, (1, 0, 2)).reshape(states.shape[1], -1)
    mean = states.mean(axis=1)
    if pooling == "mean":
        return mean.reshape(-1)
    return np.concatenate([mean, states.std(axis=1)], axis=1).reshape(-1)


_EXTRACTORS: dict[str, SSLExtractor] = {}


def set_name(spec: SSLSpec) -> str:
    """A readable default name: ``wavlm-l6-mean`` (``-lall``, ``-lmean``, ``-llast``)."""
    layer = "last" if spec.layer is None else spec.layer
    return f"{spec.arch}-l{layer}-{spec.pooling.replace('+', '')}"


def register_ssl_set(spec: SSLSpec, name: str | None = None) -> str:
    """Register a feature set computed by a self-supervised encoder; return its name.

    The model is checked now (folder, weights, layer), loaded on first use. Extraction runs it in the extracting
    process (one model in memory), never in worker processes.

    Raises
    ------
    FeatureError
        The extra is missing, or the model cannot be used (a one-line reason).
    """
    _modules()
    extractor = SSLExtractor(spec)
    name = name or set_name(spec)
    existing = _EXTRACTORS.get(name)
    if existing is not None and existing.spec != spec:
        raise FeatureError(f"feature set {name!r} is already a different model; name it with name=...")
    _EXTRACTORS[name] = extractor

    def encode(clip, _name=name):
        if clip.sr != SAMPLE_RATE:
            raise FeatureError(f"feature set {_name!r} needs the 16 kHz analysis rate (--sr 16000), not {clip.sr}")
        ex = _EXTRACTORS[_name]
        values = ex.transform([clip.y])[0]
        return values if ex.spec.kind == "sequence" else (values, ex.columns(_name))

    REGISTRY.pop(name, None)
    feature_set(name, version=SET_REVISION, kind=spec.kind, uses=("sr",), identity=extractor.identity(),
                in_process=True, description=f"{spec.arch} ({spec.path}), layer {spec.layer or 'last'}, "
                f"{spec.pooling}")(encode)
    return name
