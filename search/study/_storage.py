"""Where a study lives: its Optuna RDB storage, the ``study.json`` pointer beside its results, its settings.

The study in its storage is the single source of truth: every trial's genome and measurements are user
attrs there, so a killed run loses nothing that finished, a re-run continues it, optuna-dashboard opens it
as it is, and ``search.report`` rebuilds every file from it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from evaluators.presets import completed_record
from space import atomic_write

DIRECTIONS = ["maximize", "minimize"]
METRICS = ["accuracy", "macs"]
"""The default objectives' directions and result keys (``search.study._objectives`` has every choice)."""
POINTER = "study.json"
BACKENDS = {"sqlite": None, "postgresql": "postgres", "mysql": None}
"""The storage URL schemes a study may live in, and the extra that installs each one's driver (if any)."""
URL_FORMS = "sqlite:///FILE, postgresql://USER:PASSWORD@HOST:PORT/DATABASE or mysql://USER:PASSWORD@HOST/DATABASE"


class StudyError(ValueError):
    """A problem with a study or its storage that a command reports as one line."""


def default_storage(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / 'study.db').resolve()}"


def open_study(study_name: str, storage: str, sampler: optuna.samplers.BaseSampler, *,
               must_exist: bool = False, directions: list[str] = DIRECTIONS) -> optuna.Study:
    """The search's study, created on first use; ``must_exist`` (``--resume``) refuses to create it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    new_file = _missing_sqlite_file(storage)
    if new_file and not Path(new_file).parent.is_dir():
        raise StudyError(f"--storage {shown_url(storage)}: the folder {Path(new_file).parent} does not exist "
                         "(a new SQLite file is created, its folder is not)")
    names = _study_names(storage)
    if must_exist and study_name not in names:
        raise StudyError(f"--resume: no study '{study_name}' in {shown_url(storage)}")
    return optuna.create_study(study_name=study_name, storage=_rdb_storage(storage), sampler=sampler,
                               directions=directions, load_if_exists=True)


def study_exists(study_name: str, storage: str) -> bool:
    """Whether ``storage`` holds ``study_name``; never creates the storage's SQLite file or the study."""
    return study_name in _study_names(storage)


