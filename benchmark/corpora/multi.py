"""Several corpora in one table: ``--dataset ravdess:DIR,tess:DIR,emodb:DIR`` or a manifest with a corpus column.

Each corpus is loaded by its own loader; speaker and sentence ids are prefixed by the corpus (``emodb:03``) so
that two corpora's ``03`` never merge; emotions are already canonical, and the table keeps the emotions every
corpus has (or the ones asked for). Cross-corpus protocols then read the ``corpus`` column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .emotions import CANONICAL, canonical_emotion
from .releases import DATASETS, load_corpus, resolve_dataset_name
from .table import SEPARATOR, Corpus, CorpusError, check_usable, prefix_ids


def parse_corpus_specs(text: str, data_dir: str | Path | None = None) -> list[tuple[str, Path | None]]:
    """Parse ``--dataset ravdess:DIR,tess:DIR`` into ``[("ravdess", Path(DIR)), ("tess", Path(DIR))]``.

    A single name without a folder takes ``data_dir`` (the ``--data-dir`` flag); ``synthetic`` needs none.
    A folder may itself contain ``:`` (``emodb:C:\\data``): only the first one separates. Names are resolved
    through the dataset aliases (``crema-d`` is ``cremad``).

    Raises
    ------
    CorpusError
        An empty item, an unknown dataset, a dataset named twice, or a real corpus without a folder.
    """
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise CorpusError("--dataset is empty; name a corpus, e.g. --dataset emodb:DIR")
    specs: list[tuple[str, Path | None]] = []
    for item in items:
        if not item:
            raise CorpusError(f"--dataset {text!r}: an empty item between commas")
        name, sep, folder = item.partition(SEPARATOR)
        dataset = resolve_dataset_name(name)
        if sep and folder.strip():
            where: Path | None = Path(folder.strip()).expanduser()
        elif data_dir is not None and len(items) == 1:
            where = Path(data_dir).expanduser()
        else:
            where = None
        if where is None and DATASETS[dataset].needs_data_dir:
            raise CorpusError(f"--dataset {item!r}: give the folder as {dataset}:DIR")
        specs.append((dataset, where))
    names = [name for name, _ in specs]
    twice = sorted({n for n in names if names.count(n) > 1 and n != "manifest"})
    if twice:
        raise CorpusError(f"--dataset names {', '.join(twice)} more than once; a corpus appears once per run")
    return specs


def is_multi_corpus(text: str | None) -> bool:
    """Whether a ``--dataset`` value names several corpora (or a corpus with its folder: ``emodb:DIR``)."""
    return text is not None and ("," in text or SEPARATOR in text)


def parse_emotions(text: str | Sequence[str] | None) -> list[str] | None:
    """``--emotions angry,happy,Sadness`` as canonical names, or ``None``; unknown names are an error."""
    if text is None:
        return None
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if str(t).strip()]
    if not items:
        raise CorpusError("--emotions is empty; name at least two emotions, e.g. --emotions angry,happy,sad")
    unknown = [t for t in items if canonical_emotion(t) is None]
    if unknown:
        raise CorpusError(f"--emotions: unknown emotion(s) {', '.join(unknown)}; choose from {', '.join(CANONICAL)}")
    names = list(dict.fromkeys(canonical_emotion(t) for t in items))
    if len(names) < 2:
        raise CorpusError(f"--emotions {text!r}: name at least two different emotions")
    return names


def shared_emotions(table: pd.DataFrame) -> list[str]:
    """The emotions every corpus of the table has, in canonical order (then any others, sorted)."""
    per_corpus = [set(group["emotion"].astype(str)) for _, group in table.groupby("corpus", sort=True)]
    common = set.intersection(*per_corpus) if per_corpus else set()
    return _ordered(common)


def _ordered(emotions) -> list[str]:
    return [e for e in CANONICAL if e in emotions] + sorted(set(emotions) - set(CANONICAL))


def restrict_emotions(corpus: Corpus, emotions: Sequence[str] | None = None) -> Corpus:
    """Keep the given emotions, or (``None``) those every corpus of the table has; the choice goes to ``notes``.

    Raises
    ------
    CorpusError
        Fewer than two emotions would remain, or an asked emotion is in no corpus.
    """
    table = corpus.table
    per_corpus = {str(c): set(g["emotion"].astype(str)) for c, g in table.groupby("corpus", sort=False)}
    if emotions is None:
        keep = shared_emotions(table)
        if len(keep) < 2:
            listing = "; ".join(f"{c}: {', '.join(_ordered(e))}" for c, e in per_corpus.items())
            raise CorpusError(f"the corpora share {len(keep)} emotion(s) ({listing}); pass --emotions to choose")
        how = "shared by every corpus"
    else:
        keep = list(emotions)
        absent = [e for e in keep if not any(e in found for found in per_corpus.values())]
        if absent:
            raise CorpusError(f"--emotions: {', '.join(absent)} in no corpus of this run "
                              f"(found: {', '.join(_ordered(set().union(*per_corpus.values())))})")
        how = "asked with --emotions"
    mask = table["emotion"].astype(str).isin(keep)
    notes = list(corpus.notes)
    notes.append(f"emotions used ({how}): {', '.join(keep)}")
    dropped = table.loc[~mask]
    if len(dropped):
        parts = [f"{c} {e} {n}" for (c, e), n in dropped.groupby(["corpus", "emotion"], sort=True).size().items()]
        notes.append(f"dropped {len(dropped)} utterance(s) of other emotions: {', '.join(parts)}")
    if emotions is not None and len(per_corpus) > 1:
        for name, found in per_corpus.items():
            missing = [e for e in keep if e not in found]
            if missing:
                notes.append(f"{name} has no {', '.join(missing)}: cross-corpus pairs with it use the emotions "
                             "both corpora have")
    restricted = Corpus(corpus.name, corpus.root, table.loc[mask].reset_index(drop=True), list(corpus.skipped),
                        list(corpus.warnings), notes, dict(corpus.parts))
    if restricted.table.empty:
        raise CorpusError(f"no utterance of the emotions {', '.join(keep)} in {corpus.name}")
    check_usable(restricted, strict=False)
    return restricted


def load_corpora(
    specs: Sequence[tuple[str, str | Path | None]],
    emotions: Sequence[str] | None = None,
    *,
    include_song: bool = False,
    strict: bool = False,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    profile: str = "default",
) -> Corpus:
    """Load several corpora into one table (or one manifest whose ``corpus`` column names several).

    Parameters
    ----------
    specs : [(dataset name, folder or manifest)], e.g. from :func:`parse_corpus_specs`.
    emotions : canonical emotions to keep (from :func:`parse_emotions`); ``None`` keeps those every corpus has.

    Returns
    -------
    Corpus
        ``name`` is the corpus names joined by ``+``; ``table["corpus"]`` names each row's corpus; speaker and
        text ids are prefixed by it; ``notes`` says which emotions were kept and what was dropped; ``skipped``
        holds every file passed over, across corpora; ``parts`` maps each corpus to its folder.

    Raises
    ------
    CorpusError
        Anything :func:`load_corpus` raises, corpora sharing fewer than two emotions, or a corpus left empty.
    """
    if not specs:
        raise CorpusError("no corpus named")
    tables, skipped, parts, warnings = [], [], {}, []
    for dataset, folder in specs:
        corpus = load_corpus(dataset, folder, include_song=include_song, strict=strict, cache_dir=cache_dir,
                             seed=seed, profile=profile)
        table = corpus.table
        for name in table["corpus"].astype(str).unique():
            if name in parts:
                raise CorpusError(f"corpus {name!r} appears twice (in {parts[name]} and {corpus.root}); "
                                  "name each corpus once")
            parts[name] = str(corpus.root)
        tables.append(table)
        skipped += corpus.skipped
    combined = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    names = list(dict.fromkeys(combined["corpus"].astype(str)))
    if len(names) > 1:  # one corpus keeps its own ids, so that its fold files and published splits still apply
        combined = prefix_ids(combined)
    root = Path(parts[names[0]]) if len(names) == 1 else Path(".")
    merged = Corpus("+".join(names), root, combined.reset_index(drop=True), skipped, warnings, [], parts)
    return restrict_emotions(merged, emotions)
