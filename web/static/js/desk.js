// 警情处置台: the queue ordered by colour then deadline, and the selected incident's detail and actions.
import { api, COLOUR_ORDER, deadlineText, fmtTime, h, LiveEvents, loadI18n, renderNav, requireLogin, session, setConnState, t, toast } from "./common.js";
import { actionForm, liveStateText, playLive, snapshotWithBoxes } from "./incident-view.js";

const incidents = new Map();
let selected = null;
let liveHandle = null;

function deadlineOf(inc) { return inc.resolve_deadline ? Date.parse(inc.resolve_deadline) : Infinity; }

function ordered() {
  const openOnly = document.getElementById("open-only").checked;
  const colour = document.getElementById("colour-filter").value;
  return [...incidents.values()]
    .filter((i) => (!openOnly || i.is_open !== false) && (!colour || i.colour === colour))
    .sort((a, b) => (COLOUR_ORDER[a.colour] ?? 9) - (COLOUR_ORDER[b.colour] ?? 9) || deadlineOf(a) - deadlineOf(b) || b.id - a.id);
}

function queueItem(inc) {
  const overdue = inc.overdue || (inc.resolve_deadline && Date.parse(inc.resolve_deadline) < Date.now() && inc.is_open);
  return h("li", {
    class: `queue-item colour-${inc.colour} ${selected === inc.id ? "selected" : ""}`,
    dataset: { id: inc.id, status: inc.status },
    onclick: () => select(inc.id),
  },
    h("div", { class: "q-title" }, h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", inc.title),
    h("div", { class: "q-meta" },
      h("span", { class: `status status-${inc.status}` }, t(`status.${inc.status}`)),
      inc.supervised ? h("span", { class: "flag" }, t("incident.supervised")) : null,
      h("span", { class: overdue ? "deadline overdue" : "deadline" }, deadlineText(inc.resolve_deadline)),
    ),
    h("div", { class: "q-meta muted" }, `${inc.jurisdiction_name || inc.jurisdiction_code} · ${fmtTime(inc.created_at)}`),
  );
}

function renderQueue() {
  const items = ordered();
  document.getElementById("queue").replaceChildren(...items.map(queueItem));
  document.getElementById("queue-empty").classList.toggle("hidden", items.length > 0);
}

async function select(id) {
  selected = id;
  location.hash = String(id);
  renderQueue();
  await renderDetail();
}

async function renderDetail() {
  const pane = document.getElementById("detail");
  if (!selected) return;
  let inc, timeline;
  try {
    [inc, timeline] = await Promise.all([api(`/api/incidents/${selected}`), api(`/api/incidents/${selected}/timeline`)]);
  } catch (e) {
    pane.replaceChildren(h("p", { class: "error" }, t("common.error", { msg: e.message })));
    return;
  }
  incidents.set(inc.id, { ...incidents.get(inc.id), ...inc });
  liveHandle?.close?.(); liveHandle = null;
  const media = h("div", { class: "media-row" }, snapshotWithBoxes(inc, { className: "snap detail-snap" }));
  if (inc.has_clip) media.append(h("video", { src: `/api/incidents/${inc.id}/clip`, controls: true, class: "clip", preload: "metadata" }));
  const actions = h("div", { class: "actions", id: "actions" });
  if (!inc.allowed_actions.length) actions.append(h("p", { class: "muted" }, t("incident.no_actions")));
  for (const action of inc.allowed_actions) {
    actions.append(h("button", { class: "secondary", dataset: { action }, onclick: async (ev) => {
      actions.querySelector(".action-form")?.remove();
      const form = await actionForm(inc, action, (updated, err) => {
        if (err) { toast(t("action.failed", { msg: typeof err.detail === "object" ? err.detail.reason : err.message }), "error"); return; }
        toast(t("action.done"), "ok");
        incidents.set(updated.id, { ...incidents.get(updated.id), ...updated });
        renderQueue(); renderDetail();
      });
      ev.target.after(form);
      if (!form.querySelector("input,select,textarea")) form.requestSubmit();
    } }, t(`action.${action}`)));
  }
  const liveBox = h("div", { class: "live-box" });
  if (inc.camera_id) {
    // started on demand: the desk is for handling, the wall is for watching
    const video = h("video", { autoplay: true, muted: true, playsinline: true, class: "live-video" });
    const state = h("span", { class: "muted live-state" }, "");
    liveBox.append(h("details", { ontoggle: (ev) => {
      if (!ev.target.open) { liveHandle?.close?.(); liveHandle = null; return; }
      playLive(video, inc.camera_id, session.token, (s, detail) => { state.textContent = s === "unavailable" ? t("wall.no_live") : liveStateText(s); state.title = detail || ""; })
        .then((handle) => { liveHandle = handle; });
    } }, h("summary", {}, t("incident.live")), video, state));
  }
  pane.replaceChildren(
    h("header", { class: "detail-head" },
      h("h2", {}, h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", inc.title),
      h("div", { class: "muted" }, `#${inc.id} · ${t(`source.${inc.source}`)} · ${inc.category || ""}`)),
    h("dl", { class: "facts" },
      h("dt", {}, t("incident.status")), h("dd", { id: "detail-status" }, t(`status.${inc.status}`)),
      h("dt", {}, t("incident.camera")), h("dd", {}, inc.camera_name || inc.camera_id || "-"),
      h("dt", {}, t("incident.jurisdiction")), h("dd", {}, inc.jurisdiction_name || inc.jurisdiction_code),
      h("dt", {}, t("incident.time")), h("dd", {}, fmtTime(inc.created_at)),
      h("dt", {}, t("incident.deadline")), h("dd", {}, deadlineText(inc.resolve_deadline)),
      h("dt", {}, t("incident.assignments")), h("dd", {}, (inc.assignments || []).map((a) => `${a.responder_name || a.department || "-"}（${t(`assignment.${a.status}`)}）`).join("，") || "-"),
    ),
    media,
    h("h3", {}, t("incident.actions")), actions,
    liveBox,
    h("h3", {}, t("incident.timeline")),
    h("ol", { class: "timeline" }, timeline.items.map((e) => h("li", {},
      h("span", { class: "muted" }, fmtTime(e.at)), " ", e.actor === "system" ? t("actor.system") : e.actor, " · ", t(`action.${e.action}`) === `action.${e.action}` ? e.action : t(`action.${e.action}`),
      e.to_status ? ` → ${t(`status.${e.to_status}`)}` : "",
      e.detail?.reason || e.detail?.result || e.detail?.note ? h("div", { class: "muted" }, e.detail.reason || e.detail.result || e.detail.note) : null))),
  );
}

// 受理登记: a call or report taken at the desk becomes an incident (command merges duplicates).
async function setupIntake() {
  const form = document.getElementById("report-form");
  document.getElementById("new-report").addEventListener("click", async () => {
    form.classList.toggle("hidden");
    if (form.dataset.loaded) return;
    const [cats, places] = await Promise.all([api("/api/categories"), api("/api/jurisdictions?max_level=village")]);
    document.getElementById("report-category").replaceChildren(h("option", { value: "" }, t("intake.no_category")),
      ...cats.items.map((c) => h("option", { value: c.code }, c.name)));
    document.getElementById("report-jurisdiction").replaceChildren(...places.items.map((j) => h("option", { value: j.code }, `${j.name}（${j.code}）`)));
    form.dataset.loaded = "1";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const el of form.elements) if (el.name && el.value.trim()) body[el.name] = el.value.trim();
    try {
      const r = await api("/api/intake/reports", { method: "POST", body });
      toast(t(r.duplicate ? "intake.duplicate" : "intake.created", { id: r.incident.id }), "ok");
      incidents.set(r.incident.id, { ...incidents.get(r.incident.id), ...r.incident });
      form.reset(); form.classList.add("hidden");
      select(r.incident.id);
    } catch (e) {
      toast(t("action.failed", { msg: typeof e.detail === "object" ? `${e.detail.field || ""} ${e.detail.message || e.detail.reason || ""}` : e.message }), "error");
    }
  });
  document.getElementById("import-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    const data = new FormData(); data.append("file", file);
    const format = file.name.toLowerCase().endsWith(".json") ? "json" : "csv";
    try {
      const r = await api(`/api/intake/import?format=${format}`, { method: "POST", form: data });
      toast(t("intake.imported", { created: r.created, merged: r.merged, duplicates: r.duplicates, problems: r.problems.length }), r.problems.length ? "error" : "ok");
      for (const p of r.problems.slice(0, 5)) toast(`line ${p.line}: ${p.field}: ${p.message}`, "error");
    } catch (e) { toast(t("action.failed", { msg: e.message }), "error"); }
    ev.target.value = "";
  });
}

