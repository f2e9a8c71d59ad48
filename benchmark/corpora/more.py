"""The releases loaded from label files or their own naming schemes by modules of their own (IEMOCAP,
MSP-Podcast, the open corpora): their names and descriptions, and their loaders, imported when first asked for.

This module imports none of them at import time, so :mod:`benchmark.corpora.releases` can register them without
an import circle (they import the row helpers from there).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

# dataset name -> (module, description)
_MODULES = {
    "iemocap": ("iemocap", "IEMOCAP 4-class (neutral, happy+excited, angry, sad): 10 speakers in 5 sessions, "
                           "5531 utterances"),
    "iemocap-improvised": ("iemocap", "IEMOCAP 4-class, improvised dialogs only (2943 utterances)"),
    "iemocap-all": ("iemocap", "IEMOCAP, every consensus category but xxx (7532 utterances)"),
    "msppodcast": ("msppodcast", "MSP-Podcast v1.11+: the challenge's 8 classes, official Train/Development/"
                                 "Test1/Test2 partitions"),
    "msppodcast-all": ("msppodcast", "MSP-Podcast with 'other' (O) as a ninth class"),
    "emovo": ("open_corpora", "EMOVO (Italian): 6 actors, 14 sentences, 7 emotions, 588 utterances"),
    "cafe": ("open_corpora", "CaFE (Canadian French): 12 actors, 6 sentences, 7 emotions at 2 intensities, 936"),
    "subesco": ("open_corpora", "SUBESCO (Bangla): 20 speakers, 10 sentences, 7 emotions, 5 takes, 7000"),
    "shemo": ("open_corpora", "ShEMO (Persian): 87 speakers, 6 emotions, 3000 utterances"),
    "esd": ("open_corpora", "ESD (English and Mandarin): 20 speakers, 5 emotions, 350 parallel sentences, 35000"),
}
DESCRIPTIONS = {name: text for name, (_, text) in _MODULES.items()}
ALIASES = {"msp-podcast": "msppodcast", "msp_podcast": "msppodcast", "iemocap-4class": "iemocap",
           "iemocap_improvised": "iemocap-improvised", "iemocap_all": "iemocap-all"}


def loader(name: str) -> Callable[[Path], object]:
    """``root -> Corpus`` for the categorical task of dataset ``name``."""
    return import_module(f"{__package__}.{_MODULES[name][0]}").LOADERS[name]


def dimensional_loader(name: str) -> Callable[[Path], object] | None:
    """``root -> Corpus`` keeping every utterance with dimensional labels, or None if the release has none."""
    module = import_module(f"{__package__}.{_MODULES[name][0]}")
    return getattr(module, "DIMENSIONAL_LOADERS", {}).get(name)
