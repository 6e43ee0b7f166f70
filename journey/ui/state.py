"""Each browser session's datasets, held in st.session_state (never in a shared cache).

A dataset is an EventLog with its own private DuckDB database file; it lives as long as the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

import streamlit as st

import journey
from journey import teams
from journey.engine import Database
from journey.errors import JourneyError, MappingError
from journey.load import build
from journey.staging import Staged
from journey.log import EventLog, Filters
from journey.stages import StageMap
from journey.sources import TEXT_EXTENSIONS, spool_upload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE_PATH = os.path.join(ROOT, "data", "sample_shop.csv")
SAMPLE_KEY = "sample"
UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "parquet", "jsonl", "ndjson", "json", "xlsx"]


def hosted() -> bool:
    """Hosted mode (JOURNEY_MODE=hosted): no opening files by path."""
    return os.environ.get("JOURNEY_MODE", "local").lower() == "hosted"


def data_dirs() -> list[str]:
    """Folders whose files are listed for opening by path: data/ and JOURNEY_DATA_DIR."""
    dirs = [os.path.join(ROOT, "data")]
    extra = os.environ.get("JOURNEY_DATA_DIR")
    if extra:
        dirs.append(os.path.abspath(extra))
    return dirs


def listed_files() -> list[str]:
    """Event files in the data folders, by path."""
    found = []
    for d in data_dirs():
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            stem = name[:-3] if name.lower().endswith(".gz") else name
            if os.path.splitext(stem.lower())[1] in TEXT_EXTENSIONS:
                found.append(os.path.join(d, name))
    return found


@dataclass
class Settings:
    """Per-dataset load settings the analyst chose; they stick for that dataset."""

    overrides: dict
    date_order: str = "auto"


def _datasets() -> dict[str, EventLog]:
    return st.session_state.setdefault("datasets", {})


def _settings() -> dict[str, Settings]:
    return st.session_state.setdefault("dataset_settings", {})


def settings_for(key: str) -> Settings:
    return _settings().get(key, Settings({}))


def current_key() -> str | None:
    return st.session_state.get("current_dataset")


def current_log() -> EventLog | None:
    """The selected dataset, unfiltered."""
    key = current_key()
    return _datasets().get(key) if key else None


def filtered_log() -> EventLog | None:
    """The selected dataset seen through the sidebar's filters."""
    log = current_log()
    if log is None:
        return None
    f: Filters = st.session_state.get("filters", Filters())
    return log.where(start=f.start, end=f.end, channels=f.channels, devices=f.devices, users=f.users)


FILTER_WIDGETS = ("filter_dates", "filter_channel", "filter_device")


def reset_filters_if_dataset_changed() -> None:
    """Clear the filter widgets when another dataset was selected (call before drawing them)."""
    if st.session_state.get("filters_dataset") != current_key():
        st.session_state["filters_dataset"] = current_key()
        st.session_state["filters"] = Filters()
        for widget in FILTER_WIDGETS:
            st.session_state.pop(widget, None)


def _select(key: str, log: EventLog) -> EventLog:
    _datasets()[key] = log
    st.session_state["current_dataset"] = key
    st.session_state.pop("load_error", None)
    return log


def _load(key: str, path: str, name: str | None = None) -> EventLog:
    s = settings_for(key)
    if not hosted():
        return journey.load(path, s.overrides, date_order=s.date_order, name=name)
    # hosted: a memory cap per dataset, and once the data is in, no SQL may touch files or the network
    memory = os.environ.get("JOURNEY_SESSION_MEMORY", "2GB")
    spill = os.environ.get("JOURNEY_SESSION_TEMP", "8GB")
    try:
        db = Database(memory_limit=memory, temp_limit=spill)
        log = journey.load(path, s.overrides, date_order=s.date_order, name=name, db=db)
    except MappingError as e:
        if getattr(e, "staged", None) is not None:
            e.staged.db.lock_down()
        raise
    log.db.lock_down()
    return log


def use_sample() -> EventLog | None:
    """Select the bundled sample shop, loading it into this session on first use."""
    if SAMPLE_KEY in _datasets():
        return _select(SAMPLE_KEY, _datasets()[SAMPLE_KEY])
    return _guarded(SAMPLE_KEY, lambda: _load(SAMPLE_KEY, SAMPLE_PATH, "Sample shop"))


def use_upload(name: str, data: bytes, upload_id: str) -> EventLog | None:
    """Select an uploaded file. Its bytes go to a private temporary file that is removed after loading."""
    key = f"upload:{upload_id}"
    if key in _datasets():
        return _select(key, _datasets()[key])
    directory = tempfile.mkdtemp(prefix="journey-upload-")

    def load_it():
        try:
            return _load(key, spool_upload(data, name, directory), name)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    return _guarded(key, load_it)


