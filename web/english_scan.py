"""English words an operator would read on a page (used by the browser tests and ``xueliang bench operator``): visible text, tooltips, placeholders, toasts.

Codes, units and brand names are allowed (ALLOWED); everything else made of Latin letters
(two or more in a row) counts. The scan reads the live DOM of a Playwright page.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page  # the browser checks' own dependency

# Codes, units and names that stay as they are in a Chinese centre's software.
ALLOWED = frozenset({
    "PTZ", "ID", "CSV", "PDF", "PNG", "JSON", "GB", "MB", "KB", "ms", "fps", "km", "kbps", "Mbps", "IP",
    "ONVIF", "RTSP", "WebRTC", "YOLO", "GIS", "SIP", "GPS", "Excel", "WPS", "Xueliang", "P90", "SLA",
    "GD", "JJ", "Leaflet", "OpenStreetMap", "ECharts", "Vue", "AGPL",
})
# Runs of letters, digits and _ : a run holding a digit is a code (work-order number, hex id), not English.
TOKEN = re.compile(r"[A-Za-z0-9_]+")

VISIBLE_TEXT_JS = """() => {
  const out = [];
  const visible = (el) => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && (r.width > 0 || r.height > 0); };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    const text = n.textContent.trim();
    if (text && visible(el)) out.push(text);
  }
  for (const el of document.querySelectorAll('[title],[placeholder],[aria-label],[alt]')) {
    for (const a of ['title', 'placeholder', 'aria-label', 'alt']) { const v = el.getAttribute(a); if (v) out.push(v); }
  }
  for (const el of document.querySelectorAll('option, optgroup')) out.push(el.label || el.textContent || '');
  for (const el of document.querySelectorAll('input[type=submit], input[type=button], button')) if (el.value) out.push(el.value);
  out.push(document.title);
  return out;
}"""

# Toasts vanish after a few seconds: keep every one that appears.
TOAST_RECORDER_JS = """() => {
  if (window.__xlToasts) return;
  window.__xlToasts = [];
  new MutationObserver((records) => { for (const r of records) for (const n of r.addedNodes)
    if (n.nodeType === 1 && n.classList.contains('toast')) window.__xlToasts.push(n.textContent); })
    .observe(document.body, { childList: true, subtree: true });
}"""


def english_words(texts: list[str]) -> list[str]:
    """The Latin-letter words in ``texts`` that are not allowed codes, units or names."""
    found = []
    for text in texts:
        for token in TOKEN.findall(text):
            if any(ch.isdigit() for ch in token):
                continue
            for word in filter(None, token.split("_")):
                if len(word) >= 2 and word not in ALLOWED:
                    found.append(f"{word!r} in {text[:80]!r}")
    return found


def record_toasts(page: Page) -> None:
    page.evaluate(TOAST_RECORDER_JS)


def scan(page: Page) -> list[str]:
    """English words on the page now, plus those of every toast recorded since :func:`record_toasts`."""
    texts = page.evaluate(VISIBLE_TEXT_JS)
    texts += page.evaluate("() => window.__xlToasts || []")
    return english_words(texts)
