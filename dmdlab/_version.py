"""dmdlab's version: the installed distribution's, so there is one place to bump it
(pyproject.toml). Its own module, so that any module can import it without importing
the package's curated API (and without an import cycle)."""

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("dmdlab")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
