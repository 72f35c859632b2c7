"""The Warden server: the SDK over HTTP and the governed prediction service.

``create_app(settings, warden)`` builds the FastAPI app; ``mlwarden serve`` runs it. See
docs/serving.md.
"""

from mlwarden.server.app import create_app
from mlwarden.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
