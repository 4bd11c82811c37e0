// "/" — login, then the live incident list with snapshots, updated from the WebSocket.
import { api, applyI18n, fmtTime, h, LiveEvents, loadI18n, login, renderNav, session, setConnState, t, ApiError } from "./common.js";

const incidents = new Map();

function card(inc) {
  const img = inc.has_snapshot
    ? h("img", { src: `/api/incidents/${inc.id}/snapshot`, alt: t("incident.snapshot"), loading: "lazy" })
    : h("div", { class: "no-snapshot" }, t("incident.no_snapshot"));
  return h("article", { class: `incident-card colour-${inc.colour}`, dataset: { id: inc.id, jurisdiction: inc.jurisdiction_code } },
    h("a", { href: `/desk#${inc.id}`, class: "thumb" }, img),
    h("div", { class: "body" },
      h("div", { class: "title" },
        h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)),
        " ", inc.title),
      h("div", { class: "meta" }, `${t("incident.camera")}：${inc.camera_name || inc.camera_id || "-"}`),
      h("div", { class: "meta" }, `${t("incident.jurisdiction")}：${inc.jurisdiction_code}`),
      h("div", { class: "meta" }, `${t("incident.time")}：${fmtTime(inc.created_at)}`),
      h("div", { class: "meta" }, `${t("incident.status")}：`, h("span", { class: `status status-${inc.status}` }, t(`status.${inc.status}`))),
    ));
}

function render() {
  const list = document.getElementById("incident-list");
  const items = [...incidents.values()].sort((a, b) => b.id - a.id).slice(0, 200);
  list.replaceChildren(...items.map(card));
  document.getElementById("incident-count").textContent = t("incidents.count", { n: incidents.size });
  document.getElementById("incidents-empty").classList.toggle("hidden", incidents.size > 0);
}

function onEvent(msg) {
  if (!msg.type.startsWith("incident.") || !msg.payload || msg.payload.id === undefined) return;
  const known = incidents.get(msg.payload.id) || {};
  incidents.set(msg.payload.id, { ...known, ...msg.payload });
  render();
  if (msg.type === "incident.created") {
    const el = document.querySelector(`.incident-card[data-id="${msg.payload.id}"]`);
    el?.classList.add("flash");
  }
}

async function showOverview() {
  document.getElementById("login-view").classList.add("hidden");
  document.getElementById("overview").classList.remove("hidden");
  renderNav("/");
  // Connect first, then load: an incident created in between arrives on the socket.
  new LiveEvents(onEvent, setConnState).start();
  const data = await api("/api/incidents?limit=200");
  for (const inc of data.items) incidents.set(inc.id, { ...inc, ...(incidents.get(inc.id) || {}) });
  render();
}

function showLogin() {
  document.getElementById("overview").classList.add("hidden");
  document.getElementById("login-view").classList.remove("hidden");
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = document.getElementById("login-error");
    err.textContent = "";
    try {
      await login(form.username.value.trim(), form.password.value);
      const next = new URLSearchParams(location.search).get("next");
      if (next && next.startsWith("/") && !next.startsWith("//")) { location.href = next; return; }
      await showOverview();
    } catch (e) {
      if (e instanceof ApiError && e.status === 429) err.textContent = t("login.locked", { s: (e.detail.match(/(\d+)s/) || [])[1] || 60 });
      else err.textContent = t("login.failed");
    }
  });
}

document.addEventListener("xl:logged-out", () => { location.href = "/"; });

await loadI18n();
document.title = t("app.title");
if (session.token) {
  try { const me = await api("/api/auth/me"); session.save(session.token, me); await showOverview(); }
  catch { session.clear(); showLogin(); }
} else {
  showLogin();
}
applyI18n(document);
