// 移动处置 (phones): tasks pushed to this responder, with sound and vibration, and
// accept / arrived / resolved (note + photo) buttons; live video of the incident's camera.
import { api, fmtTime, h, LiveEvents, loadI18n, requireLogin, session, setConnState, t, toast } from "./common.js";
import { liveStateText, playLive, snapshotWithBoxes } from "./incident-view.js";

const tasks = new Map();
let audio = null;

function beep() {
  // A short two-tone alert synthesised on the device: no audio file, no network.
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [[0, 880], [1, 660], [2, 880]]) {
      const osc = audio.createOscillator(); const gain = audio.createGain();
      osc.frequency.value = freq; gain.gain.value = 0.2;
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.25); osc.stop(now + i * 0.25 + 0.2);
    }
  } catch { /* no audio on this device */ }
}

function alertNewTask(inc) {
  beep();
  if (navigator.vibrate) navigator.vibrate([300, 120, 300, 120, 600]);
  const banner = document.getElementById("new-task-banner");
  banner.textContent = `${t("responder.new_task")} ${inc.title}`;
  banner.classList.remove("hidden");
  document.body.dataset.lastPush = String(inc.id);
  setTimeout(() => banner.classList.add("hidden"), 8000);
}

async function act(inc, action, body = {}) {
  try {
    const updated = await api(`/api/incidents/${inc.id}/${action}`, { method: "POST", body });
    tasks.set(updated.id, { ...tasks.get(updated.id), ...updated });
    toast(t("action.done"), "ok");
    render();
  } catch (e) {
    toast(t("action.failed", { msg: typeof e.detail === "object" ? e.detail.reason : e.message }), "error");
  }
}

function taskCard(inc) {
  const buttons = h("div", { class: "phone-actions" });
  if (inc.status === "dispatched") buttons.append(h("button", { class: "big", dataset: { action: "acknowledge" }, onclick: () => act(inc, "acknowledge") }, t("responder.accept")));
  if (inc.status === "acknowledged") buttons.append(h("button", { class: "big", dataset: { action: "arrive" }, onclick: () => arrive(inc) }, t("responder.arrived")));
  if (inc.status === "acknowledged" || inc.status === "on_scene") {
    const note = h("textarea", { rows: 3, name: "note", placeholder: t("responder.note") });
    const photo = h("input", { type: "file", name: "photo", accept: "image/*", capture: "environment" });
    buttons.append(h("label", {}, t("responder.note"), note), h("label", {}, t("responder.photo"), photo),
      h("button", { class: "big", dataset: { action: "resolve" }, onclick: async () => {
        if (!note.value.trim()) { note.focus(); return; }
        if (photo.files[0]) {
          const form = new FormData(); form.append("photo", photo.files[0]); form.append("note", note.value);
          try { await api(`/api/incidents/${inc.id}/photos`, { method: "POST", form }); } catch (e) { toast(e.message, "error"); return; }
        }
        act(inc, "resolve", { result: note.value.trim() });
      } }, t("responder.resolved")));
  }
  const video = h("video", { autoplay: true, muted: true, playsinline: true, class: "live-video" });
  const card = h("article", { class: `task colour-${inc.colour}`, dataset: { id: inc.id, status: inc.status } },
    h("h3", {}, h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", inc.title),
    h("div", { class: "muted" }, `${inc.jurisdiction_name || inc.jurisdiction_code} · ${fmtTime(inc.created_at)}`),
    h("div", {}, t("incident.status"), "：", h("strong", { class: "task-status" }, t(`status.${inc.status}`))),
    snapshotWithBoxes(inc),
    inc.camera_id ? h("details", { ontoggle: (ev) => { if (ev.target.open) playLive(video, inc.camera_id, session.token, (s) => { video.title = liveStateText(s); }); } },
      h("summary", {}, t("incident.live")), video) : null,
    buttons);
  return card;
}

function arrive(inc) {
  const send = (lat, lon) => act(inc, "arrive", lat === undefined ? {} : { lat, lon });
  if (!navigator.geolocation) return send();
  navigator.geolocation.getCurrentPosition((p) => send(p.coords.latitude, p.coords.longitude), () => send(), { timeout: 3000 });
}

// While the page is open the phone reports its position (at most every 30 s) so dispatch
// can recommend the nearest responder and the map shows where everyone is.
function reportPosition() {
  const me = session.user.responder_id;
  if (!navigator.geolocation || !me) return;
  let last = 0;
  navigator.geolocation.watchPosition((p) => {
    if (Date.now() - last < 30000) return;
    last = Date.now();
    api(`/api/responders/${me}/position`, { method: "POST", body: { lat: p.coords.latitude, lon: p.coords.longitude } }).catch(() => {});
  }, () => {}, { enableHighAccuracy: true, maximumAge: 15000 });
}

function render() {
  const me = session.user.responder_id;
  const mine = [...tasks.values()]
    .filter((i) => ["dispatched", "acknowledged", "on_scene"].includes(i.status) && (i.assigned_responder_ids || []).includes(me))
    .sort((a, b) => b.id - a.id);
  document.getElementById("tasks").replaceChildren(...mine.map(taskCard));
  document.getElementById("no-tasks").classList.toggle("hidden", mine.length > 0);
}

function onEvent(msg) {
  if (!msg.type.startsWith("incident.") || !msg.payload) return;
  const inc = msg.payload;
  const me = session.user.responder_id;
  const assigned = (inc.assigned_responder_ids || []).includes(me);
  const known = tasks.get(inc.id);
  if (!assigned && !known) return;
  if (assigned && (!known || !(known.assigned_responder_ids || []).includes(me)) && inc.status === "dispatched") alertNewTask(inc);
  tasks.set(inc.id, { ...known, ...inc });
  render();
}

await loadI18n();
document.title = t("responder.title");
if (await requireLogin()) {
  document.getElementById("sound-on").addEventListener("click", (ev) => { beep(); ev.target.classList.add("hidden"); });
  new LiveEvents(onEvent, setConnState).start();
  for (const inc of (await api("/api/me/tasks")).items) tasks.set(inc.id, inc);
  render();
  reportPosition();
}
