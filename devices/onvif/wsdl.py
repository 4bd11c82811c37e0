"""The ONVIF WSDL/XSD bundle, loaded from disk only and parsed once per process.

The WSDLs ship with ``onvif-zeep`` (installed into ``site-packages/wsdl``). Schemas
are never fetched over the network: a camera network is often air-gapped, and a
schema fetch would be a remote-content injection point. Set
``XUELIANG_ONVIF_WSDL_DIR`` to use another copy of the bundle.
"""

from __future__ import annotations

import functools
import os
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsdl import Document

# service key -> (wsdl file, binding namespace, binding name)
SERVICES: dict[str, tuple[str, str, str]] = {
    "devicemgmt": ("devicemgmt.wsdl", "http://www.onvif.org/ver10/device/wsdl", "DeviceBinding"),
    "media": ("media.wsdl", "http://www.onvif.org/ver10/media/wsdl", "MediaBinding"),
    "ptz": ("ptz.wsdl", "http://www.onvif.org/ver20/ptz/wsdl", "PTZBinding"),
    "events": ("events.wsdl", "http://www.onvif.org/ver10/events/wsdl", "EventBinding"),
    "pullpoint": ("events.wsdl", "http://www.onvif.org/ver10/events/wsdl", "PullPointSubscriptionBinding"),
    "subscription": ("events.wsdl", "http://www.onvif.org/ver10/events/wsdl", "SubscriptionManagerBinding"),
}


class WsdlBundleMissing(RuntimeError):
    """The ONVIF WSDL files are not installed."""


def wsdl_dir() -> Path:
    """Directory holding ``devicemgmt.wsdl`` and friends."""
    override = os.environ.get("XUELIANG_ONVIF_WSDL_DIR")
    if override:
        path = Path(override)
        if not (path / "devicemgmt.wsdl").is_file():
            raise WsdlBundleMissing(f"XUELIANG_ONVIF_WSDL_DIR={override} has no devicemgmt.wsdl")
        return path
    try:
        files = metadata.files("onvif-zeep") or []
    except metadata.PackageNotFoundError as exc:
        raise WsdlBundleMissing("onvif-zeep is not installed; run `pip install onvif-zeep==0.2.12`") from exc
    for entry in files:
        if entry.name == "devicemgmt.wsdl":
            return Path(str(entry.locate())).resolve().parent
    raise WsdlBundleMissing("onvif-zeep is installed without its wsdl/ directory; reinstall it")


class LocalOnlyTransport(Transport):
    """Loads WSDL/XSD documents from local files and refuses every network fetch."""

    def __init__(self) -> None:
        super().__init__(timeout=5, operation_timeout=5)

    def load(self, url: str) -> bytes:
        scheme = urlparse(url).scheme
        if scheme in ("http", "https"):
            raise WsdlBundleMissing(f"refusing to fetch schema {url} over the network; the local WSDL bundle is incomplete")
        path = url[len("file://") :] if url.startswith("file://") else url
        with open(path, "rb") as fh:
            return fh.read()


def load_settings() -> Settings:
    # The bundle is trusted local data; DTD-free, no entities, no external fetches.
    return Settings(strict=False, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


@functools.lru_cache(maxsize=8)
def document(wsdl_file: str) -> Document:
    """Parsed WSDL (cached: parsing devicemgmt.wsdl + onvif.xsd costs ~0.5 s; the result is read-only)."""
    path = wsdl_dir() / wsdl_file
    # zeep annotates ``transport`` as ``type[Transport]`` but uses (and documents) an instance.
    return Document(str(path), LocalOnlyTransport(), settings=load_settings())  # type: ignore[arg-type]
