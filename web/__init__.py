"""web: FastAPI app — auth and jurisdiction-scoped RBAC, REST, WebSocket pushes, pages.

Public API: ``create_app(settings) -> FastAPI``, ``hash_password``, ``verify_password``.
"""

from web.app import ConfigError, create_app
from web.auth import hash_password, verify_password

__all__ = ["ConfigError", "create_app", "hash_password", "verify_password"]
