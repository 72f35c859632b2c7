"""``python -m mlwarden.server``: ``mlwarden serve`` configured from the environment only."""

from mlwarden.cli.serve import run
from mlwarden.settings import Settings

if __name__ == "__main__":
    run(Settings())
