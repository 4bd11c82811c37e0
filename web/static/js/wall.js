// 视频墙: 1/4/9/16 layouts, cameras assigned to tiles, tours (轮巡), PTZ, and alarms handled like a
// VMS: an alarm never tears down a playing tile. A tile's WebRTC session lives in a LiveVideo component
// keyed by camera and stream, so only a new camera (the operator's choice, a tour step, an alarm
// placed into a free tile) restarts it; an alarm on a camera already shown adds a badge and a frame.
// One pop (tone + list row) per incident; re-alerts raise its badge count. A camera the operator put
// in a tile is pinned: alarms and tours never replace it.
import { api, beep, fmtTime, LiveEvents, loadI18n, renderNav, requireLogin, session, setConnState, t, toast, Vue } from "./common.js";
import { LiveVideo, liveStateText, SnapshotBoxes } from "./incident-view.js";

const { h, reactive, computed, createApp } = Vue;

const LAYOUTS = [1, 4, 9, 16];
const STORE_KEY = "xl.wall";
const REPEAT_TONE_MS = 10000;

const wall = reactive({
  cameras: [], layout: 4, selectedTile: 0,
  tiles: [],                // [{cameraId, pinned, live: state}]
  alarms: {},               // incident id -> {id, title, camera_id, count, last_at, confirmed, inc}
  tour: { on: false, mode: "all", seconds: 20, index: 0 },
  sound: true,
});
const byId = computed(() => new Map(wall.cameras.map((c) => [c.id, c])));

function saveState() {
  localStorage.setItem(STORE_KEY, JSON.stringify({ layout: wall.layout, assigned: wall.tiles.map((x) => (x.pinned ? x.cameraId : null)) }));
}
function loadState() { try { return JSON.parse(localStorage.getItem(STORE_KEY) || "null"); } catch { return null; } }

function setLayout(n) {
  wall.layout = n;
  while (wall.tiles.length < n) wall.tiles.push({ cameraId: null, pinned: false, live: "" });
  wall.tiles.splice(n);
  wall.selectedTile = Math.min(wall.selectedTile, n - 1);
  saveState();
}

function assign(cameraId, index = wall.selectedTile) {
  Object.assign(wall.tiles[index], { cameraId, pinned: Boolean(cameraId), live: "" });
  wall.selectedTile = Math.min(index + 1, wall.layout - 1);
  saveState();
}

// --- tours --------------------------------------------------------------------------------
function tourPages(mode) {
  const groups = new Map();
  for (const c of wall.cameras) {
    const keys = mode === "township" ? [c.jurisdiction.slice(0, 9)] : mode === "tag" ? (c.tags?.length ? c.tags : ["-"]) : ["all"];
    for (const k of keys) { if (!groups.has(k)) groups.set(k, []); groups.get(k).push(c); }
  }
  const free = wall.tiles.filter((x) => !x.pinned).length || wall.layout;
  const pages = [];
  for (const group of groups.values()) for (let i = 0; i < group.length; i += free) pages.push(group.slice(i, i + free));
  return pages.length ? pages : [[]];
}

let tourTimer = null;
// A tour step fills the unpinned tiles with the next page; pinned tiles keep their camera.
function tourStep() {
  const pages = tourPages(wall.tour.mode);
  const page = pages[wall.tour.index % pages.length];
  let k = 0;
  wall.tiles.forEach((tile) => {
    if (tile.pinned) return;
    const next = page[k++]?.id || null;
    if (tile.cameraId !== next) Object.assign(tile, { cameraId: next, live: "" });
  });
  document.body.dataset.tour = String(wall.tour.index % pages.length);
  document.body.dataset.tourSteps = String(Number(document.body.dataset.tourSteps || 0) + 1);
  wall.tour.index += 1;
}
function toggleTour() {
  if (wall.tour.on) { clearInterval(tourTimer); tourTimer = null; wall.tour.on = false; document.body.dataset.tour = ""; return; }
  wall.tour.on = true; wall.tour.index = 0;
  tourStep();
  tourTimer = setInterval(tourStep, Math.max(5, Number(wall.tour.seconds) || 20) * 1000);
}

