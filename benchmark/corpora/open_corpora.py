"""Open acted corpora in five languages, each parsed from its release's own file names:

- **EMOVO** (Italian; Costantini et al., LREC 2014): ``f1/dis-f1-b1.wav``: emotion, speaker, sentence; 6 actors
  (f1-f3, m1-m3), 14 sentences, 7 emotions: 588 utterances.
- **CaFE** (Canadian French; Gournay et al., MMSys 2018): ``Colère/Faible/01-C-1-1.wav``: actor (odd men, even
  women), emotion, intensity (1 low, 2 high; neutral has one), sentence; 12 actors x 6 sentences x
  (1 neutral + 6 emotions x 2 intensities) = 936.
- **SUBESCO** (Bangla; Sultana et al., PLOS ONE 2021): ``F_01_OISHI_S_1_ANGRY_1.wav``: sex, speaker number and
  name, sentence, emotion, take; 20 speakers x 10 sentences x 7 emotions x 5 takes = 7000.
- **ShEMO** (Persian; Mohamad Nezami et al., LREV 2019): ``female/F01A01.wav``: sex, speaker, emotion letter
  (A anger, F fear, H happiness, N neutral, S sadness, W surprise), number; 87 speakers, 3000 utterances in the
  paper (EmoBox's copy lists 2838).
- **ESD** (English and Mandarin; Zhou et al., ICASSP 2021): ``0011/Angry/0011_000351.wav`` (some copies add
  ``train``/``evaluation``/``test`` folders below the emotion): 20 speakers (0001-0010 Mandarin, 0011-0020
  English) x 5 emotions x 350 parallel sentences = 35000. The sentence id is the number within the emotion's
  block of 350, so the same text is one id across emotions and speakers of a language.

Each module-level ``RELEASE_COUNTS`` is the documentation's figure, printed beside a loaded copy's by ``describe``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .releases import _load_folder
from .table import AUDIO_EXTENSIONS, Corpus, ParsedRow, Skip

RELEASE_COUNTS = {"emovo": 588, "cafe": 936, "subesco": 7000, "shemo": 3000, "esd": 35000}
RELEASE_SPEAKERS = {"emovo": 6, "cafe": 12, "subesco": 20, "shemo": 87, "esd": 20}

EMOVO_RE = re.compile(r"^([a-z]{3})-([fm][1-3])-([a-z]\d)$", re.IGNORECASE)
EMOVO_EMOTIONS = {"dis": "disgust", "gio": "happy", "pau": "fear", "rab": "angry", "sor": "surprise",
                  "tri": "sad", "neu": "neutral"}
EMOVO_SENTENCES = {"b1", "b2", "b3", "l1", "l2", "l3", "l4", "n1", "n2", "n3", "n4", "n5", "d1", "d2"}


def parse_emovo(path: Path, root: Path) -> ParsedRow:
    """``dis-f1-b1.wav``: emotion (Italian abbreviation), speaker, sentence."""
    match = EMOVO_RE.match(path.stem)
    if not match:
        raise Skip("name does not parse as EMOVO (expected emo-f1-b1)")
    code, speaker, sentence = (g.lower() for g in match.groups())
    if code not in EMOVO_EMOTIONS:
        raise Skip(f"unknown label {code!r}")
    if sentence not in EMOVO_SENTENCES:
        raise Skip(f"name does not parse as EMOVO (unknown sentence {sentence!r})")
    return {"emotion": EMOVO_EMOTIONS[code], "label": code, "speaker": speaker, "gender": speaker[0].upper(),
            "text": sentence, "language": "it"}


CAFE_RE = re.compile(r"^(\d\d)-([CDJNPST])-([12])-([1-6])$")
CAFE_EMOTIONS = {"C": "angry", "D": "disgust", "J": "happy", "N": "neutral", "P": "fear", "S": "surprise",
                 "T": "sad"}


def parse_cafe(path: Path, root: Path) -> ParsedRow:
    """``01-C-1-1.wav``: actor, emotion letter (French), intensity, sentence."""
    match = CAFE_RE.match(path.stem)
    if not match:
        raise Skip("name does not parse as CaFE (expected AA-E-I-S, e.g. 01-C-1-1)")
    actor, code, intensity, sentence = match.groups()
    if not 1 <= int(actor) <= 12:
        raise Skip(f"name does not parse as CaFE (actor {actor} outside 01-12)")
    return {"emotion": CAFE_EMOTIONS[code], "label": code, "speaker": actor,
            "gender": "M" if int(actor) % 2 else "F", "text": f"s{sentence}",
            "intensity": "low" if intensity == "1" else "high", "language": "fr"}


SUBESCO_RE = re.compile(r"^([FM])_(\d\d)_([A-Z]+)_S_(\d{1,2})_([A-Z]+)_(\d)$", re.IGNORECASE)
SUBESCO_EMOTIONS = {"ANGRY": "angry", "DISGUST": "disgust", "FEAR": "fear", "HAPPY": "happy",
                    "NEUTRAL": "neutral", "SAD": "sad", "SURPRISE": "surprise"}


def parse_subesco(path: Path, root: Path) -> ParsedRow:
    """``F_01_OISHI_S_1_ANGRY_1.wav``: sex, speaker number, name, sentence, emotion, take.

    The release names one file ``F_02_MONIKA_S_2_SURPRISE_3].wav`` (a stray bracket, also in EmoBox's lists):
    read as ``..._3``.
    """
    match = SUBESCO_RE.match(path.stem.rstrip("]"))
    if not match:
        raise Skip("name does not parse as SUBESCO (expected F_01_NAME_S_1_EMOTION_1)")
    sex, number, name, sentence, emotion, take = match.groups()
    if emotion.upper() not in SUBESCO_EMOTIONS:
        raise Skip(f"unknown label {emotion!r}")
    if not 1 <= int(sentence) <= 10:
        raise Skip(f"name does not parse as SUBESCO (sentence {sentence} outside 1-10)")
    # speaker numbers restart per sex (F_01 and M_01 are two people)
    return {"emotion": SUBESCO_EMOTIONS[emotion.upper()], "label": emotion.upper(),
            "speaker": f"{sex.upper()}_{number}", "gender": sex.upper(), "text": f"s{int(sentence):02d}",
            "take": take, "language": "bn"}


SHEMO_RE = re.compile(r"^([FM])(\d\d)([AFHNSW])(\d\d)$")
SHEMO_EMOTIONS = {"A": "angry", "F": "fear", "H": "happy", "N": "neutral", "S": "sad", "W": "surprise"}


def parse_shemo(path: Path, root: Path) -> ParsedRow:
    """``F01A01.wav``: sex, speaker, emotion letter, number (no shared text: spontaneous radio plays)."""
    match = SHEMO_RE.match(path.stem)
    if not match:
        raise Skip("name does not parse as ShEMO (expected F01A01)")
    sex, number, code, _ = match.groups()
    return {"emotion": SHEMO_EMOTIONS[code], "label": code, "speaker": f"{sex}{number}", "gender": sex,
            "text": None, "language": "fa"}


ESD_RE = re.compile(r"^(\d{4})_(\d{6})$")
ESD_EMOTIONS = ("Neutral", "Angry", "Happy", "Sad", "Surprise")  # in the order of the utterance-number blocks
ESD_SPLITS = {"train", "evaluation", "test"}


def parse_esd(path: Path, root: Path) -> ParsedRow:
    """``0011/Angry/0011_000351.wav``: speaker, number (block of 350 per emotion); folder checked against it."""
    match = ESD_RE.match(path.stem)
    if not match:
        raise Skip("name does not parse as ESD (expected 0011_000351)")
    speaker, number = match.group(1), int(match.group(2))
    if not 1 <= int(speaker) <= 20 or not 1 <= number <= 1750:
        raise Skip("name does not parse as ESD (speaker 0001-0020, number 000001-001750)")
    emotion = ESD_EMOTIONS[(number - 1) // 350]
    folder = path.parent.name if path.parent.name.lower() not in ESD_SPLITS else path.parent.parent.name
    if folder.lower() != emotion.lower():
        raise Skip(f"filed under {folder!r} but number {number:06d} is in the {emotion} block")
    part = path.parent.name.lower() if path.parent.name.lower() in ESD_SPLITS else None
    return {"emotion": emotion.lower(), "label": emotion, "speaker": speaker, "gender": None,
            "text": f"{'zh' if int(speaker) <= 10 else 'en'}{(number - 1) % 350 + 1:03d}",
            "language": "zh" if int(speaker) <= 10 else "en", "partition": part}


PARSERS = {"emovo": parse_emovo, "cafe": parse_cafe, "subesco": parse_subesco, "shemo": parse_shemo,
           "esd": parse_esd}


def load_open_corpus(name: str, root: Path) -> Corpus:
    """Load one of :data:`PARSERS`; ``notes`` compare its counts with the documentation's."""
    corpus = _load_folder(name, root, PARSERS[name], AUDIO_EXTENSIONS)
    table = corpus.table
    expected, speakers = RELEASE_COUNTS[name], RELEASE_SPEAKERS[name]
    same = len(table) == expected and table["speaker"].nunique() == speakers
    corpus.notes.append(f"{name}: {len(table)} utterances, {table['speaker'].nunique()} speakers; the documented "
                        f"release has {expected} utterances, {speakers} speakers"
                        + ("" if same else " -- this copy differs"))
    return corpus


LOADERS = {name: (lambda root, name=name: load_open_corpus(name, root)) for name in PARSERS}
