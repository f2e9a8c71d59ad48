"""The built-in corpus: synthetic emotional speech from a source-filter voice, generated once and cached.

A glottal pulse train (with jitter and shimmer) and noise bursts for consonants are shaped, frame by frame in the
STFT domain, by formant resonators moving through vowel sequences and by a glottal spectral tilt. Emotions move
prosody the way studies of acted speech report it (Scherer 2003; Banse & Scherer 1996): anger is higher, more
variable, louder, faster and spectrally flatter; sadness lower, flatter, slower and quieter; and so on. Each speaker
renders each emotion with a strength and offsets of their own, so that, as on real acted corpora, a
speaker-dependent split scores clearly higher than a speaker-independent one.

It exists to show the benchmark working end to end with no download. Its scores say nothing about real speech.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

GENERATOR_VERSION = 2
SR = 16000
N_FFT = 512
HOP = 128
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # the 7 TESS emotions


@dataclass(frozen=True)
class Profile:
    speakers_per_sex: int
    sentences: int
    takes: int


PROFILES = {
    "default": Profile(speakers_per_sex=4, sentences=6, takes=2),  # 8 speakers x 7 x 6 x 2 = 672 clips
    "small": Profile(speakers_per_sex=3, sentences=3, takes=2),  # 6 speakers x 7 x 3 x 2 = 252 clips, for tests
}

# Vowel formant targets (F1, F2, F3, F4 in Hz) for an adult male vocal tract (Peterson & Barney 1952).
VOWELS = np.array([
    [730, 1090, 2440, 3400],  # a
    [530, 1840, 2480, 3500],  # e
    [270, 2290, 3010, 3700],  # i
    [570, 840, 2410, 3300],  # o
    [300, 870, 2240, 3300],  # u
    [500, 1500, 2500, 3500],  # schwa
], dtype=float)
BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0])
CONSONANTS = ("fricative", "stop", "nasal", "none")

# Emotion as offsets from a speaker's neutral voice. Units: f0 semitones, range x, rate x, level dB, tilt
# (positive = flatter spectrum), jitter x, shimmer x, breath (noise share added), final rise semitones.
PARAMS = ("f0", "range", "rate", "level", "tilt", "jitter", "shimmer", "breath", "rise")
PROTOTYPES = {
    "neutral": (0.0, 1.00, 1.00, 0.0, 0.0, 1.0, 1.0, 0.00, 0.0),
    "angry": (4.0, 1.70, 1.15, 7.0, 1.0, 1.4, 1.3, 0.00, -1.0),
    "happy": (4.5, 1.90, 1.08, 3.5, 0.5, 1.1, 1.1, 0.02, 1.0),
    "fear": (6.5, 1.10, 1.28, 1.0, 0.2, 2.4, 1.8, 0.06, 1.5),
    "sad": (-2.5, 0.45, 0.78, -6.0, -1.0, 1.2, 1.3, 0.08, -1.5),
    "disgust": (-2.0, 0.90, 0.75, -1.0, -0.5, 1.5, 1.4, 0.04, -2.5),
    "surprise": (5.0, 2.10, 1.02, 3.0, 0.4, 1.1, 1.0, 0.02, 7.0),
}
# How far a speaker's own rendering of an emotion strays from the prototype, per parameter.
SPEAKER_SPREAD = np.array([1.5, 0.30, 0.08, 2.0, 0.35, 0.30, 0.25, 0.02, 1.5])
TAKE_SPREAD = SPEAKER_SPREAD * 0.25


@dataclass(frozen=True)
class Speaker:
    name: str
    f0: float  # neutral mean F0, Hz
    vtl: float  # formant scale: shorter vocal tracts have higher formants
    rate: float  # syllables per second
    tilt: float  # glottal tilt exponent; larger is steeper
    jitter: float
    shimmer: float
    breath: float
    renderings: dict  # emotion -> parameter vector


def make_speakers(profile: Profile, rng: np.random.Generator) -> list[Speaker]:
    speakers = []
    for sex in ("f", "m"):
        for index in range(1, profile.speakers_per_sex + 1):
            female = sex == "f"
            renderings = {}
            for emotion in EMOTIONS:
                proto = np.array(PROTOTYPES[emotion])
                neutral = np.array(PROTOTYPES["neutral"])
                strength = 1.0 if emotion == "neutral" else rng.uniform(0.55, 1.3)
                offsets = rng.normal(0.0, 1.0, len(PARAMS)) * SPEAKER_SPREAD
                renderings[emotion] = neutral + strength * (proto - neutral) + offsets
            speakers.append(Speaker(
                name=f"{sex}{index:02d}",
                f0=rng.uniform(185, 240) if female else rng.uniform(95, 135),
                vtl=rng.uniform(1.12, 1.22) if female else rng.uniform(0.94, 1.04),
                rate=rng.uniform(3.8, 5.0),
                tilt=rng.uniform(0.8, 1.2),
                jitter=rng.uniform(0.004, 0.010),
                shimmer=rng.uniform(0.03, 0.07),
                breath=rng.uniform(0.01, 0.04),
                renderings=renderings,
            ))
    return speakers


def make_sentences(count: int, rng: np.random.Generator) -> list[list[tuple[str, int, bool]]]:
    """Each sentence: syllables of (consonant kind, vowel index, stressed)."""
    sentences = []
    for _ in range(count):
        n = int(rng.integers(5, 8))
        stressed = set(rng.choice(n, size=max(1, n // 3), replace=False).tolist())
        sentences.append([(str(rng.choice(CONSONANTS)), int(rng.integers(len(VOWELS))), i in stressed)
                          for i in range(n)])
    return sentences


def synthesise(speaker: Speaker, emotion: str, sentence, rng: np.random.Generator) -> np.ndarray:
    """One utterance as float32 samples at 16 kHz."""
    p = dict(zip(PARAMS, speaker.renderings[emotion] + rng.normal(0.0, 1.0, len(PARAMS)) * TAKE_SPREAD,
                 strict=True))
    rate = speaker.rate * max(p["rate"], 0.4)
    jitter = speaker.jitter * max(p["jitter"], 0.2)
    shimmer = speaker.shimmer * max(p["shimmer"], 0.2)
    breath = max(speaker.breath + p["breath"], 0.0)

    # Segment timeline: per syllable a consonant part and a vowel part, with durations from the speaking rate.
    segments = []  # (kind, start, end, vowel, stressed)
    t = rng.uniform(0.12, 0.2)
    for consonant, vowel, stressed in sentence:
        syllable = rng.uniform(0.85, 1.15) / rate * (1.25 if stressed else 1.0)
        c_dur = 0.0 if consonant == "none" else syllable * 0.3
        if c_dur:
            segments.append((consonant, t, t + c_dur, vowel, stressed))
        segments.append(("vowel", t + c_dur, t + syllable, vowel, stressed))
        t += syllable
    n = int((t + rng.uniform(0.12, 0.2)) * SR)
    times = np.arange(n) / SR

    # Prosody: F0 from syllable targets (declination, pitch accents scaled by range, final rise).
    nuclei = np.array([(s + e) / 2 for k, s, e, _, _ in segments if k == "vowel"])
    accents = np.array([st for k, _, _, _, st in segments if k == "vowel"], dtype=float)
    position = nuclei / nuclei[-1]
    semitones = (p["f0"] - 2.0 * position + p["range"] * (2.5 * accents + rng.normal(0, 0.6, len(nuclei)))
                 + p["rise"] * np.clip((position - 0.6) / 0.4, 0, 1) ** 2)
    f0 = speaker.f0 * 2.0 ** (np.interp(times, nuclei, semitones) / 12.0)

    voiced = np.zeros(n)
    noise_gain = np.zeros(n)
    amp = np.zeros(n)
    for kind, start, end, _, stressed in segments:
        a, b = int(start * SR), int(end * SR)
        ramp = np.hanning(max(b - a, 2))[: b - a] ** 0.5
        if kind in ("vowel", "nasal"):
            voiced[a:b] = np.maximum(voiced[a:b], ramp * (1.0 if kind == "vowel" else 0.5))
            amp[a:b] = 1.25 if stressed else 1.0
        elif kind == "fricative":
            noise_gain[a:b] = np.maximum(noise_gain[a:b], 0.35 * ramp)
        else:  # stop: closure then a short burst
            burst = max(a, b - int(0.02 * SR))
            noise_gain[burst:b] = 0.6
    level = 10.0 ** (p["level"] / 20.0)

    # Glottal source: pulse times by integrating F0, perturbed per period (jitter) and scaled (shimmer).
    phase = np.cumsum(f0) / SR
    pulse_index = np.searchsorted(phase, np.arange(1, int(phase[-1])) + 0.0)
    periods = SR / f0[pulse_index]
    pulse_index = np.clip(np.round(pulse_index + rng.normal(0, jitter, len(pulse_index)) * periods), 0, n - 1)
    pulse_index = pulse_index.astype(int)
    pulses = np.zeros(n)
    np.add.at(pulses, pulse_index, 1.0 + rng.normal(0, shimmer, len(pulse_index)))
    source = pulses * voiced * amp * np.sqrt(periods.mean())  # same energy whatever the F0
    aspiration = rng.normal(0, 1, n) * voiced * breath * 3.0
    frication = rng.normal(0, 1, n) * noise_gain

    stft = _stft(source + aspiration)
    noise_stft = _stft(frication)
    frames = stft.shape[1]
    frame_times = np.arange(frames) * HOP / SR
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SR)

    # Vocal tract: formant tracks interpolated between vowel targets, scaled by the speaker's tract length.
    vowel_centres = np.array([(s + e) / 2 for k, s, e, _, _ in segments if k == "vowel"])
    vowel_targets = np.array([VOWELS[v] for k, _, _, v, _ in segments if k == "vowel"]) * speaker.vtl
    formants = np.stack([np.interp(frame_times, vowel_centres, vowel_targets[:, k]) for k in range(4)])
    nasal_frames = np.zeros(frames, bool)
    for kind, start, end, _, _ in segments:
        if kind == "nasal":
            nasal_frames[int(start * SR / HOP): int(end * SR / HOP) + 1] = True
    nasal_frames = nasal_frames[:frames]
    formants[0, nasal_frames] = 260 * speaker.vtl
    formants[1, nasal_frames] = 1000 * speaker.vtl
    envelope = _resonances(freqs, formants, BANDWIDTHS * (1.0 + 0.3 * breath))
    # Glottal tilt: emotion changes how steeply the source spectrum falls (anger flatter, sadness steeper).
    tilt = max(speaker.tilt - 0.25 * p["tilt"], 0.3)
    envelope *= (1.0 + (freqs[:, None] / 300.0) ** 2) ** (-tilt / 2) * (freqs[:, None] / 4000.0 + 0.05)

    fricative_shape = (1.0 - np.exp(-((freqs / (3500.0 * speaker.vtl)) ** 4)))[:, None]
    spectrum = stft * envelope + noise_stft * fricative_shape * 0.5
    y = _istft(spectrum, n) * level
    y += rng.normal(0, 1e-4, n)  # recording noise floor
    return (0.06 * y).astype(np.float32)


def _stft(x: np.ndarray) -> np.ndarray:
    pad = np.pad(x, (N_FFT // 2, N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(pad, N_FFT)[::HOP]
    return np.fft.rfft(frames * np.hanning(N_FFT), axis=1).T


def _istft(spectrum: np.ndarray, n: int) -> np.ndarray:
    window = np.hanning(N_FFT)
    frames = np.fft.irfft(spectrum.T, n=N_FFT, axis=1) * window
    stride = N_FFT // HOP
    length = N_FFT + HOP * (frames.shape[0] - 1) + N_FFT
    out = np.zeros(length)
    norm = np.zeros(length)
    # Frames r, r+stride, r+2*stride... start N_FFT apart, so each such family tiles one contiguous run.
    for r in range(stride):
        rows = frames[r::stride]
        start = r * HOP
        out[start: start + rows.size] += rows.ravel()
        norm[start: start + rows.size] += np.tile(window ** 2, len(rows))
    norm[norm < 1e-8] = 1.0
    return (out / norm)[N_FFT // 2: N_FFT // 2 + n]


def _resonances(freqs: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Magnitude response of a cascade of two-pole resonators, per frame: shape (bins, frames)."""
    z = np.exp(-2j * np.pi * freqs / SR)[:, None]
    response = np.ones((len(freqs), formants.shape[1]))
    for k in range(formants.shape[0]):
        r = np.exp(-np.pi * bandwidths[k] / SR)
        theta = 2 * np.pi * np.minimum(formants[k], SR / 2 - 200) / SR
        a1, a2 = -2 * r * np.cos(theta)[None, :], r * r
        gain = 1 + a1 + a2  # unit gain at 0 Hz
        response *= np.abs(gain / (1 + a1 * z + a2 * z * z))
    return response


