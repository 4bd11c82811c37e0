// 移动处置 (phones, 390×844): a responder's tasks (address, navigation, tap-to-call, SLA, 接单 / 退回 /
// 到达 / 办结 with note and photo), the history, and a grid worker's own report (text, photos, position).
// Vue: each task card keeps its own form state; a push patches the card's facts and leaves the
// typed note and the chosen photo (the same <input type=file> element) alone.
import { api, beep, errorText, fmtTime, LiveEvents, loadI18n, requireLogin, session, setConnState, t, toast, Vue } from "./common.js";
import { LiveVideo, liveStateText, SnapshotBoxes, slaCountdowns } from "./incident-view.js";

const { h, reactive, ref, computed, createApp } = Vue;

const ACTIVE = ["dispatched", "acknowledged", "on_scene"];
const app = reactive({ tasks: {}, history: [], tab: "tasks", banner: "", details: {} });
const me = () => session.user?.responder_id;

function mine(inc) { return (inc.assigned_responder_ids || []).includes(me()); }

function alertNewTask(inc) {
  beep();
  if (navigator.vibrate) navigator.vibrate([300, 120, 300, 120, 600]);
  app.banner = `${t("responder.new_task")} ${inc.title}`;
  document.body.dataset.lastPush = String(inc.id);
  setTimeout(() => { app.banner = ""; }, 8000);
}

// Address, reporter phone and position come with the incident's detail (its sources); fetched once per task.
async function loadDetail(id) {
  if (app.details[id]) return;
  app.details[id] = {};
  try { app.details[id] = await api(`/api/incidents/${id}`); } catch { /* the card shows what the push carried */ }
}

function reporterPhone(inc, detail) {
  return inc.reporter_phone || detail?.reporter_phone || (detail?.sources || []).map((s) => s.reporter_phone || s.detail?.reporter_phone).find(Boolean) || "";
}

function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition((p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }), () => resolve(null), { timeout: 3000, maximumAge: 30000 });
  });
}

