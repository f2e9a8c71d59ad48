"""The canonical emotion vocabulary shared by every corpus, so results compare and corpora combine."""

from __future__ import annotations

CANONICAL = ("angry", "calm", "disgust", "fear", "happy", "neutral", "sad", "surprise", "boredom")

# Spellings met in corpus releases and manifests, lower-cased, mapped to the canonical name.
SYNONYMS: dict[str, str] = {
    "angry": "angry", "anger": "angry", "ang": "angry", "mad": "angry",
    "calm": "calm",
    "disgust": "disgust", "disgusted": "disgust", "dis": "disgust",
    "fear": "fear", "fearful": "fear", "fea": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "hap": "happy", "joy": "happy", "joyful": "happy",
    "neutral": "neutral", "neu": "neutral",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise", "ps": "surprise",
    "pleasant_surprise": "surprise", "pleasant_surprised": "surprise", "pleasant surprise": "surprise",
    "boredom": "boredom", "bored": "boredom", "boring": "boredom",
}


def canonical_emotion(label: str) -> str | None:
    """Map a corpus's spelling of an emotion to the canonical name, or ``None`` if unknown."""
    key = str(label).strip().lower().replace("-", "_")
    return SYNONYMS.get(key) or SYNONYMS.get(key.replace("_", " "))
