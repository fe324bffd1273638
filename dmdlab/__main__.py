"""``python -m dmdlab`` = the ``dmdlab`` command."""

from dmdlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