// --- alarms -------------------------------------------------------------------------------
// Place an alarmed camera: a tile already showing it (badge only), else an empty tile, else a tile
// that is neither pinned nor showing another unconfirmed alarm. Otherwise it stays in the alarm list.
function placeAlarm(cameraId) {
  if (!byId.value.has(cameraId)) return;
  if (wall.tiles.some((x) => x.cameraId === cameraId)) return;
  const alarmed = new Set(Object.values(wall.alarms).filter((a) => !a.confirmed).map((a) => a.camera_id));
  let index = wall.tiles.findIndex((x) => !x.cameraId);
  if (index < 0) index = wall.tiles.findIndex((x) => !x.pinned && !alarmed.has(x.cameraId));
  if (index < 0) return;
  Object.assign(wall.tiles[index], { cameraId, pinned: false, live: "" });
}

// An incident is alarming while alerts keep merging into it: its last alert is this recent.
const ALARMING_S = 120;

function isAlarming(inc, nowMs) {
  if (!inc || !inc.camera_id || inc.is_open === false || !inc.last_source_at) return false;
  return nowMs - Date.parse(inc.last_source_at) <= ALARMING_S * 1000;
}

function raiseAlarm(inc) {
  wall.alarms[inc.id] = { id: inc.id, title: inc.title, camera_id: inc.camera_id, count: inc.source_count || 1,
    last_at: inc.last_source_at || inc.created_at, confirmed: false, inc, at: Date.now() };
  placeAlarm(inc.camera_id);
  document.body.dataset.lastAlarm = String(inc.id);
  document.body.dataset.pops = String(Number(document.body.dataset.pops || 0) + 1);
  if (wall.sound) beep();
}

function onEvent(msg) {
  const inc = msg.payload;
  if (!inc || !msg.type.startsWith("incident.") || !inc.camera_id) return;
  const known = wall.alarms[inc.id];
  if (known) {
    // a re-alert (or a state change): update the row and the badge, never re-pop
    known.count = inc.source_count || known.count;
    known.last_at = inc.last_source_at || inc.updated_at || known.last_at;
    known.inc = inc;
    if (inc.is_open === false) known.confirmed = true;
    document.body.dataset.realerts = String(Number(document.body.dataset.realerts || 0) + 1);
    return;
  }
  // New incidents pop; so does an incident opened before this wall was, once an alert merges
  // into it (a state change of an old incident does not: its last alert is not recent).
  const server = Date.parse(inc.updated_at || "") || Date.now();
  if (msg.type === "incident.created" ? inc.is_open !== false : isAlarming(inc, server)) raiseAlarm(inc);
}

// A wall opened mid-shift shows what is alarming now, not only what starts alarming later.
async function loadAlarming() {
  const { items } = await api("/api/incidents?open_only=true&limit=200");
  const now = Date.now();
  for (const inc of items.slice().reverse()) {
    if (!wall.alarms[inc.id] && isAlarming(inc, now)) raiseAlarm(inc);
  }
}

setInterval(() => {
  if (wall.sound && Object.values(wall.alarms).some((a) => !a.confirmed)) beep([880, 660]);
}, REPEAT_TONE_MS);

function confirmAlarm(a) { a.confirmed = true; }

function alarmsForCamera(cameraId) {
  return Object.values(wall.alarms).filter((a) => a.camera_id === cameraId && !a.confirmed);
}

// --- components ---------------------------------------------------------------------------
const PtzControls = {
  name: "PtzControls",
  props: { cameraId: String },
  setup(props) {
    const send = async (body) => {
      try { await api(`/api/cameras/${props.cameraId}/ptz`, { method: "POST", body }); }
      catch (e) { toast(t("ptz.unavailable", { msg: e.message }), "error"); }
    };
    const dir = (key, pan, tilt, zoom) => h("button", {
      class: "ptz-btn", title: t(key), "data-ptz": key,
      onPointerdown: () => send({ action: "move", pan, tilt, zoom, timeout_s: 2 }),
      onPointerup: () => send({ action: "stop" }),
    }, t(key));
    return () => h("div", { class: "ptz" }, [
      dir("ptz.up", 0, 0.5, 0), dir("ptz.left", -0.5, 0, 0), dir("ptz.right", 0.5, 0, 0), dir("ptz.down", 0, -0.5, 0),
      dir("ptz.zoom_in", 0, 0, 0.5), dir("ptz.zoom_out", 0, 0, -0.5)]);
  },
};

