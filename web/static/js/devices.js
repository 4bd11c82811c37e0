// 设备状态: every camera in scope with its latest health status, updated live from device.status events.
import { api, fmtTime, h, LiveEvents, loadI18n, renderNav, requireLogin, setConnState, t } from "./common.js";

const rows = new Map();

// The health monitor's fixed reasons are translated; camera/network errors are shown as they came.
function reasonLabel(reason) { const k = `devices.reason.${reason}`; return !reason ? "" : t(k) === k ? reason : t(k); }

function statusLabel(s) { const k = `devices.${s}`; return t(k) === k ? s : t(k); }

// Faults first; a healthy picture shows the figures the diagnosis measured (all of them on hover).
function qualityCell(d) {
  const faults = Object.keys(d.quality || {}).map((k) => t(`vqd.${k}`) === `vqd.${k}` ? k : t(`vqd.${k}`));
  const m = d.metrics || {};
  const figures = "mean" in m ? t("vqd.figures", { brightness: Math.round(m.mean), sharpness: (m.sharpness ?? 0).toFixed(2) }) : "";
  const title = Object.entries(m).map(([k, v]) => `${k} ${v}`).join("\n");
  return h("td", { title, dataset: { metrics: Object.keys(m).length } },
    faults.length ? faults.join("，") : (figures ? `${t("vqd.ok")} · ${figures}` : ""));
}

function render() {
  const items = [...rows.values()].sort((a, b) => (a.status === "online") - (b.status === "online") || a.camera_id.localeCompare(b.camera_id));
  document.getElementById("devices").replaceChildren(...items.map((d) => h("tr", { dataset: { camera: d.camera_id, status: d.status } },
    h("td", {}, d.name), h("td", {}, t(`kind.${d.kind}`)), h("td", {}, d.jurisdiction_code),
    h("td", {}, h("span", { class: `dev-status dev-${d.status}` }, statusLabel(d.status))),
    h("td", {}, reasonLabel(d.reason)),
    qualityCell(d),
    h("td", {}, fmtTime(d.since)), h("td", {}, fmtTime(d.last_frame_at)))));
  const counts = {};
  for (const d of rows.values()) counts[d.status] = (counts[d.status] || 0) + 1;
  document.getElementById("device-counts").textContent =
    `${t("devices.count", { n: rows.size })} · ` + Object.entries(counts).map(([s, n]) => `${statusLabel(s)} ${n}`).join(" · ");
}

function onEvent(msg) {
  if (msg.type !== "device.status" || !msg.payload?.camera_id) return;
  const known = rows.get(msg.payload.camera_id);
  if (!known) return;
  rows.set(known.camera_id, { ...known, ...msg.payload });
  render();
}

await loadI18n();
document.title = t("devices.title");
if (await requireLogin()) {
  renderNav("/devices");
  for (const d of (await api("/api/devices/health")).items) rows.set(d.camera_id, d);
  render();
  new LiveEvents(onEvent, setConnState).start();
  document.body.dataset.ready = "1";
}
