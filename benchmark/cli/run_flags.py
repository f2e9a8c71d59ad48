"""The ``run`` command's flags, apart from the command (:mod:`.run`) so that experiment files
(:mod:`.experiment`) can read them without importing the command that applies those files."""

from __future__ import annotations

from .common import add_corpus_args, add_feature_args


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run the benchmark (default)")
    add_corpus_args(run)
    add_feature_args(run)
    g = run.add_argument_group("benchmark")
    g.add_argument("--models", default="svm,xgboost,dnn,lstm", help="comma-separated models, or 'all'")
    g.add_argument("--input", action="append", default=[], metavar="MODEL=SET",
                   help="the feature set a model takes instead of its default, e.g. lstm=logmel_frames "
                        "(repeatable)")
    g.add_argument("--protocols", default="stratified,speaker",
                   help="stratified, holdout, speaker, speaker+text, cross-corpus, leave-one-corpus-out")
    g.add_argument("--folds", type=int, default=5)
    g.add_argument("--loso", action="store_true", help="leave-one-speaker-out for speaker protocols")
    g.add_argument("--fold-file", help="CSV speaker,fold[,part]: a speaker split of your own")
    g.add_argument("--split", help="a published split shipped with the project (see `list`), e.g. emobox")
    g.add_argument("--emotions", help="only these emotions, comma-separated (several corpora: default the "
                                      "emotions every corpus has)")
    g.add_argument("--corpus-norm", action="store_true",
                   help="also run every model on per-corpus z-normalised features (marked @corpus-norm)")
    g.add_argument("--speaker-norm", action="store_true",
                   help="also run every model on per-speaker z-normalised features (marked spk-norm)")
    g.add_argument("--no-ablation", action="store_true", help="skip the feature-group ablation")
    g.add_argument("--tune", action="store_true",
                   help="choose hyper-parameters (C, depth, ...) per fold by an inner speaker-grouped cross-validation "
                        "on the training speakers only; the choice is recorded in folds.csv")
    g.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                   help="a model parameter, e.g. --set lstm.max_epochs=20 (repeatable)")
    g.add_argument("--leaks", metavar="LIST|all",
                   help="also measure deliberately leaky pipelines (marked LEAK, never ranked), each alone on the "
                        "speaker folds and then together: speakers, sentences, scale-on-all, select-on-all, "
                        "augment-before-split, oversample-before-split, epoch-on-test, tune-on-test, test-in-train")
    g.add_argument("--augment", metavar="T[=LOW:HIGH],...",
                   help="augmentation inside the training folds, one seeded copy of each training clip per item: "
                        "transforms (noise=SNR dB, pitch=semitones, stretch=rate, gain=dB), recording conditions "
                        "of --robustness (telephone, mp3, white@10, reverb@0.6 ...; not babble), or 'robustness' "
                        "for the run's --robustness conditions (train on what is scored); the copies are also "
                        "those of --leaks augment-before-split and its in-fold twin")
    g.add_argument("--balance", choices=("smote", "adasyn", "random", "class-weight"),
                   help="balance the classes inside each training fold (imbalanced-learn); never a test row")
    g.add_argument("--near-duplicates", action="store_true",
                   help="audit near-duplicate audio (re-encoded, resampled, trimmed, gain-changed or noised copies, "
                        "some pitch-shifted or stretched ones) by spectral-peak triplet hashes verified on "
                        "candidate pairs, within and across corpora and across training and test")
    g.add_argument("--task", choices=("categorical", "dimensional"), default="categorical",
                   help="categorical (emotion classes, default) or dimensional (regression of --targets, CCC)")
    g.add_argument("--targets", help="dimensional task: comma-separated targets, e.g. arousal,valence,dominance "
                                     "(default arousal,valence)")
    g.add_argument("--out", default="results", help="where run folders are written (default: results)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or tables, just the run folder")
    g.add_argument("--no-report", action="store_true", help="skip report.html and the plots")
    g.add_argument("--bootstrap-resamples", type=int, default=1000,
                   help="resamples of the speaker bootstrap behind confidence intervals (default 1000)")
    g.add_argument("--repeats", type=int, default=1,
                   help="repeat every fit with N training seeds derived from --seed (seed-free models are fitted "
                        "once per fold); the leaderboard gives the mean, the seed SD and rank stability")
    g.add_argument("--repeat-folds", action="store_true",
                   help="with --repeats: also draw the folds anew for each repeat (repeated k-fold)")
    g.add_argument("--config", metavar="EXPERIMENT.toml",
                   help="an experiment file: every run flag as a key (or a finished run's run.json); flags given "
                        "on the command line override it")
    g.add_argument("--robustness", nargs="?", const="default", metavar="LIST",
                   help="also score every model on degraded copies of its test fold: conditions such as white@10, "
                        "pink@5, babble@0, telephone, mp3, opus, vorbis, reverb@0.6, level@-20, clip@0.3, or presets "
                        "default, noise, channel, room (comma-separated; default: the default preset)")
    g.add_argument("--groups", metavar="COLUMNS",
                   help="fairness: UAR per group of speakers, the gap and its permutation test, for these columns "
                        "of the corpus (e.g. gender, or age_band from a manifest)")
    e = run.add_argument_group("execution")
    e.add_argument("--backend", choices=("serial", "processes", "dask"),
                   help="where fits run (default: processes when more than one core is given, else serial)")
    e.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="dask: an existing scheduler (default: start a local cluster)")
