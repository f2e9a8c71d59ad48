"""A RAVDESS-sized stand-in corpus made of EmoDB clips, for timing a run at RAVDESS's size where RAVDESS is absent.

RAVDESS's speech part is 1,440 clips of about 3.7 s at 48 kHz from 24 speakers. The stand-in has the same count,
length, rate and speakers: each clip is two EmoDB clips of one speaker and one emotion joined, resampled to
48 kHz and cut to 3.7 s, at a random gain; each stand-in speaker takes its clips from one EmoDB speaker. It is
for timing only: its speakers are relabelled copies, so its scores mean nothing.

    python -m benchmark.perf.standin ../shared/data/emodb /tmp/ravsized
    python run_benchmark.py run --dataset manifest --data-dir /tmp/ravsized/manifest.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "N": "neutral", "F": "happiness", "A": "fear", "T": "sadness",
                  "E": "disgust"}


def ravdess_sized(emodb_dir: str | Path, out_dir: str | Path, speakers: int = 24, per_speaker: int = 60,
                  seconds: float = 3.7, sr: int = 48000, seed: int = 0) -> Path:
    """Write the stand-in's WAV files (16-bit PCM) and ``manifest.csv`` into ``out_dir``; return the manifest.

    Parameters
    ----------
    emodb_dir : an EmoDB copy (its ``wav/`` folder, EmoDB file names such as ``03a01Fa.wav``).
    out_dir : where the clips and the manifest go (created).
    speakers, per_speaker : the stand-in's speakers and clips per speaker.
    seconds, sr : each clip's length and sample rate.
    seed : the draw of the clips joined and of their gains.

    Raises
    ------
    ValueError
        When ``emodb_dir`` holds no EmoDB-named WAV file.
    """
    import soundfile as sf
    import soxr

    files = sorted(Path(emodb_dir, "wav").glob("*.wav")) or sorted(Path(emodb_dir).glob("*.wav"))
    cells: dict[tuple[str, str], list[Path]] = {}
    for f in files:
        if len(f.stem) >= 6 and f.stem[5] in EMODB_EMOTIONS:
            cells.setdefault((f.stem[:2], f.stem[5]), []).append(f)
    if not cells:
        raise ValueError(f"{emodb_dir}: no EmoDB WAV file (names such as 03a01Fa.wav) in it or in its wav/ folder")
    source_speakers = sorted({s for s, _ in cells})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    n = int(round(seconds * sr))
    for s in range(speakers):
        own = [cell for cell in sorted(cells) if cell[0] == source_speakers[s % len(source_speakers)]]
        for j in range(per_speaker):
            cell = own[j % len(own)]
            first, second = (cells[cell][int(i)] for i in rng.integers(len(cells[cell]), size=2))
            a, rate = sf.read(first, dtype="float32", always_2d=True)
            b, rate_b = sf.read(second, dtype="float32", always_2d=True)
            b = soxr.resample(b.mean(axis=1), rate_b, rate) if rate_b != rate else b.mean(axis=1)
            joined = soxr.resample(np.concatenate([a.mean(axis=1), b]), rate, sr)
            y = np.zeros(n, np.float32)
            y[: min(n, len(joined))] = joined[:n]
            name = f"S{s + 1:02d}_{j:02d}.wav"
            sf.write(out / name, np.clip(y * (0.9 + 0.2 * rng.random()), -1.0, 1.0), sr, subtype="PCM_16")
            rows.append({"path": name, "emotion": EMODB_EMOTIONS[cell[1]], "speaker": f"S{s + 1:02d}"})
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "emotion", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.perf.standin", description=__doc__.split("\n")[0])
    parser.add_argument("emodb_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--speakers", type=int, default=24)
    parser.add_argument("--per-speaker", type=int, default=60)
    args = parser.parse_args(argv)
    try:
        manifest = ravdess_sized(args.emodb_dir, args.out_dir, args.speakers, args.per_speaker)
    except ValueError as error:
        print(f"standin: {error}", file=sys.stderr)
        return 2
    print(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