def use_path(path: str) -> EventLog | None:
    """Select a local file by path (local mode only; no size limit)."""
    if hosted():
        st.session_state["load_error"] = "Opening files by path is turned off on this hosted app. Upload the file."
        return None
    path = os.path.abspath(os.path.expanduser(path.strip()))
    try:
        stat = os.stat(path)
    except OSError:
        st.session_state["load_error"] = f"No such file: {path}"
        return None
    key = f"path:{path}:{stat.st_mtime_ns}:{stat.st_size}"
    if key in _datasets():
        return _select(key, _datasets()[key])
    return _guarded(key, lambda: _load(key, path))


def team_datasets() -> list[str]:
    """The names of the datasets declared in journey.toml (JOURNEY_CONFIG); empty when there is none.

    A broken journey.toml is reported in the sidebar (``load_error``) rather than raised.
    """
    path = teams.config_path()
    if not path:
        return []
    try:
        return [d.name for d in _team_config(path, _mtime(path))]
    except JourneyError as e:
        st.session_state["team_config_error"] = str(e)
        return []


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@st.cache_data(show_spinner=False, max_entries=4)
def _team_config(path: str, mtime: int) -> list[teams.TeamDataset]:
    return teams.read_config(path)


@st.cache_resource(show_spinner=False, max_entries=32)
def _team_log(path: str, mtime: int, name: str) -> tuple[EventLog, StageMap | None]:
    """One declared dataset, loaded once per server process and shared read-only by every session."""
    spec = next(d for d in _team_config(path, mtime) if d.name == name)
    memory = os.environ.get("JOURNEY_TEAM_MEMORY") or None
    log, sm = teams.load_team_dataset(spec, memory_limit=memory)
    if hosted():
        log.db.lock_down()
    return log, sm


def use_team(name: str) -> EventLog | None:
    """Select a team dataset; the first session to pick it loads it, later ones share it."""
    path = teams.config_path()
    if not path or name not in team_datasets():
        st.session_state["load_error"] = f"There is no team dataset named {name!r} in journey.toml."
        return None
    key = f"team:{name}"

    def shared():
        try:
            log, sm = _team_log(path, _mtime(path), name)
        except MappingError as e:  # the declared map is wrong: only journey.toml can fix a shared dataset
            raise JourneyError(f"{name}: {e} Set its columns in journey.toml, e.g. "
                               "map = { user = \"customer_id\", time = \"created_at\" }.") from e
        if sm is not None and st.session_state.get("stage_map_from") != key:
            st.session_state["stage_map"] = sm  # the team's stage map, until the analyst edits it
            st.session_state["stage_map_from"] = key
        return log

    return _guarded(key, shared)


def is_team(key: str | None) -> bool:
    return bool(key) and key.startswith("team:")


def apply_settings(overrides: dict, date_order: str) -> EventLog | None:
    """Re-map the current dataset (from its kept source rows) and remember the choice for it."""
    key, log = current_key(), current_log()
    if log is None:
        return None
    if is_team(key):
        st.session_state["mapping_error"] = ("Team datasets are shared: their mapping is set in journey.toml. "
                                             "Ask whoever runs the dashboard to change it there.")
        return None
    try:
        new = journey.remap(log, overrides, date_order=date_order)
    except JourneyError as e:
        st.session_state["mapping_error"] = str(e)
        return None
    st.session_state.pop("mapping_error", None)
    _settings()[key] = Settings(dict(overrides), date_order)
    return _select(key, new)


def _guarded(key: str, fn) -> EventLog | None:
    try:
        log = fn()
    except MappingError as e:
        staged = getattr(e, "staged", None)
        if staged is not None:  # read fine, but the columns need the analyst: keep the rows for the form
            st.session_state["pending"] = (key, staged)
            st.session_state["load_error"] = (
                f"{staged.name}: Journey could not tell which column is the user and which the time. "
                "Pick them on the Data & mapping page."
            )
        else:
            st.session_state["load_error"] = str(e)
        return None
    except JourneyError as e:
        st.session_state["load_error"] = str(e)
        return None
    st.session_state.pop("pending", None)
    return _select(key, log)


def pending() -> Staged | None:
    """A source that was read but whose columns the analyst must still pick."""
    item = st.session_state.get("pending")
    return item[1] if item else None


def build_pending(overrides: dict, date_order: str) -> EventLog | None:
    """Build the pending source with the analyst's mapping; remember the mapping for it."""
    item = st.session_state.get("pending")
    if item is None:
        return None
    key, staged = item
    try:
        log = build(staged, overrides, date_order=date_order)
    except JourneyError as e:
        st.session_state["mapping_error"] = str(e)
        return None
    _settings()[key] = Settings(dict(overrides), date_order)
    st.session_state.pop("pending", None)
    st.session_state.pop("mapping_error", None)
    return _select(key, log)


def load_error() -> str | None:
    return st.session_state.get("load_error")


def mapping_error() -> str | None:
    return st.session_state.get("mapping_error")


def set_filters(filters: Filters) -> None:
    st.session_state["filters"] = filters


def stage_map() -> StageMap:
    """This session's stage map (the defaults until the analyst edits or uploads one)."""
    return st.session_state.setdefault("stage_map", StageMap())


def set_stage_map(sm: StageMap) -> None:
    st.session_state["stage_map"] = sm.validate()
