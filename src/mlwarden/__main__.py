"""``python -m mlwarden``: the ``mlwarden`` command."""

from mlwarden.cli.main import main

if __name__ == "__main__":
    main()
