"""The web app: ``python run_benchmark.py ui [--bundle PATH] [--runs results/]`` (or ``streamlit run`` this file).

Settings come from the environment (the ``ui`` command sets them): ``SER_UI_BUNDLE`` the bundle, ``SER_UI_RUNS``
the folder of run folders, ``SER_UI_EXAMPLES`` a folder of example audio. The query parameter ``?example=NAME``
opens the Predict page on that example file; ``?page=Benchmarks`` opens the Benchmarks page.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import streamlit as st

from benchmark.apps import ui
from benchmark.apps.bundle import Bundle
from features.audio import AudioError, read_native
from features.errors import UserInputError

PAGES = ("Predict", "Benchmarks")
SOURCES = ("Upload a file", "Record", "Example")


@st.cache_resource(show_spinner="loading the model ...")
def load_bundle(path: str, stamp: float) -> Bundle:  # stamp: reload when the file changes
    return Bundle.load(path)


def _uploaded_bundle(data: bytes) -> Bundle:
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"ser-ui-bundle-{digest}.zip"
    if not target.is_file():
        target.write_bytes(data)
    return load_bundle(str(target), target.stat().st_mtime)


def _bundle() -> Bundle | None:
    path = os.environ.get("SER_UI_BUNDLE")
    with st.sidebar:
        uploaded = st.file_uploader("Use another bundle", type=["zip"], key="bundle_upload",
                                    help="a bundle written by: python run_benchmark.py train ... --out model.zip")
    try:
        if uploaded is not None:
            return _uploaded_bundle(uploaded.getvalue())
        if path:
            return load_bundle(path, Path(path).stat().st_mtime if Path(path).exists() else 0.0)
    except (UserInputError, OSError) as error:
        st.error(f"The bundle cannot be used: {error}")
        return None
    return None


def _score_panel(bundle: Bundle) -> None:
    score = bundle.score
    st.markdown("**What this model is worth**")
    if score is None:
        st.warning("Not measured on unseen speakers (the bundle was made with --no-evaluate).")
        return
    interval = f"[{100 * score.low:.0f}, {100 * score.high:.0f}]" if score.low is not None else ""
    st.metric("expected UAR on unseen speakers", f"{100 * score.uar:.0f} % {interval}".strip())
    st.caption(score.detail())
    st.caption(f"model {bundle.model_name} on {bundle.features.label}, trained on "
               f"{bundle.manifest['corpus']['dataset']} ({bundle.manifest['corpus']['speakers']} speakers). "
               "A single clip's probabilities are not a measurement of accuracy.")


def _audio_source() -> tuple[str, bytes] | None:
    """(name, bytes) of the audio to predict on, from an upload, the microphone or an example."""
    examples = ui.example_files(os.environ.get("SER_UI_EXAMPLES"))
    wanted = st.query_params.get("example")
    sources = SOURCES if examples else SOURCES[:2]
    default = sources.index("Example") if wanted and examples else 0
    source = st.radio("Audio", sources, index=default, horizontal=True, key="source")
    if source == "Upload a file":
        upload = st.file_uploader("An audio file (WAV, FLAC, OGG, MP3 ...; any rate, any channels)", key="audio")
        return (upload.name, upload.getvalue()) if upload is not None else None
    if source == "Record":
        recording = st.audio_input("Record from the microphone", key="recording")
        return ("recording.wav", recording.getvalue()) if recording is not None else None
    names = [p.name for p in examples]
    index = names.index(wanted) if wanted in names else 0
    name = st.selectbox("Example", names, index=index, key="example")
    return name, (Path(os.environ["SER_UI_EXAMPLES"]) / name).read_bytes()


def predict_page() -> None:
    st.header("Predict")
    bundle = _bundle()
    if bundle is None:
        st.info("No model loaded. Start the app with --bundle PATH, or upload a bundle in the sidebar "
                "(make one with: python run_benchmark.py train --dataset ... --model svm --out model.zip).")
        return
    for warning in bundle.warnings:
        st.warning(warning)
    audio = _audio_source()
    if audio is None:
        _score_panel(bundle)
        return
    name, data = audio
    with tempfile.TemporaryDirectory(prefix="ser-ui-") as tmp:
        path = Path(tmp) / (Path(name).name or "audio")
        path.write_bytes(data)
        try:
            y, sr = read_native(path)
        except AudioError as error:
            st.error(f"{name}: {error.reason}")
            return
        duration = len(y) / sr
        st.audio(data)
        st.caption(f"{name}: {duration:.1f} s, {sr} Hz")
        analysis = bundle.features.analysis
        st.pyplot(ui.audio_figure(y, sr, n_mels=analysis.n_mels, hop_ms=analysis.hop_ms, win_ms=analysis.win_ms))
        as_timeline = st.toggle("Timeline (predict per window)", value=duration > ui.LONG_CLIP_S, key="timeline")
        segment = hop = None
        if as_timeline:
            segment = st.slider("window (s)", 1.0, 10.0, 3.0, 0.5, key="segment")
            hop = st.slider("step (s)", 0.5, segment, segment, 0.5, key="hop")
        try:
            frame = bundle.predict([str(path)], segment=segment, hop=hop,
                                   speakers="uploaded" if bundle.speaker_norm else None)
        except UserInputError as error:
            st.error(str(error))
            _score_panel(bundle)
            return
    bad = frame[frame["error"] != ""]
    if len(bad):
        st.error(f"{name}: {bad['error'].iloc[0]}")
        return
    labels = bundle.labels
    for note in dict.fromkeys(n for n in frame["outside_training"] if n):  # the model cannot judge these
        st.warning(f"Outside what the model was trained on: {note}. Do not trust this prediction.")
    left, right = st.columns([3, 2])
    with left:
        if segment is None:
            row = frame.iloc[0]
            st.subheader(f"Predicted emotion: {row['emotion']} ({100 * row['confidence']:.0f} %)")
            if row["windows"] > 1:
                st.caption(f"Much longer than the training clips: predicted as {row['windows']} windows of "
                           f"{row['window_s']:g} s, probabilities averaged.")
            probabilities = {label: float(row[f"p_{label}"]) for label in labels}
            st.pyplot(ui.probability_figure(probabilities))
            table = {"emotion": labels, "probability %": [round(100 * probabilities[k], 1) for k in labels]}
            st.dataframe(table, hide_index=True)
        else:
            counts = frame["emotion"].value_counts()
            st.subheader(f"Timeline: {len(frame)} windows, mostly {counts.index[0]}")
            st.pyplot(ui.timeline_figure(frame, labels))
            shown = frame[["start", "end", "emotion", "confidence"]].copy()
            shown["confidence"] = (100 * shown["confidence"]).round(0)
            st.dataframe(shown, hide_index=True)
    with right:
        _score_panel(bundle)


def benchmarks_page() -> None:
    st.header("Benchmarks")
    root = st.text_input("Folder of runs", os.environ.get("SER_UI_RUNS", "results"), key="runs_root")
    runs = ui.list_runs(root)
    if not runs:
        st.info(f"No finished run in {root}. Make one with: python run_benchmark.py run --out {root}")
        return
    names = [r.name for r in runs]
    chosen = st.selectbox("Run", names, key="run")
    run_dir = runs[names.index(chosen)]
    summary = ui.run_summary(run_dir)
    st.caption(f"{summary['dataset']} · {summary['corpus']} · finished {summary['finished']}")
    st.code(summary["command"], language="bash")
    board, audit, plots, claims, compare = st.tabs(["Leaderboard", "Audit", "Plots", "Claims", "Compare runs"])
    with board:
        text = ui.leaderboard_markdown(run_dir)
        st.markdown(text if text else "This run has no leaderboard.md.")
    with audit:
        warnings, report = ui.audit_summary(run_dir)
        for warning in warnings:
            st.warning(warning)
        if report is None:
            st.info("This run has no audit.json.")
        else:
            if not warnings:
                st.success("The leakage audit raised no warning.")
            st.json(report, expanded=False)
    with plots:
        files = ui.plot_files(run_dir)
        if not files:
            st.info("This run has no plots/ folder (older runs, or made without the report).")
        for file in files:
            st.image(str(file), caption=file.stem)
    with claims:
        table = ui.claims_table(run_dir)
        if table is None:
            st.info("This run has no claims table (claims.csv).")
        else:
            st.dataframe(table, hide_index=True)
    with compare:
        picked = st.multiselect("Runs to compare", names, default=names[: min(2, len(names))], key="compare")
        protocol = st.selectbox("Protocol", ["speaker", "speaker+text", "stratified"], key="protocol")
        frame = ui.compare_runs([runs[names.index(n)] for n in picked], protocol)
        if frame.empty:
            st.info(f"No {protocol} rows in the chosen runs.")
        else:
            st.dataframe(frame, hide_index=True)


def main() -> None:
    st.set_page_config(page_title="SER benchmark", layout="wide")
    st.sidebar.title("SER benchmark")
    wanted = st.query_params.get("page")
    page = st.sidebar.radio("Page", PAGES, index=PAGES.index(wanted) if wanted in PAGES else 0, key="page")
    if page == "Predict":
        predict_page()
    else:
        benchmarks_page()


main()