function onEvent(msg) {
  if (!msg.type.startsWith("incident.") || msg.payload?.id === undefined) return;
  incidents.set(msg.payload.id, { ...incidents.get(msg.payload.id), ...msg.payload });
  renderQueue();
  if (msg.type === "incident.created") document.querySelector(`.queue-item[data-id="${msg.payload.id}"]`)?.classList.add("flash");
  if (msg.payload.id === selected) renderDetail();
}

await loadI18n();
document.title = t("nav.desk");
if (await requireLogin()) {
  renderNav("/desk");
  new LiveEvents(onEvent, setConnState).start();
  // every open case (most urgent first), plus the latest ones for context
  const [queue, recent] = await Promise.all([api("/api/incidents/queue"), api("/api/incidents?limit=200")]);
  for (const inc of [...recent.items, ...queue.items]) incidents.set(inc.id, { ...inc, ...incidents.get(inc.id) });
  renderQueue();
  document.getElementById("open-only").addEventListener("change", renderQueue);
  document.getElementById("colour-filter").addEventListener("change", renderQueue);
  const fromHash = () => { const id = Number(location.hash.slice(1)); if (id && id !== selected) select(id); };
  window.addEventListener("hashchange", fromHash);
  fromHash();
  setInterval(renderQueue, 30000); // deadlines count down
  setupIntake();
}
