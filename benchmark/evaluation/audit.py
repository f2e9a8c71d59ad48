"""The leakage audit: what each protocol lets the test fold share with training, before any score is read."""

from __future__ import annotations

import os
import textwrap
from collections import defaultdict

import pandas as pd

from .protocols import SPEAKER_INDEPENDENT, Fold

FEW_SPEAKERS = 5  # below this, a speaker-independent estimate rests on too few voices to generalise from
SCALING_STATEMENT = ("Every fitted transform (feature scaling, per-frame normalisation, label encoding, sequence "
                     "length, early-stopping validation split) is fitted inside the model on the training fold "
                     "only. Speaker normalisation, where marked, uses each speaker's own unlabelled features.")


def duplicate_groups(table: pd.DataFrame) -> list[list[int]]:
    """Row numbers of utterances whose decoded samples are identical (same content digest), per group."""
    groups = defaultdict(list)
    for i, digest in enumerate(table["digest"].tolist()):
        groups[digest].append(i)
    return [rows for rows in groups.values() if len(rows) > 1]


def repeated_file_groups(table: pd.DataFrame) -> list[list[int]]:
    """Row numbers of rows that name the same file (a manifest listing a file twice), per group.

    Such rows are exact duplicates too, but a different fault: not two recordings that happen to be equal, one
    recording counted as several utterances. Each file is analysed once (``features.bank``); the rows still
    weigh the file several times in folds and scores, and folds can put its rows on both sides.
    """
    groups = defaultdict(list)
    for i, path in enumerate(table["path"].astype(str).tolist()):
        groups[os.path.normpath(path)].append(i)
    return [rows for rows in groups.values() if len(rows) > 1]


def cross_corpus_groups(table: pd.DataFrame, groups: list[list[int]]) -> list[list[int]]:
    """The duplicate groups whose files come from more than one corpus (merged sets shipping a file twice)."""
    if "corpus" not in table:
        return []
    corpus = table["corpus"].astype(str).tolist()
    return [g for g in groups if len({corpus[i] for i in g}) > 1]


