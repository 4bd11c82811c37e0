// 设备状态: every camera in scope with its latest health status, updated live from device.status events.
import { api, fmtTime, h, LiveEvents, loadI18n, renderNav, requireLogin, setConnState, t } from "./common.js";

const rows = new Map();

// The health monitor's fixed reasons are translated; camera/network errors (English, from the socket or
// the RTSP library) are named by their kind in Chinese — the raw text stays in data-raw for administrators.
const NETWORK_ERRORS = [
  [/refused/i, "devices.error.refused"], [/time ?out|timed out/i, "devices.error.timeout"],
  [/401|unauthori[sz]ed|auth|password|credential/i, "devices.error.auth"], [/404|not found|no such/i, "devices.error.not_found"],
  [/unreachable|no route|network is down|name or service/i, "devices.error.unreachable"],
  [/end of file|eof|closed|reset|broken pipe/i, "devices.error.closed"],
];
function reasonLabel(reason) {
  if (!reason) return "";
  const k = `devices.reason.${reason}`;
  if (t(k) !== k) return t(k);
  if (/[\u4e00-\u9fff]/.test(reason)) return reason;
  const hit = NETWORK_ERRORS.find(([re]) => re.test(reason));
  return t(hit ? hit[1] : "devices.error.other");
}
const METRIC_KEYS = { mean: "vqd.metric.mean", std: "vqd.metric.std", sharpness: "vqd.metric.sharpness", frame_diff: "vqd.metric.frame_diff",
  moving_share: "vqd.metric.moving_share", dark_fraction: "vqd.metric.dark_fraction", clipped_fraction: "vqd.metric.clipped_fraction" };
let places = new Map();

function statusLabel(s) { const k = `devices.${s}`; return t(k) === k ? s : t(k); }

// Faults first; a healthy picture shows the figures the diagnosis measured (all of them on hover).
function qualityCell(d) {
  const faults = Object.keys(d.quality || {}).map((k) => t(`vqd.${k}`) === `vqd.${k}` ? k : t(`vqd.${k}`));
  const m = d.metrics || {};
  const figures = "mean" in m ? t("vqd.figures", { brightness: Math.round(m.mean), sharpness: (m.sharpness ?? 0).toFixed(2) }) : "";
  const title = Object.entries(m).filter(([k]) => METRIC_KEYS[k]).map(([k, v]) => `${t(METRIC_KEYS[k])} ${Number(v).toFixed(2)}`).join("\n");
  return h("td", { title, dataset: { metrics: Object.keys(m).length } },
    faults.length ? faults.join("，") : (figures ? `${t("vqd.ok")} · ${figures}` : ""));
}

function render() {
  const items = [...rows.values()].sort((a, b) => (a.status === "online") - (b.status === "online") || a.camera_id.localeCompare(b.camera_id));
  document.getElementById("devices").replaceChildren(...items.map((d) => h("tr", { dataset: { camera: d.camera_id, status: d.status } },
    h("td", {}, d.name), h("td", {}, t(`kind.${d.kind}`)), h("td", { dataset: { code: d.jurisdiction_code } }, places.get(d.jurisdiction_code) || d.jurisdiction_code),
    h("td", {}, h("span", { class: `dev-status dev-${d.status}` }, statusLabel(d.status))),
    h("td", { dataset: { raw: d.reason || "" } }, reasonLabel(d.reason)),
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
  places = new Map((await api("/api/jurisdictions?max_level=village")).items.map((j) => [j.code, j.name]));
  for (const d of (await api("/api/devices/health")).items) rows.set(d.camera_id, d);
  render();
  new LiveEvents(onEvent, setConnState).start();
  document.body.dataset.ready = "1";
}