const TaskCard = {
  name: "TaskCard",
  props: { inc: Object },
  setup(props) {
    const form = reactive({ note: "", reason: "", rejecting: false, busy: false, live: false, liveState: "" });
    const photo = ref(null);
    loadDetail(props.inc.id);
    const act = async (action, body = {}) => {
      if (form.busy) return false;
      form.busy = true;
      try {
        const seen = props.inc.version === undefined ? {} : { version: props.inc.version };
        const updated = await api(`/api/incidents/${props.inc.id}/${action}`, { method: "POST", body: { ...body, ...seen } });
        Object.assign(app.tasks[updated.id], updated);
        toast(t("action.done"), "ok");
        return true;
      } catch (e) { toast(errorText(e), "error"); return false; }
      finally { form.busy = false; }
    };
    const arrive = async () => { const p = await position(); act("arrive", p || {}); };
    const resolve = async () => {
      if (!form.note.trim()) { toast(t("responder.note_needed"), "error"); return; }
      const file = photo.value?.files?.[0];
      if (file) {
        const data = new FormData(); data.append("photo", file); data.append("note", form.note.trim());
        try { await api(`/api/incidents/${props.inc.id}/photos`, { method: "POST", form: data }); } catch (e) { toast(errorText(e), "error"); return; }
      }
      if (await act("resolve", { result: form.note.trim() })) loadHistory();
    };
    const reject = async () => {
      if (!form.reason.trim()) { toast(t("responder.reason_needed"), "error"); return; }
      if (await act("reject", { reason: form.reason.trim() })) { form.rejecting = false; loadHistory(); }
    };
    return () => {
      const inc = props.inc;
      const detail = app.details[inc.id] || {};
      const task = inc.task || {};
      const lat = inc.lat ?? detail.lat; const lon = inc.lon ?? detail.lon;
      const phone = task.reporter_phone || reporterPhone(inc, detail);
      const address = task.address || inc.address || detail.address || inc.jurisdiction_name || inc.jurisdiction_code;
      const status = inc.status;
      return h("article", { class: `task colour-${inc.colour}`, "data-id": inc.id, "data-status": status }, [
        h("h3", {}, [h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", inc.title]),
        h("dl", { class: "task-facts" }, [
          h("dt", {}, t("incident.status")), h("dd", {}, h("strong", { class: "task-status" }, t(`status.${status}`))),
          h("dt", {}, t("incident.address")), h("dd", { class: "task-address" }, address),
          h("dt", {}, t("incident.time")), h("dd", {}, fmtTime(inc.created_at)),
          h("dt", {}, t("responder.deadline")), h("dd", { class: "task-sla" }, slaCountdowns(inc)),
        ]),
        h("div", { class: "task-links" }, [
          // geo: opens the phone's map app; without coordinates it searches the address
          task.nav_url ? h("a", { class: "nav-link", href: task.nav_url }, t("responder.navigate"))
            : lat != null && lon != null ? h("a", { class: "nav-link", href: `geo:${lat},${lon}?q=${lat},${lon}(${encodeURIComponent(inc.title)})` }, t("responder.navigate"))
            : address ? h("a", { class: "nav-link", href: `geo:0,0?q=${encodeURIComponent(address)}` }, t("responder.navigate")) : null,
          phone ? h("a", { class: "call-link", href: `tel:${phone}` }, t("responder.call", { phone })) : null,
        ]),
        inc.snapshot_url ? h(SnapshotBoxes, { src: inc.snapshot_url, boxes: inc.boxes, frameWidth: inc.frame_width, frameHeight: inc.frame_height }) : null,
        inc.camera_id ? h("details", { open: form.live, onToggle: (e) => { form.live = e.target.open; } }, [
          h("summary", {}, [t("incident.live"), " ", h("span", { class: "muted" }, form.liveState)]),
          form.live ? h(LiveVideo, { cameraId: inc.camera_id, token: session.token, stream: "sub", onState: (s) => { form.liveState = s === "playing" ? "" : liveStateText(s); } }) : null,
        ]) : null,
        h("div", { class: "phone-actions" }, [
          status === "dispatched" ? h("button", { class: "big", "data-action": "acknowledge", disabled: form.busy, onClick: () => act("acknowledge") }, t("responder.accept")) : null,
          status === "acknowledged" ? h("button", { class: "big", "data-action": "arrive", disabled: form.busy, onClick: arrive }, t("responder.arrived")) : null,
          // kept in the DOM (hidden, not removed) while the status moves on, so nothing typed is lost
          h("div", { class: "resolve-box", hidden: !(status === "acknowledged" || status === "on_scene") }, [
            h("label", {}, [t("responder.note"), h("textarea", { rows: 3, name: "note", value: form.note, placeholder: t("responder.note"), onInput: (e) => { form.note = e.target.value; } })]),
            h("label", {}, [t("responder.photo"), h("input", { ref: photo, type: "file", name: "photo", accept: "image/*", capture: "environment" })]),
            h("button", { class: "big", "data-action": "resolve", disabled: form.busy, onClick: resolve }, t("responder.resolved")),
          ]),
          ["dispatched", "acknowledged"].includes(status) ? h("button", { class: "secondary", "data-action": "reject", onClick: () => { form.rejecting = !form.rejecting; } }, t("responder.reject")) : null,
          form.rejecting ? h("div", { class: "reject-box" }, [
            h("textarea", { rows: 2, name: "reason", value: form.reason, placeholder: t("responder.reject_reason"), onInput: (e) => { form.reason = e.target.value; } }),
            h("button", { class: "big secondary", "data-action": "reject-submit", disabled: form.busy, onClick: reject }, t("responder.reject_submit")),
          ]) : null,
        ]),
      ]);
    };
  },
};

// 网格员上报: what the grid worker finds on the rounds becomes an incident in their grid.
const ReportForm = {
  name: "ReportForm",
  setup() {
    const form = reactive({ title: "", description: "", address: "", busy: false, pos: null, posText: "" });
    const photos = ref(null);
    const locate = async () => {
      form.posText = t("responder.locating");
      const p = await position();
      form.pos = p; form.posText = p ? `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}` : t("responder.no_position");
    };
    locate();
    const submit = async (ev) => {
      ev.preventDefault();
      if (form.busy) return;
      if (!form.title.trim()) { toast(t("responder.title_needed"), "error"); return; }
      form.busy = true;
      const report = { source: "grid", title: form.title.trim(), description: form.description.trim(), jurisdiction_code: session.user.jurisdiction_code };
      if (form.address.trim()) report.address = form.address.trim();
      if (form.pos) { report.lat = form.pos.lat; report.lon = form.pos.lon; }
      const data = new FormData();
      data.append("report", JSON.stringify(report));
      for (const f of photos.value?.files || []) data.append("photos", f);
      try {
        const r = await api("/api/intake/reports/with-photos", { method: "POST", form: data });
        toast(t(r.duplicate ? "intake.duplicate" : "intake.created", { id: r.incident.id }), "ok");
        document.body.dataset.lastReport = String(r.incident.id);
        form.title = ""; form.description = ""; form.address = "";
        if (photos.value) photos.value.value = "";
      } catch (e) {
        toast(errorText(e), "error");
      } finally { form.busy = false; }
    };
    return () => h("form", { class: "card report-form phone-report", id: "grid-report", onSubmit: submit }, [
      h("label", {}, [t("intake.title"), h("input", { name: "title", required: true, maxlength: 256, value: form.title, onInput: (e) => { form.title = e.target.value; } })]),
      h("label", {}, [t("intake.description"), h("textarea", { name: "description", rows: 3, maxlength: 10000, value: form.description, onInput: (e) => { form.description = e.target.value; } })]),
      h("label", {}, [t("intake.address"), h("input", { name: "address", maxlength: 256, value: form.address, onInput: (e) => { form.address = e.target.value; } })]),
      h("label", {}, [t("responder.photos"), h("input", { ref: photos, type: "file", name: "photos", accept: "image/*", multiple: true, capture: "environment" })]),
      h("div", { class: "muted small" }, [t("responder.position"), "：", h("span", { id: "report-position" }, form.posText), " ", h("button", { type: "button", class: "link", onClick: locate }, t("common.refresh"))]),
      h("button", { type: "submit", class: "big", disabled: form.busy }, t("responder.report_submit")),
    ]);
  },
};

// The unit's assignments, newest first: finished, handed back (退回, with the reason), expired.
async function loadHistory() {
  try { app.history = (await api("/api/me/history?limit=50")).items; } catch { /* shown empty */ }
}

const PhoneApp = {
  name: "PhoneApp",
  setup() {
    const active = computed(() => Object.values(app.tasks).filter((i) => ACTIVE.includes(i.status) && mine(i)).sort((a, b) => b.id - a.id));
    const tab = (name, label) => h("button", { class: app.tab === name ? "active" : "secondary", "data-tab": name, onClick: () => { app.tab = name; if (name === "history") loadHistory(); } }, label);
    return () => h("div", {}, [
      h("header", { class: "phone-head" }, [
        h("h1", {}, t("responder.title")),
        h("span", { id: "conn-state", class: "conn" }),
        h("button", { id: "sound-on", class: "secondary", onClick: (e) => { beep(); e.target.hidden = true; } }, t("responder.enable_sound")),
      ]),
      app.banner ? h("div", { id: "new-task-banner", class: "banner", role: "alert" }, app.banner) : null,
      h("main", {}, [
        h("nav", { class: "phone-tabs" }, [tab("tasks", t("responder.tasks")), tab("report", t("responder.report")), tab("history", t("responder.history"))]),
        h("section", { hidden: app.tab !== "tasks" }, [
          active.value.length ? null : h("p", { id: "no-tasks", class: "muted" }, t("responder.no_tasks")),
          h("section", { id: "tasks" }, active.value.map((inc) => h(TaskCard, { key: inc.id, inc }))),
        ]),
        h("section", { hidden: app.tab !== "report" }, h(ReportForm)),
        h("section", { hidden: app.tab !== "history", id: "history" }, app.history.length
          ? app.history.map((i) => h("div", { key: i.assignment_id, class: "history-item", "data-id": i.incident_id, "data-assignment": i.status }, [
            h("strong", {}, i.title), " · ", i.status_label || t(`assignment.${i.status}`),
            i.note ? h("div", { class: "small" }, i.note) : null,
            h("div", { class: "muted small" }, fmtTime(i.finished_at || i.acknowledged_at || i.assigned_at || i.created_at))]))
          : h("p", { class: "muted" }, t("responder.no_history"))),
      ]),
    ]);
  },
};

function onEvent(msg) {
  if (!msg.type.startsWith("incident.") || !msg.payload) return;
  const inc = msg.payload;
  const known = app.tasks[inc.id];
  const assigned = mine(inc);
  if (!assigned && !known) return;
  if (assigned && (!known || !mine(known)) && inc.status === "dispatched") alertNewTask(inc);
  if (known) Object.assign(known, inc); else { app.tasks[inc.id] = { ...inc }; loadTask(inc.id); }
}

// A task pushed to the phone: its assignment block (address, caller, navigation, deadline) comes with /api/me/tasks.
async function loadTask(id) {
  try {
    const found = (await api("/api/me/tasks")).items.find((i) => i.id === id);
    if (found?.task && app.tasks[id]) app.tasks[id].task = found.task;
  } catch { /* the card shows what the push carried */ }
}

// While the page is open the phone reports its position (at most every 30 s) so dispatch can
// recommend the nearest responder and the map shows where everyone is.
function reportPosition() {
  if (!navigator.geolocation || !me()) return;
  let last = 0;
  navigator.geolocation.watchPosition((p) => {
    if (Date.now() - last < 30000) return;
    last = Date.now();
    api(`/api/responders/${me()}/position`, { method: "POST", body: { lat: p.coords.latitude, lon: p.coords.longitude } }).catch(() => {});
  }, () => {}, { enableHighAccuracy: true, maximumAge: 15000 });
}

await loadI18n();
document.title = t("responder.title");
if (await requireLogin()) {
  createApp(PhoneApp).mount("#phone-app");
  new LiveEvents(onEvent, setConnState).start();
  for (const inc of (await api("/api/me/tasks")).items) app.tasks[inc.id] = inc;
  reportPosition();
  document.body.dataset.ready = "1";
}
