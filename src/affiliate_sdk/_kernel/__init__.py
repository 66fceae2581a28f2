"""The shared kernel's private helpers: field types, store keys, instants, sealed secrets.

``fields`` holds the pydantic field types and the model base every public model
shares; ``keys`` builds and splits the composite keys of journal entries and
store rows; ``instants`` converts between aware datetimes and the integer
milliseconds the stores keep; ``secrets`` keeps long-lived random secrets
sealed under the keyring. Nothing here is public surface: the public names are
re-exported where they belong.
"""

from __future__ import annotations

__all__: list[str] = []
