"""Where the dashboard files and the default config are, found through the package.

A wheel carries them inside the package as ``ticker/web`` and ``ticker/config.toml``. A source
checkout or an editable install has them beside the package, at the top of the repository.
Neither location depends on the current directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{name} not found in {PACKAGE_DIR} or {PACKAGE_DIR.parent}; reinstall ticker"
    )


def web_root() -> Path:
    """Return the folder of the dashboard's static files."""
    return _find("web")


def default_config_path() -> Path:
    """Return the config file shipped with the package."""
    return _find("config.toml")
