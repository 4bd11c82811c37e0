"""Xueliang composition root: settings, the CLI and the embedded runtime services.

The five domain packages (``devices``, ``ingest``, ``analytics``, ``command``,
``web``) never import this package except :mod:`xueliang.settings` and
:mod:`xueliang.runtime` (leaf modules with no domain imports).
"""

__version__ = "0.1.0"
