"""report.html in a real headless Chromium: it renders, from disk, into a page that is not blank.

Skipped when no Chromium binary is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import make_run

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome",
                                                  "google-chrome-stable") if shutil.which(name)), None)


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA PNG (non-interlaced, what Chromium writes) into an array (H, W, channels)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int32)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if kind == 1:  # sub
            line = line.copy()
            for x in range(channels, stride):
                line[x] = (line[x] + line[x - channels]) & 255
        elif kind == 2:  # up
            line = (line + previous) & 255
        elif kind in (3, 4):
            line = line.copy()
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                up, corner = previous[x], previous[x - channels] if x >= channels else 0
                if kind == 3:
                    line[x] = (line[x] + (left + up) // 2) & 255
                else:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        out[y] = line
        previous = line
    return out.reshape(height, width, channels)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary")
def test_report_renders_in_headless_chromium(tmp_path):
    from benchmark.reports.html import write_report

    report = write_report(make_run(tmp_path / "run", n_emotions=5, audio=True, claims=True))
    shot = tmp_path / "out.png"
    profile = tmp_path / "profile"
    profile.mkdir()
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--screenshot={shot}",
               "--window-size=1280,2000", report.resolve().as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert shot.is_file(), result.stderr[-2000:]
    pixels = read_png(shot)[:, :, :3]
    assert pixels.shape[:2] == (2000, 1280)
    # Not blank: many distinct colours, dark text on the white page, and the first figure's colours.
    flat = pixels.reshape(-1, 3)
    assert len(np.unique(flat[::7], axis=0)) > 200
    assert (flat.sum(axis=1) < 200).mean() > 0.002
    assert (flat.sum(axis=1) > 720).mean() > 0.3
