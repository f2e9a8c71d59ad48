"""IEMOCAP (USC SAIL release): utterances of ``Session1..5/sentences/wav/<dialog>/<utterance>.wav`` labelled from
``Session*/dialog/EmoEvaluation/<dialog>.txt``.

Each EmoEvaluation file holds one block per utterance, opened by a line

``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``

(start and end in the dialog, utterance id, the consensus category, and the mean valence, activation and dominance
on 1-5), followed by each evaluator's own categories (``C-E2: Neutral;``) and attributes (``A-E3: val 3; ...``).
The category ``xxx`` marks an utterance on which the evaluators reached no majority and ``oth`` one they called
"other"; both are dropped from the categorical tasks (recorded as skipped with that reason) and kept for the
dimensional task, whose labels every utterance has.

The utterance id names the session (``Ses01``), the dialog (``impro01`` improvised, ``script01_1`` scripted) and
the speaker, whose sex is the letter before the turn number (``F000``, ``M012``): the ten speakers are
``Ses01F``, ``Ses01M``, ... ``Ses05M``, two per session, one of each sex.

Tasks (``--dataset`` names): ``iemocap`` is the standard 4-class task (neutral, happy with excited merged, angry,
sad: 5531 utterances in the full release), ``iemocap-improvised`` the same on the improvised dialogs only (2943),
``iemocap-all`` every consensus category but ``xxx`` (``oth`` included). The standard protocol is
leave-one-session-out, shipped as ``--split loso`` (5 folds, each testing the two speakers of one session).
"""

from __future__ import annotations

import re
from pathlib import Path

from .releases import _with_audio_info, iter_files
from .table import AUDIO_EXTENSIONS, Corpus, CorpusError, Skipped, as_table

IEMOCAP_CODES = {"neu": "neutral", "hap": "happy", "exc": "excited", "ang": "angry", "sad": "sad",
                 "fru": "frustrated", "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": "other",
                 "xxx": None}
FOUR_CLASS = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
TASKS = ("4class", "improvised", "all", "dimensional")

# The counts papers print for the full release (Busso et al. 2008; e.g. the 4-class task in SpeechBrain's and
# EmoBox's recipes), checked against a loaded corpus by :func:`paper_counts`.
RELEASE_COUNTS = {
    "all_utterances": 10039,
    "4class": {"neutral": 1708, "happy": 1636, "angry": 1103, "sad": 1084, "total": 5531},
    "improvised": {"neutral": 1099, "happy": 947, "angry": 289, "sad": 608, "total": 2943},
    "categories": {"xxx": 2507, "fru": 1849, "neu": 1708, "ang": 1103, "sad": 1084, "exc": 1041, "hap": 595,
                   "sur": 107, "fea": 40, "oth": 3, "dis": 2},
}

UTTERANCE_RE = re.compile(r"^(Ses0[1-5])([FM])_(impro|script)(\w*?)_([FM])(\d{3})$")
HEADER_RE = re.compile(r"^\[(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\]\s+(?P<id>\S+)\s+(?P<code>\S+)\s+"
                       r"\[(?P<v>[\d.]+),\s*(?P<a>[\d.]+),\s*(?P<d>[\d.]+)\]\s*$")


def parse_utterance_id(utterance: str) -> dict[str, str]:
    """Session, speaker, sex, improvised/scripted and dialog of an IEMOCAP utterance id.

    Parameters
    ----------
    utterance : str
        E.g. ``Ses01F_impro01_F000`` or ``Ses05M_script01_1b_M012``.

    Returns
    -------
    dict
        ``session`` (``Ses01``), ``speaker`` (``Ses01F``), ``gender`` (``F``/``M``), ``kind`` (``improvised``
        or ``scripted``), ``dialog`` (the folder name, the id without its turn).

    Raises
    ------
    ValueError
        The id does not parse as IEMOCAP's.
    """
    match = UTTERANCE_RE.match(utterance)
    if not match:
        raise ValueError(f"{utterance!r} is not an IEMOCAP utterance id (expected e.g. Ses01F_impro01_F000)")
    session, _, kind, _, sex, _ = match.groups()
    return {"session": session, "speaker": f"{session}{sex}", "gender": sex,
            "kind": "improvised" if kind == "impro" else "scripted", "dialog": utterance.rsplit("_", 1)[0]}


