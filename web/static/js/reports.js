// 统计报表: the scoped report as KPI cards and SVG bar charts (drawn here; no chart library from a CDN).
import { api, h, LiveEvents, loadI18n, renderNav, requireLogin, setConnState, t } from "./common.js";

const NS = "http://www.w3.org/2000/svg";
// command's report names colours in Chinese (红色 …); bars take the matching colour
const COLOURS = { "红色": "#e5484d", "橙色": "#f5a524", "黄色": "#f2d64b", "蓝色": "#3e9bff" };

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function barChart(title, data, { label = (k) => k, colour = () => "#2f8cff", vertical = false } = {}) {
  const entries = Object.entries(data);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const card = h("figure", { class: "chart card", dataset: { chart: title } }, h("figcaption", {}, title));
  if (!entries.length) { card.append(h("p", { class: "muted" }, t("common.none"))); return card; }
  if (vertical) {
    const w = 560, hgt = 200, bw = Math.max(4, Math.min(40, (w - 40) / entries.length - 4));
    const svg = svgEl("svg", { viewBox: `0 0 ${w} ${hgt + 30}`, class: "bars" });
    entries.forEach(([k, v], i) => {
      const bh = (v / max) * hgt, x = 30 + i * (bw + 4);
      svg.append(svgEl("rect", { x, y: hgt - bh, width: bw, height: bh, fill: colour(k) }));
      svg.append(svgEl("text", { x: x + bw / 2, y: hgt - bh - 3, class: "v", "text-anchor": "middle" }, String(v)));
      if (entries.length <= 31) svg.append(svgEl("text", { x: x + bw / 2, y: hgt + 14, class: "k", "text-anchor": "middle" }, label(k).length > 5 ? label(k).slice(5) : label(k)));
    });
    card.append(svg);
    return card;
  }
  const rowH = 24, w = 420;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${entries.length * rowH + 4}`, class: "bars" });
  entries.sort((a, b) => b[1] - a[1]).forEach(([k, v], i) => {
    const y = i * rowH + 2, bw = (v / max) * (w - 170);
    svg.append(svgEl("text", { x: 0, y: y + 16, class: "k" }, label(k)));
    svg.append(svgEl("rect", { x: 120, y: y + 3, width: Math.max(bw, 1), height: rowH - 8, rx: 2, fill: colour(k) }));
    svg.append(svgEl("text", { x: 126 + bw, y: y + 16, class: "v" }, String(v)));
  });
  card.append(svg);
  return card;
}

function kpi(label, value) { return h("div", { class: "kpi card" }, h("div", { class: "kpi-v" }, value ?? "-"), h("div", { class: "muted" }, label)); }

async function load() {
  const period = document.getElementById("period").value;
  const r = await api(`/api/reports/summary?period=${period}`);
  document.getElementById("csv").href = `/api/reports/summary.csv?period=${period}`;
  document.getElementById("pdf").href = `/api/reports/summary.pdf?period=${period}`;
  document.getElementById("report-label").textContent = `${r.scope_name} · ${r.label}`;
  const hours = (v) => (v == null ? "-" : v.toFixed(2));
  document.getElementById("kpis").replaceChildren(
    kpi(t("reports.total"), r.total),
    kpi(t("reports.closure_rate"), r.closure_rate == null ? "-" : `${(r.closure_rate * 100).toFixed(1)}%`),
    kpi(t("reports.overdue"), r.overdue),
    kpi(t("reports.escalated"), r.escalated),
    kpi(t("reports.handling_mean"), hours(r.mean_handling_h)),
    kpi(t("reports.handling_p90"), hours(r.p90_handling_h)),
    kpi(t("reports.satisfaction"), r.satisfaction_mean ?? "-"),
  );
  document.getElementById("charts").replaceChildren(
    barChart(t("reports.by_day"), Object.fromEntries(r.trend), { vertical: true }),
    barChart(t("reports.by_category"), r.by_category),
    barChart(t("reports.by_status"), r.by_status),
    barChart(t("reports.by_colour"), r.by_colour, { colour: (k) => COLOURS[k] || "#888" }),
    barChart(t("reports.by_source"), r.by_source),
    barChart(t("reports.hotspots"), Object.fromEntries(r.hot_spots.map((x) => [x.name || x.code, x.count]))),
    barChart(t("reports.hot_cameras"), Object.fromEntries(r.hot_cameras.map((x) => [x.camera_name || x.camera_id, x.count]))),
  );
}

await loadI18n();
document.title = t("reports.title");
if (await requireLogin()) {
  renderNav("/reports");
  document.getElementById("period").addEventListener("change", load);
  await load();
  // figures follow the live incident stream (debounced: a burst of alerts is one reload)
  let pending = null;
  new LiveEvents((msg) => {
    if (!msg.type.startsWith("incident.")) return;
    clearTimeout(pending);
    pending = setTimeout(load, 2000);
  }, setConnState).start();
  document.body.dataset.ready = "1";
}
