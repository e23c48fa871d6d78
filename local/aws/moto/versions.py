"""The moto releases the local runtime is tested on, checked before anything imports moto's internals.

``local/aws/moto/`` adapts about thirty of moto's internals, and a patch release can move any of them (5.2.6
removed ``moto.core.exceptions.AWSError``). A machine with another moto therefore stops at once with one line that names
the installed version, the supported ones and the command that installs them, instead of an ImportError deep inside the
engine or, worse, an adapter that silently stops applying.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

SUPPORTED_MOTO_VERSIONS = ("5.2.6",)
"""Exactly the releases the engine's adapters are tested on; moving moto means checking them again (make upgrade)."""

INSTALL_COMMAND = "make install"


class UnsupportedMotoError(RuntimeError):
    """The installed moto is not one the engine's adapters were tested on; the message is one line for the user."""


def installed_moto_version() -> str | None:
    try:
        return version("moto")
    except PackageNotFoundError:
        return None


def require_supported_moto() -> None:
    """Refuse to go on with a moto release the adapters were not tested on.

    Example
    -------
    >>> require_supported_moto()  # the locked moto passes silently
    """
    installed = installed_moto_version()
    if installed not in SUPPORTED_MOTO_VERSIONS:
        found = f"moto {installed} is installed" if installed else "moto is not installed"
        raise UnsupportedMotoError(
            f"{found}, but the local runtime supports moto {' or '.join(SUPPORTED_MOTO_VERSIONS)} only: "
            f"run `{INSTALL_COMMAND}` to install the locked versions."
        )