const Tile = {
  name: "Tile",
  props: { index: Number },
  setup(props) {
    return () => {
      const tile = wall.tiles[props.index];
      const cam = tile.cameraId ? byId.value.get(tile.cameraId) : null;
      const alarms = cam ? alarmsForCamera(cam.id) : [];
      const latest = alarms[alarms.length - 1];
      const count = alarms.reduce((n, a) => n + (a.count || 1), 0);
      return h("div", {
        class: ["tile", { alarm: alarms.length > 0, selected: props.index === wall.selectedTile, pinned: tile.pinned }],
        "data-index": props.index, "data-camera": tile.cameraId || "", "data-live": tile.live || "",
        "data-alarms": alarms.length, onClick: () => { wall.selectedTile = props.index; },
      }, cam ? [
        h("div", { class: "tile-media" }, [
          h(LiveVideo, { key: `${cam.id}:${wall.layout >= 9 ? "sub" : "main"}`, cameraId: cam.id, token: session.token,
            stream: wall.layout >= 9 ? "sub" : "main", onState: (s) => { tile.live = s; } }),
          latest ? h("div", { class: "alarm-pip", title: latest.title, onClick: (ev) => { ev.stopPropagation(); location.href = `/desk#${latest.id}`; } }, [
            h(SnapshotBoxes, { key: latest.id, src: `/api/incidents/${latest.id}/snapshot`, boxes: latest.inc.boxes, frameWidth: latest.inc.frame_width, frameHeight: latest.inc.frame_height }),
            h("div", { class: "alarm-title" }, latest.title)]) : null,
        ]),
        alarms.length ? h("span", { class: "tile-badge", title: t("wall.alarm"), onClick: (ev) => { ev.stopPropagation(); alarms.forEach(confirmAlarm); } }, `⚠ ${count}`) : null,
        h("div", { class: "tile-bar" }, [
          h("span", { class: "tile-name" }, cam.name),
          h("span", { class: "tile-state", title: tile.live === "unavailable" ? t("wall.no_live") : tile.live ? liveStateText(tile.live) : "" }, tile.live === "playing" ? "" : tile.live === "unavailable" ? t("wall.no_live") : tile.live ? liveStateText(tile.live) : t("live.connecting")),
          h("button", { class: "link", title: t("wall.close_tile"), onClick: (ev) => { ev.stopPropagation(); Object.assign(tile, { cameraId: null, pinned: false, live: "" }); saveState(); } }, "×"),
        ]),
        cam.ptz ? h(PtzControls, { cameraId: cam.id }) : null,
      ] : [h("div", { class: "tile-empty" }, t("wall.empty_tile"))]);
    };
  },
};

