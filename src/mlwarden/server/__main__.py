"""``python -m mlwarden.server``: ``mlwarden serve`` configured from the environment only."""

from mlwarden.server.run import run
from mlwarden.settings import Settings

if __name__ == "__main__":
    run(Settings())