def audit(table: pd.DataFrame, folds: dict[str, list[Fold]], split=None) -> dict:
    """The audit as a JSON-ready dict: corpus duplicates, then per protocol and fold what test shares with train.

    ``split`` (a :class:`benchmark.evaluation.splits.PublishedSplit` or its ``provenance()`` dict) adds a
    ``split`` section: its provenance, and whether it is speaker- and text-independent, as declared and as
    measured on this corpus.
    """
    paths = table["path"].astype(str).tolist()
    speakers = table["speaker"].astype(str).to_numpy()
    texts = table["text"].to_numpy()
    dup_groups = duplicate_groups(table)
    twin_of = {i: [j for j in group if j != i] for group in dup_groups for i in group}
    n_speakers = len(set(speakers.tolist()))
    warnings = []
    repeated = repeated_file_groups(table)
    if repeated:
        first = repeated[0]
        warnings.append(f"{len(repeated)} file(s) named by more than one row ({sum(len(g) - 1 for g in repeated)} "
                        "repeated row(s)): each counts as an utterance in the folds and scores; first: "
                        f"{paths[first[0]]} (rows {', '.join(map(str, first[:5]))})")
    if dup_groups:
        warnings.append(f"{len(dup_groups)} group(s) of exact-duplicate audio in the corpus "
                        f"({sum(len(g) for g in dup_groups)} files)")
    corpora = table["corpus"].astype(str).to_numpy() if "corpus" in table else None
    cross_groups = cross_corpus_groups(table, dup_groups)
    if cross_groups:
        warnings.append(f"{len(cross_groups)} group(s) of exact-duplicate audio span corpora (the same recording "
                        "under different names in different corpora)")
    report = {
        "corpus": {
            "utterances": len(table), "speakers": n_speakers,
            "duplicate_groups": [[paths[i] for i in g] for g in dup_groups],
            "repeated_files": [{"path": paths[g[0]], "rows": g} for g in repeated],
            "corpora": {} if corpora is None else {str(k): int(v) for k, v in
                                                   pd.Series(corpora).value_counts().sort_index().items()},
            "cross_corpus_duplicate_groups": [[paths[i] for i in g] for g in cross_groups],
        },
        "protocols": {},
        "scaling": SCALING_STATEMENT,
    }
    for protocol, fold_list in folds.items():
        fold_reports, cross_pairs = [], []
        tested = shared_speaker = shared_text = with_text = 0
        corpus_leaks = dev_leaks = 0
        for fold in fold_list:
            train_speakers = set(speakers[fold.train].tolist())
            test_speakers = sorted(set(speakers[fold.test].tolist()))
            train_texts = {t for t in texts[fold.train].tolist() if t is not None and t == t}
            train_rows = set(fold.train.tolist())
            spk = sum(s in train_speakers for s in speakers[fold.test])
            txt_rows = [t for t in texts[fold.test].tolist() if t is not None and t == t]
            txt = sum(t in train_texts for t in txt_rows)
            pairs = [(paths[i], paths[j]) for i in fold.test.tolist() for j in twin_of.get(i, []) if j in train_rows]
            cross_pairs += pairs
            tested += len(fold.test)
            shared_speaker += spk
            shared_text += txt
            with_text += len(txt_rows)
            fold_report = {
                "fold": fold.index, "n_train": len(fold.train), "n_test": len(fold.test),
                "test_speakers": test_speakers, "n_train_speakers": len(train_speakers),
                "test_speaker_in_train": spk / max(len(fold.test), 1),
                "test_text_in_train": txt / len(txt_rows) if txt_rows else None,
                "duplicate_pairs": [{"test": a, "train": b} for a, b in pairs],
            }
            if fold.dev is not None:
                dev_speakers = set(speakers[fold.dev].tolist())
                overlap = (set(fold.dev.tolist()) & (train_rows | set(fold.test.tolist())))
                leaked = len(dev_speakers & set(test_speakers)) + len(overlap)
                dev_leaks += leaked
                fold_report.update(n_dev=len(fold.dev), dev_speakers=sorted(dev_speakers),
                                   dev_speaker_in_test=len(dev_speakers & set(test_speakers)),
                                   dev_rows_in_train_or_test=len(overlap))
            if fold.train_corpus is not None or fold.test_corpus is not None:
                fold_report.update(name=fold.name, train_corpus=fold.train_corpus, test_corpus=fold.test_corpus)
                if corpora is not None and fold.train_corpus != fold.test_corpus:
                    train_corpora = set(corpora[fold.train].tolist())
                    leak = int(sum(c in train_corpora for c in corpora[fold.test]))
                    fold_report["test_corpus_in_train"] = leak / max(len(fold.test), 1)
                    corpus_leaks += leak
            fold_reports.append(fold_report)
        entry = {
            "n_folds": len(fold_list),
            "test_speaker_in_train": shared_speaker / max(tested, 1),
            "test_text_in_train": shared_text / with_text if with_text else None,
            "duplicates_across_train_test": len(cross_pairs),
            "speakers_total": n_speakers,
            "test_speakers_per_fold": [len(f["test_speakers"]) for f in fold_reports],
            "folds": fold_reports,
        }
        if any(f.dev is not None for f in fold_list):
            entry["dev_leaks"] = dev_leaks
            if dev_leaks:
                warnings.append(f"{protocol}: development rows or speakers overlap the test or training part "
                                f"({dev_leaks})")
        if any(f.train_corpus is not None for f in fold_list):
            entry["test_corpus_in_train"] = corpus_leaks
            if corpus_leaks:
                warnings.append(f"{protocol}: {corpus_leaks} test utterance(s) of a cross-corpus fold come from a "
                                "corpus that is also in training")
        report["protocols"][protocol] = entry
        if protocol in SPEAKER_INDEPENDENT and n_speakers < FEW_SPEAKERS:
            warnings.append(f"{protocol}: the speaker-independent estimate rests on {n_speakers} speakers; "
                            "it says little about unseen voices")
        if cross_pairs:
            warnings.append(f"{protocol}: {len(cross_pairs)} test utterance(s) have an exact duplicate in training")
        if protocol in SPEAKER_INDEPENDENT and shared_speaker:
            warnings.append(f"{protocol}: {shared_speaker} test utterance(s) share a speaker with training")
    if split is not None:
        report["split"] = split_statement(split, report["protocols"])
        if report["split"]["speaker_independent_measured"] is False and report["split"]["speaker_independent"]:
            warnings.append(f"split {report['split']['name']}: declared speaker-independent, but test speakers "
                            "are heard in training on this corpus")
    report["warnings"] = warnings
    return report