const AlarmList = {
  name: "AlarmList",
  setup() {
    const rows = computed(() => Object.values(wall.alarms).sort((a, b) => Number(a.confirmed) - Number(b.confirmed) || b.at - a.at).slice(0, 50));
    return () => h("section", { class: "alarm-pane" }, [
      h("h2", {}, [t("wall.alarms"), " ", h("span", { class: "muted small", id: "alarm-unconfirmed" }, t("wall.unconfirmed", { n: rows.value.filter((a) => !a.confirmed).length }))]),
      h("label", { class: "inline small" }, [h("input", { type: "checkbox", id: "alarm-sound", checked: wall.sound, onChange: (e) => { wall.sound = e.target.checked; } }), t("wall.sound")]),
      h("ul", { class: "alarm-list", id: "alarm-list" }, rows.value.map((a) => h("li", { key: a.id, class: ["alarm-row", { confirmed: a.confirmed }], "data-incident": a.id, "data-count": a.count }, [
        h("div", {}, [h("strong", {}, a.title), h("span", { class: "count-badge" }, `×${a.count}`)]),
        h("div", { class: "muted small" }, `${byId.value.get(a.camera_id)?.name || a.camera_id} · ${fmtTime(a.last_at)}`),
        h("div", { class: "alarm-actions" }, [
          a.confirmed ? h("span", { class: "muted small" }, t("wall.confirmed")) : h("button", { class: "secondary confirm-alarm", onClick: () => confirmAlarm(a) }, t("wall.confirm")),
          h("button", { class: "link", onClick: () => assign(a.camera_id) }, t("wall.show_in_tile")),
          h("a", { href: `/desk#${a.id}` }, t("wall.to_desk")),
        ]),
      ]))),
    ]);
  },
};

const WallApp = {
  name: "WallApp",
  setup() {
    return () => {
      const n = Math.sqrt(wall.layout);
      return h("main", { class: "wall-main" }, [
        h("aside", { class: "wall-side" }, [
          h("div", { class: "wall-tools" }, [h("span", {}, t("wall.layout")),
            h("span", { id: "layouts", class: "seg" }, LAYOUTS.map((k) => h("button", { class: ["secondary", { active: k === wall.layout }], "data-n": k, onClick: () => setLayout(k) }, String(k))))]),
          h("div", { class: "wall-tools" }, [
            h("span", {}, t("wall.tour")),
            h("select", { id: "tour-groups", "aria-label": t("wall.tour_groups"), value: wall.tour.mode, onChange: (e) => { wall.tour.mode = e.target.value; } },
              ["all", "township", "tag"].map((m) => h("option", { value: m }, t(`wall.groups_${m}`)))),
            h("label", { class: "inline" }, [t("wall.tour_interval"), h("input", { id: "tour-interval", type: "number", min: 5, max: 600, class: "num", value: wall.tour.seconds, onInput: (e) => { wall.tour.seconds = e.target.value; } })]),
            h("button", { id: "tour-toggle", class: "secondary", onClick: toggleTour }, wall.tour.on ? t("wall.tour_stop") : t("wall.tour_start")),
          ]),
          h(AlarmList),
          h("h2", {}, t("wall.cameras")),
          h("p", { class: "muted small" }, t("wall.assign_hint")),
          h("ul", { id: "camera-list", class: "camera-list" }, wall.cameras.map((c) => h("li", { key: c.id, "data-camera": c.id, onClick: () => assign(c.id) },
            [h("span", { class: `kind kind-${c.kind}` }, t(`kind.${c.kind}`)), " ", c.name]))),
        ]),
        h("section", { id: "wall", class: "wall", "aria-label": t("nav.wall"), style: { gridTemplateColumns: `repeat(${n}, 1fr)`, gridTemplateRows: `repeat(${n}, 1fr)` } },
          wall.tiles.map((_, i) => h(Tile, { key: i, index: i }))),
      ]);
    };
  },
};

await loadI18n();
document.title = t("nav.wall");
if (await requireLogin()) {
  renderNav("/wall");
  wall.cameras = (await api("/api/cameras")).items;
  const saved = loadState();
  if (saved && LAYOUTS.includes(saved.layout)) {
    wall.layout = saved.layout;
    wall.tiles = Array.from({ length: saved.layout }, (_, i) => {
      const id = saved.assigned?.[i];
      return { cameraId: byId.value.has(id) ? id : null, pinned: byId.value.has(id), live: "" };
    });
  } else {
    wall.tiles = Array.from({ length: wall.layout }, (_, i) => ({ cameraId: wall.cameras[i]?.id || null, pinned: false, live: "" }));
  }
  createApp(WallApp).mount("#wall-app");
  new LiveEvents(onEvent, setConnState).start();
  try { await loadAlarming(); } catch (e) { toast(t("wall.alarms_load_failed"), "error"); }
  document.body.dataset.ready = "1";
}
