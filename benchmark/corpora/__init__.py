"""Corpora: loaders of the real releases, the manifest, the built-in corpus, the canonical emotions, and
several corpora in one table."""

from .emotions import CANONICAL, canonical_emotion
from .multi import is_multi_corpus, load_corpora, parse_corpus_specs, parse_emotions, restrict_emotions
from .releases import DATASETS, DatasetSpec, iter_files, load_corpus, load_manifest, resolve_dataset_name
from .table import AUDIO_EXTENSIONS, COLUMNS, Corpus, CorpusError, Skip, Skipped

__all__ = [
    "AUDIO_EXTENSIONS", "CANONICAL", "COLUMNS", "DATASETS", "Corpus", "CorpusError", "DatasetSpec", "Skip",
    "Skipped", "canonical_emotion", "is_multi_corpus", "iter_files", "load_corpora", "load_corpus", "load_manifest",
    "parse_corpus_specs", "parse_emotions", "resolve_dataset_name", "restrict_emotions",
]