def corpus_dir(cache_dir: str | Path | None, seed: int, profile: str) -> Path:
    from features.cache import default_cache_dir

    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "synthetic" / f"{profile}-seed{seed}-v{GENERATOR_VERSION}"


def generate_corpus(out_dir: Path, seed: int = 0, profile: str = "default") -> list[Path]:
    """Write the corpus as 16-bit WAV files into ``out_dir``; the same seed gives byte-identical files."""
    if profile not in PROFILES:
        raise ValueError(f"unknown synthetic profile {profile!r}; choose one of {', '.join(PROFILES)}")
    spec = PROFILES[profile]
    rng = np.random.default_rng(seed)
    speakers = make_speakers(spec, rng)
    sentences = make_sentences(spec.sentences, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for s_index, speaker in enumerate(speakers):
        for e_index, emotion in enumerate(EMOTIONS):
            for t_index, sentence in enumerate(sentences):
                for take in range(spec.takes):
                    # One stream per utterance, so a file does not depend on the order files are made in.
                    utterance_rng = np.random.default_rng([seed, s_index, e_index, t_index, take])
                    y = synthesise(speaker, emotion, sentence, utterance_rng)
                    path = out_dir / f"syn_{speaker.name}_{emotion}_s{t_index + 1:02d}_t{take + 1}.wav"
                    sf.write(path, np.clip(y, -0.99, 0.99), SR, subtype="PCM_16", format="WAV")
                    written.append(path)
    return written


def ensure_synthetic_corpus(cache_dir: str | Path | None = None, seed: int = 0, profile: str = "default",
                            out_dir: str | Path | None = None, quiet: bool = False) -> Path:
    """Return the folder of the built-in corpus, generating it first if it is not complete there."""
    target = Path(out_dir) if out_dir is not None else corpus_dir(cache_dir, seed, profile)
    marker = target / "COMPLETE.json"
    if marker.is_file():
        return target
    staging = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    start = time.perf_counter()
    files = generate_corpus(staging, seed=seed, profile=profile)
    elapsed = time.perf_counter() - start
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    (staging / "COMPLETE.json").write_text(json.dumps({
        "generator_version": GENERATOR_VERSION, "seed": seed, "profile": profile, "files": len(files),
        "sha256": digest.hexdigest(), "seconds": round(elapsed, 2)}, indent=1))
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
    if not quiet:
        print(f"built-in corpus: generated {len(files)} files in {elapsed:.1f} s -> {target}", file=sys.stderr)
    return target