def split_statement(split, protocols: dict) -> dict:
    """A published split's provenance with its independence, declared and measured under the speaker protocols."""
    info = dict(split.provenance() if hasattr(split, "provenance") else split)
    measured_speaker = measured_text = None
    for name in ("speaker", "speaker+text"):
        entry = protocols.get(name)
        if entry is None:
            continue
        independent = entry["test_speaker_in_train"] == 0 and not entry.get("dev_leaks")
        measured_speaker = independent if measured_speaker is None else measured_speaker and independent
        if name == "speaker":
            text = entry["test_text_in_train"]
            measured_text = None if text is None else text == 0
    info["speaker_independent_measured"] = measured_speaker
    info["text_independent_measured"] = measured_text

    def word(value):
        return "n/a" if value is None else "yes" if value else "no"

    info["statement"] = (f"split {info['name']} ({info['corpus']}, {info['source']}, {info['version']}): "
                         f"{info['holds_out']}. Speaker-independent: {word(info['speaker_independent'])} "
                         f"(measured: {word(measured_speaker)}); text-independent: "
                         f"{word(info['text_independent'])} (measured: {word(measured_text)})"
                         + (f"; {info['text_note']}" if info.get("text_note") else "") + ".")
    return info


def format_audit(report: dict) -> str:
    """A short human-readable account of the audit, printed before the leaderboards (100 columns)."""
    from tabulate import tabulate

    corpus = report["corpus"]
    lines = [f"Leakage audit: {corpus['utterances']} utterances, {corpus['speakers']} speakers, "
             f"{len(corpus['duplicate_groups'])} exact-duplicate group(s)"]
    if corpus.get("repeated_files"):
        lines[0] += f", {len(corpus['repeated_files'])} file(s) named by more than one row"
    if len(corpus.get("corpora", {})) > 1:
        lines[0] += (f", {len(corpus['corpora'])} corpora ("
                     + ", ".join(f"{k} {v}" for k, v in corpus["corpora"].items()) + "), "
                     f"{len(corpus.get('cross_corpus_duplicate_groups', []))} duplicate group(s) across corpora")
    if "split" in report:
        lines += textwrap.wrap(report["split"]["statement"], 100, subsequent_indent="  ")
    rows = []
    for protocol, entry in report["protocols"].items():
        text = entry["test_text_in_train"]
        per_fold = entry["test_speakers_per_fold"]
        rows.append([protocol, entry["n_folds"], f"{100 * entry['test_speaker_in_train']:.1f}%",
                     "n/a" if text is None else f"{100 * text:.1f}%", entry["duplicates_across_train_test"],
                     ",".join(map(str, per_fold[:8])) + ("..." if len(per_fold) > 8 else "")])
    lines.append(tabulate(rows, ["protocol", "folds", "test speaker\nin train", "test sentence\nin train",
                                 "duplicates\ntrain/test", "test speakers\nper fold"],
                          tablefmt="simple", disable_numparse=True))
    for warning in report["warnings"]:
        lines += textwrap.wrap(f"warning: {warning}", 100, subsequent_indent="  ")
    lines += textwrap.wrap(report["scaling"], 100)
    return "\n".join(lines)