def load_existing_study(study_dir: Path, storage: str | None = None, study_name: str | None = None,
                        named_by_flags: bool = True) -> optuna.Study:
    """The study a results folder points at (``study.json``), or the one named; never creates one.

    ``named_by_flags``: whether the command offers ``--storage`` and ``--study-name``, which its errors then
    suggest."""
    pointer = Path(study_dir) / POINTER
    if storage is None or study_name is None:
        hint = " (or pass --storage and --study-name)" if named_by_flags else ""
        if not Path(study_dir).is_dir():
            state = "is a file, not a folder" if Path(study_dir).exists() else "does not exist"
            raise StudyError(f"results folder {study_dir} {state}{hint}")
        if not pointer.is_file():
            raise StudyError(f"{pointer} not found: not a results folder of search.run{hint}")
        saved = _read_pointer(pointer, hint)
        storage = storage or saved["storage"]
        study_name = study_name or saved["study_name"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if _missing_sqlite_file(storage):
        raise StudyError(f"storage file {_missing_sqlite_file(storage)} does not exist ({shown_url(storage)})")
    names = _study_names(storage)
    if study_name not in names:
        raise StudyError(f"study {study_name!r} not found in {shown_url(storage)}; studies there: "
                         f"{', '.join(sorted(names)) or 'none'}")
    return optuna.load_study(study_name=study_name, storage=_rdb_storage(storage))


def write_study_pointer(study_dir: Path, study_name: str, storage: str, **details: Any) -> None:
    """``study.json`` lets ``search.report DIR`` find the storage (which may be a remote database)."""
    atomic_write(study_dir / POINTER, json.dumps({"study_name": study_name, "storage": storage, **details},
                                                 indent=2) + "\n")


def check_same_settings(study: optuna.Study, settings: dict[str, Any]) -> None:
    """A study mixes results only from one set of ``settings`` (data, fidelity, ...): refuse to continue it
    with others than it recorded (``record_settings``)."""
    recorded = dict(study.user_attrs)
    if "fidelity" in recorded:
        recorded["fidelity"] = completed_record(recorded["fidelity"])
    for key, value in settings.items():
        if key in recorded and _differs(recorded[key], value):
            raise StudyError(f"study '{study.study_name}' was run with {key} {_difference(recorded[key], value)}; "
                             "continue it with the settings it was run with, or use another --study-name")


def record_settings(study: optuna.Study, settings: dict[str, Any], recorded_once: dict[str, Any]) -> None:
    """Record what the study has not recorded yet: ``settings`` for ``check_same_settings`` to hold later runs
    to, ``recorded_once`` (sampler, seed, ...) for the reports. Separate from the check, so that a new study
    whose settings are refused for another reason records nothing."""
    for key, value in {**settings, **recorded_once}.items():
        if key not in study.user_attrs:
            study.set_user_attr(key, value)


def _differs(recorded: Any, value: Any) -> bool:
    if isinstance(recorded, dict) and isinstance(value, dict):
        return bool(_differing_keys(recorded, value))
    return recorded != value


def _differing_keys(recorded: dict[str, Any], value: dict[str, Any]) -> list[str]:
    """Settings recorded as a dict (a fidelity) differ in a key the study recorded; a key it lacks is a setting
    added since, which ran as the study did (its default kept the earlier behaviour, or ``completed_record``
    filled in what the study did), so a study made before it can still be continued."""
    return [key for key in recorded if key not in value or recorded[key] != value[key]]


def _difference(recorded: Any, value: Any) -> str:
    """What differs, as ``recorded, not value``; for dicts only the keys that differ."""
    if isinstance(recorded, dict) and isinstance(value, dict):
        keys = _differing_keys(recorded, value)
        recorded = ", ".join(f"{key}={recorded[key]!r}" for key in keys)
        value = ", ".join(f"{key}={value.get(key, '(none)')!r}" for key in keys)
        return f"{recorded}, not {value}"
    return f"{recorded!r}, not {value!r}"


def storage_backend(storage: str) -> str:
    """The database a storage URL names (``sqlite``, ``postgresql``, ``mysql``); a one-line StudyError for
    anything else, and for SQLite without a file (an in-memory database ends with the run, and the runs sharing a
    study lock its file), before any connection is tried, so before a run writes anything."""
    try:
        url = make_url(storage)
    except ArgumentError:
        raise StudyError(f"--storage {storage!r}: not a database URL; use {URL_FORMS}") from None
    backend = url.get_backend_name()
    if backend not in BACKENDS:
        raise StudyError(f"--storage {shown_url(storage)}: unknown scheme {backend!r}; use {URL_FORMS}")
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        # shown as given: shown_url would escape ":memory:", and an SQLite URL holds no password
        raise StudyError(f"--storage {storage}: a study needs a database file: sqlite:///FILE")
    if backend == "sqlite" and Path(url.database).is_dir():
        raise StudyError(f"--storage {storage}: {url.database} is a folder, not a database file: sqlite:///FILE")
    return backend


def shown_url(storage: str) -> str:
    """The storage URL as messages and files show it: without its password."""
    try:
        return make_url(storage).render_as_string(hide_password=True)
    except ArgumentError:
        return storage


def _study_names(storage: str) -> list[str]:
    """Study names in ``storage``; a missing SQLite file holds none (opening it would create it).

    Connecting is where an unreachable server, bad credentials or a missing driver show: each becomes one line
    naming the URL (its password hidden)."""
    backend = storage_backend(storage)
    if _missing_sqlite_file(storage):
        return []
    try:
        return optuna.get_all_study_names(storage=_rdb_storage(storage))
    except ImportError:  # Optuna's wrapping of the driver's ModuleNotFoundError
        extra = BACKENDS[backend]
        hint = f"pip install 'effcnn-nas[{extra}]'" if extra else f"install a {backend} driver for SQLAlchemy"
        raise StudyError(f"--storage {shown_url(storage)}: its database driver is not installed; {hint}") from None
    except Exception as error:  # drivers and SQLAlchemy raise many types; a command needs one line
        line = next((text.strip() for text in str(error).splitlines() if text.strip()), type(error).__name__)
        raise StudyError(f"--storage {shown_url(storage)}: cannot open it: {line}") from None


SCHEMA_RACE = ("already exists", "UNIQUE constraint failed", "duplicate key", "database is locked")
"""What a process sees when another creates the same new database's tables at the same moment."""
SCHEMA_ATTEMPTS = 5


def _rdb_storage(storage: str) -> optuna.storages.RDBStorage:
    """Optuna's storage at ``storage``, its tables created on first use.

    Two processes that open one new database at the same moment (two runs started together, or a run and a
    reader such as search.report) both create its tables, and the loser fails ("table alembic_version already
    exists", "UNIQUE constraint failed: alembic_version.version_num": optuna/optuna#4621). The tables are
    there by then, so opening again succeeds; any other error is raised at once."""
    for attempt in range(1, SCHEMA_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(storage)
        except Exception as error:
            if not any(sign in str(error) for sign in SCHEMA_RACE):
                raise
        time.sleep(0.1 * attempt)
    return optuna.storages.RDBStorage(storage)


def _missing_sqlite_file(storage: str) -> str | None:
    """The file of a ``sqlite:///`` URL when it does not exist, else None."""
    prefix = "sqlite:///"
    if storage.startswith(prefix) and not Path(storage[len(prefix):]).is_file():
        return storage[len(prefix):]
    return None


def _read_pointer(pointer: Path, hint: str) -> dict:
    try:
        saved = json.loads(pointer.read_text())
    except UnicodeDecodeError:
        raise StudyError(f"{pointer}: not a text file (a study's pointer is UTF-8 JSON)") from None
    except (OSError, json.JSONDecodeError) as error:
        raise StudyError(f"{pointer}: cannot read it as JSON ({error})") from None
    missing = [key for key in ("storage", "study_name") if not isinstance(saved, dict) or not saved.get(key)]
    if missing:
        raise StudyError(f"{pointer}: missing {' and '.join(missing)}{hint}")
    wrong = [key for key in ("storage", "study_name") if not isinstance(saved[key], str)]
    if wrong:
        raise StudyError(f"{pointer}: {' and '.join(wrong)} must be text, got "
                         f"{', '.join(type(saved[key]).__name__ for key in wrong)}")
    return saved
