// 统计报表: KPI cards with 环比/同比, the daily trend and distributions drawn with ECharts (vendored,
// zh-CN locale), and the report's tables (top categories, hot spots, overdue list). Same data as the CSV
// and the multi-page PDF (GET /api/reports/summary…), all in Beijing time.
import { api, h, LiveEvents, loadI18n, renderNav, requireLogin, session, setConnState, t } from "./common.js";

const echarts = window.echarts;
const COLOURS = { "红色": "#e5484d", "橙色": "#f5a524", "黄色": "#f2d64b", "蓝色": "#3e9bff" };
const TEXT = "#e6edf5", MUTED = "#8da2b8", LINE = "#2a3b50";
const charts = {};

function chart(id) {
  if (!charts[id]) charts[id] = echarts.init(document.getElementById(id), null, { locale: "ZH", renderer: "canvas" });
  return charts[id];
}

const pct = (v, signed = false) => (v == null ? "—" : `${signed && v > 0 ? "+" : ""}${(v * 100).toFixed(1)}%`);
const axis = { axisLine: { lineStyle: { color: LINE } }, axisLabel: { color: MUTED }, splitLine: { lineStyle: { color: LINE } } };
// Tooltips as plain text: the app's CSP forbids the inline styles of ECharts' default HTML tooltips.
const tooltip = (formatter) => ({ trigger: "axis", renderMode: "richText", formatter, backgroundColor: "#15212f", textStyle: { color: TEXT } });

function drawTrend(r) {
  const labels = r.trend.map(([k]) => (k.length === 10 ? k.slice(5) : k));
  document.getElementById("trend-title").textContent = `${t(r.period === "daily" ? "reports.by_hour" : "reports.by_day")}（${t("reports.points", { n: labels.length })}）`;
  chart("chart-trend").setOption({
    textStyle: { color: TEXT }, grid: { left: 40, right: 20, top: 30, bottom: 40 },
    legend: { data: [t("reports.created"), t("reports.resolved")], textStyle: { color: TEXT } },
    tooltip: tooltip((ps) => [ps[0].axisValue, ...ps.map((p) => `${p.seriesName}：${p.value}`)].join("\n")),
    xAxis: { type: "category", data: labels, ...axis }, yAxis: { type: "value", minInterval: 1, ...axis },
    series: [
      { name: t("reports.created"), type: "line", data: r.trend.map(([, v]) => v), symbol: "circle", symbolSize: 7, itemStyle: { color: "#e5484d" } },
      { name: t("reports.resolved"), type: "line", data: r.trend_resolved.map(([, v]) => v), symbol: "rect", symbolSize: 6, itemStyle: { color: "#30a46c" } },
    ],
  }, true);
}

function drawBars(id, data, colourOf = () => "#2f8cff") {
  const entries = Object.entries(data).slice(0, 10).reverse();
  chart(id).setOption({
    textStyle: { color: TEXT }, grid: { left: 100, right: 30, top: 10, bottom: 20 },
    tooltip: tooltip((ps) => `${ps[0].name}：${ps[0].value}`),
    xAxis: { type: "value", minInterval: 1, ...axis }, yAxis: { type: "category", data: entries.map(([k]) => k), ...axis },
    series: [{ type: "bar", data: entries.map(([k, v]) => ({ value: v, itemStyle: { color: colourOf(k) } })), label: { show: true, position: "right", color: TEXT } }],
  }, true);
}

function drawPie(id, data) {
  chart(id).setOption({
    textStyle: { color: TEXT },
    tooltip: { trigger: "item", renderMode: "richText", formatter: (p) => `${p.name}：${p.value}（${p.percent}%）`, backgroundColor: "#15212f", textStyle: { color: TEXT } },
    series: [{ type: "pie", radius: ["35%", "65%"], data: Object.entries(data).map(([name, value]) => ({ name, value })), label: { color: TEXT, formatter: "{b} {c}" } }],
  }, true);
}

function kpi(id, label, value, delta) {
  return h("div", { class: "kpi card", id },
    h("div", { class: "kpi-v" }, value ?? "—"), h("div", { class: "muted" }, label),
    delta ? h("div", { class: `delta ${delta.cls}` }, delta.text) : null);
}

function deltaOf(cmp, name) {
  if (!cmp) return { cls: "", text: `${name} ${t("reports.no_compare")}` };
  const v = cmp.total_change;
  return { cls: v > 0 ? "up" : v < 0 ? "down" : "", text: `${name} ${pct(v, true)}` };
}

function table(id, header, rows, numeric = []) {
  const el = document.getElementById(id);
  el.replaceChildren(
    h("thead", {}, h("tr", {}, header.map((x, i) => h("th", { class: numeric.includes(i) ? "num" : null }, x)))),
    h("tbody", {}, rows.length ? rows.map((row) => h("tr", {}, row.map((x, i) => h("td", { class: numeric.includes(i) ? "num" : null }, x))))
      : h("tr", {}, h("td", { colspan: String(header.length), class: "muted" }, t("common.none")))),
  );
}