def read_emo_evaluation(path: Path) -> dict[str, dict]:
    """The consensus label lines of one EmoEvaluation file: utterance id -> code, V/A/D means, start, end.

    Evaluator lines (``C-E2:``, ``A-F1:``) and the ``%`` header are passed over.

    Raises
    ------
    CorpusError
        The file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise CorpusError(f"{path}: cannot be read ({error.strerror or error})") from None
    labels = {}
    for line in text.splitlines():
        match = HEADER_RE.match(line.strip())
        if match:
            labels[match["id"]] = {"code": match["code"].lower(), "valence": float(match["v"]),
                                   "arousal": float(match["a"]), "dominance": float(match["d"]),
                                   "start": float(match["start"]), "end": float(match["end"])}
    return labels


def load_iemocap(root: Path, task: str = "4class") -> Corpus:
    """Load IEMOCAP for ``task`` (``4class``, ``improvised``, ``all`` or ``dimensional``).

    Rows carry ``session``, ``kind`` (improvised/scripted), ``dialog``, the consensus ``code`` and the mean
    ``valence``, ``arousal`` and ``dominance`` (1-5). Files with no consensus line, ids that do not parse, and
    utterances outside the task (``xxx``, ``fru`` in the 4-class task, scripted ones in ``improvised``) are
    listed in ``skipped`` with the reason.

    Raises
    ------
    CorpusError
        Unknown task, or no ``Session*/dialog/EmoEvaluation`` folder below ``root``.
    """
    if task not in TASKS:
        raise CorpusError(f"IEMOCAP task {task!r}: choose from {', '.join(TASKS)}")
    label_files = sorted(p for p in root.glob("**/dialog/EmoEvaluation/*.txt")
                         if not p.name.startswith("._") and p.parent.parent.parent.name.startswith("Session"))
    if not label_files:
        raise CorpusError(f"{root}: no Session*/dialog/EmoEvaluation/*.txt label files; point --data-dir at the "
                          "IEMOCAP release folder (the one holding Session1..Session5)")
    labels: dict[str, dict] = {}
    for path in label_files:
        labels.update(read_emo_evaluation(path))
    rows, skipped = [], []
    for path in iter_files(root, AUDIO_EXTENSIONS, skipped):
        if path.name.startswith("._"):
            skipped.append(Skipped(str(path), "macOS resource-fork file, not audio"))
            continue
        if path.parent.parent.name != "wav" or path.parent.parent.parent.name != "sentences":
            continue  # dialog-level recordings (dialog/wav) are whole conversations, not utterances
        try:
            ids = parse_utterance_id(path.stem)
        except ValueError as error:
            skipped.append(Skipped(str(path), str(error)))
            continue
        label = labels.get(path.stem)
        if label is None:
            skipped.append(Skipped(str(path), "no consensus line in the dialog's EmoEvaluation file"))
            continue
        reason = _outside_task(label["code"], ids["kind"], task)
        if reason:
            skipped.append(Skipped(str(path), reason))
            continue
        code = label["code"]
        emotion = FOUR_CLASS[code] if task in ("4class", "improvised") else (IEMOCAP_CODES.get(code) or code)
        fields = {"emotion": emotion, "label": code, "speaker": ids["speaker"], "gender": ids["gender"],
                  "text": None, "session": ids["session"], "kind": ids["kind"], "dialog": ids["dialog"],
                  "valence": label["valence"], "arousal": label["arousal"], "dominance": label["dominance"]}
        row = _with_audio_info(path, fields, "iemocap", skipped)
        if row is not None:
            rows.append(row)
    name = {"4class": "iemocap", "improvised": "iemocap-improvised", "all": "iemocap-all",
            "dimensional": "iemocap"}[task]
    corpus = Corpus(name, root, as_table(rows), skipped)
    corpus.notes.extend(paper_counts(corpus, task))
    return corpus


def _outside_task(code: str, kind: str, task: str) -> str | None:
    if task == "dimensional":
        return None  # every utterance has its attribute means, xxx ones included
    if code == "xxx":
        return "label xxx: the evaluators reached no majority (no consensus category)"
    if code not in IEMOCAP_CODES:
        return f"unknown IEMOCAP category {code!r}"
    if task in ("4class", "improvised") and code not in FOUR_CLASS:
        return f"category {code} ({IEMOCAP_CODES[code]}) is outside the 4-class task; use --dataset iemocap-all"
    if task == "improvised" and kind != "improvised":
        return "scripted dialog; --dataset iemocap-improvised keeps the improvised ones only"
    return None


def paper_counts(corpus: Corpus, task: str) -> list[str]:
    """The lines ``describe`` prints beside the table: the counts as papers give them, against the release's."""
    table = corpus.table
    if table.empty:
        return []
    lines = []
    counts = table["emotion"].value_counts()
    shown = ", ".join(f"{e} {int(n)}" for e, n in counts.items())
    if task in ("4class", "improvised"):
        expected = RELEASE_COUNTS[task]
        same = len(table) == expected["total"] and all(int(counts.get(e, 0)) == n for e, n in expected.items()
                                                       if e != "total")
        lines.append(f"IEMOCAP {task} task (happy and excited merged): {len(table)} utterances ({shown}); the full "
                     f"release gives {expected['total']} ({', '.join(f'{e} {n}' for e, n in expected.items() if e != 'total')})"
                     f"{'' if same else ' -- this copy differs'}")
    else:
        lines.append(f"IEMOCAP {task}: {len(table)} utterances ({shown})")
    per_session = table.groupby("session").size()
    lines.append("per session (the leave-one-session-out test folds): "
                 + ", ".join(f"{s} {int(n)}" for s, n in per_session.items()))
    kinds = table["kind"].value_counts()
    lines.append("improvised " + str(int(kinds.get("improvised", 0))) + ", scripted "
                 + str(int(kinds.get("scripted", 0))))
    no_consensus = sum(1 for s in corpus.skipped if s.reason.startswith("label xxx"))
    if no_consensus:
        lines.append(f"{no_consensus} utterance(s) without a consensus category (xxx) left out")
    return lines


LOADERS = {
    "iemocap": lambda root: load_iemocap(root, "4class"),
    "iemocap-improvised": lambda root: load_iemocap(root, "improvised"),
    "iemocap-all": lambda root: load_iemocap(root, "all"),
}
DIMENSIONAL_LOADERS = {name: (lambda root: load_iemocap(root, "dimensional")) for name in LOADERS}