function params() {
  const p = new URLSearchParams({ period: document.getElementById("period").value });
  const day = document.getElementById("report-day").value;
  const scope = document.getElementById("report-scope").value;
  if (day) p.set("day", day);
  if (scope) p.set("jurisdiction_code", scope);
  return p;
}

async function load() {
  const p = params();
  const r = await api(`/api/reports/summary?${p}`);
  document.getElementById("csv").href = `/api/reports/summary.csv?${p}`;
  document.getElementById("pdf").href = `/api/reports/summary.pdf?${p}`;
  document.getElementById("report-label").textContent = `${r.scope_name} · ${r.period_name} ${r.label}（${r.start_local} — ${r.end_local}）`;
  const hours = (v) => (v == null ? "—" : v.toFixed(1));
  const prevName = `${t("reports.mom")}`;
  document.getElementById("kpis").replaceChildren(
    kpi("kpi-total", t("reports.total"), r.total, deltaOf(r.previous, prevName)),
    kpi("kpi-year", t("reports.yoy_total"), r.year_ago ? r.year_ago.total : "—", deltaOf(r.year_ago, t("reports.yoy"))),
    kpi("kpi-closure", t("reports.closure_rate"), pct(r.closure_rate), r.previous?.closure_change_pt != null ? { cls: "", text: `${prevName} ${r.previous.closure_change_pt > 0 ? "+" : ""}${r.previous.closure_change_pt} ${t("reports.pt")}` } : null),
    kpi("kpi-mediation", t("reports.mediation_rate"), pct(r.mediation_rate), { cls: "", text: t("reports.disputes", { n: r.disputes, done: r.disputes_resolved }) }),
    kpi("kpi-overdue", t("reports.overdue"), r.overdue),
    kpi("kpi-escalated", t("reports.escalated"), r.escalated),
    kpi("kpi-handling", t("reports.handling_mean"), hours(r.mean_handling_h), { cls: "", text: `${t("reports.handling_p90")} ${hours(r.p90_handling_h)}` }),
    kpi("kpi-satisfaction", t("reports.satisfaction"), r.satisfaction_mean ?? "—", { cls: "", text: `${t("reports.satisfied_rate")} ${pct(r.satisfied_rate)}` }),
  );
  drawTrend(r);
  drawBars("chart-category", r.by_category);
  drawPie("chart-source", r.by_source);
  drawBars("chart-status", r.by_status);
  drawBars("chart-colour", r.by_colour, (k) => COLOURS[k] || "#888");
  const cmpRow = (name, c) => (c ? [name, c.label, String(c.total), pct(c.total_change, true), pct(c.closure_rate),
    c.closure_change_pt == null ? "—" : `${c.closure_change_pt > 0 ? "+" : ""}${c.closure_change_pt} ${t("reports.pt")}`]
    : [name, "—", "—", t("reports.no_compare"), "—", "—"]);
  table("table-compare", [t("reports.compare_with"), t("reports.period_label"), t("reports.total"), t("reports.change"), t("reports.closure_rate"), t("reports.closure_change")],
    [[t("reports.this_period"), r.label, String(r.total), "—", pct(r.closure_rate), "—"], cmpRow(`${t("reports.mom")}（${r.previous_name}）`, r.previous), cmpRow(`${t("reports.yoy")}（${t("reports.year_ago")}）`, r.year_ago)], [2]);
  table("table-categories", [t("reports.category"), t("reports.count"), t("reports.share"), t("reports.previous"), t("reports.mom")],
    r.top_categories.map((c) => [c.name, String(c.count), pct(c.share), c.previous == null ? "—" : String(c.previous), pct(c.change, true)]), [1, 2, 3]);
  table("table-hotspots", [t("reports.area"), t("reports.count"), t("reports.share"), t("reports.resolved"), t("reports.closure_rate")],
    r.hot_spots.map((s) => [s.name, String(s.count), pct(s.share), String(s.resolved), pct(s.closure_rate)]), [1, 2, 3]);
  table("table-overdue", [t("reports.number"), t("reports.event"), t("reports.category"), t("reports.area"), t("incident.status"), t("incident.deadline"), t("reports.overdue_hours")],
    r.overdue_items.map((i) => [`#${i.id}`, i.title, i.category, i.place, i.status, i.deadline, i.overdue_h == null ? "—" : String(i.overdue_h)]), [6]);
  document.body.dataset.loaded = String(Date.now());
}

async function fillScopes() {
  const select = document.getElementById("report-scope");
  const own = session.user?.jurisdiction_code;
  const items = (await api("/api/jurisdictions?max_level=township")).items.filter((j) => j.code === own || j.level === "township");
  select.replaceChildren(...items.map((j) => h("option", { value: j.code === own ? "" : j.code }, j.code === own ? `${j.name}（${t("reports.whole_scope")}）` : j.name)));
}

await loadI18n();
document.title = t("reports.title");
if (await requireLogin()) {
  renderNav("/reports");
  document.getElementById("report-day").value = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai" }).format(new Date());
  await fillScopes();
  for (const id of ["period", "report-day", "report-scope"]) document.getElementById(id).addEventListener("change", load);
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
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
