// 视频墙: 1/4/9/16 layouts, cameras assigned to tiles, tours (轮巡) rotating groups, alarm pop-up
// of the incident's camera with its boxes, and PTZ controls on PTZ cameras.
import { api, h, LiveEvents, loadI18n, renderNav, requireLogin, session, setConnState, t, toast } from "./common.js";
import { liveStateText, playLive, snapshotWithBoxes } from "./incident-view.js";

const LAYOUTS = [1, 4, 9, 16];
const STORE_KEY = "xl.wall";
let cameras = [];
let byId = new Map();
let layout = 4;
let tiles = [];            // [{cameraId, handle, alarm}]
let selectedTile = 0;
let tour = null;
let tourIndex = 0;

function saveState() {
  localStorage.setItem(STORE_KEY, JSON.stringify({ layout, assigned: tiles.map((x) => x.cameraId) }));
}

function loadState() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY) || "null"); } catch { return null; }
}

function ptzControls(cameraId) {
  const send = async (body) => {
    try { await api(`/api/cameras/${cameraId}/ptz`, { method: "POST", body }); }
    catch (e) { toast(t("ptz.unavailable", { msg: e.message }), "error"); }
  };
  const dir = (key, pan, tilt, zoom) => h("button", {
    class: "ptz-btn", title: t(key), dataset: { ptz: key },
    onpointerdown: () => send({ action: "move", pan, tilt, zoom, timeout_s: 2 }),
    onpointerup: () => send({ action: "stop" }),
  }, t(key));
  return h("div", { class: "ptz" },
    dir("ptz.up", 0, 0.5, 0), dir("ptz.left", -0.5, 0, 0), dir("ptz.right", 0.5, 0, 0), dir("ptz.down", 0, -0.5, 0),
    dir("ptz.zoom_in", 0, 0, 0.5), dir("ptz.zoom_out", 0, 0, -0.5));
}

function renderTile(index) {
  const tile = tiles[index];
  const el = document.querySelector(`.tile[data-index="${index}"]`);
  if (!el) return;
  tile.handle?.close?.();
  tile.handle = null;
  const cam = tile.cameraId ? byId.get(tile.cameraId) : null;
  el.classList.toggle("alarm", Boolean(tile.alarm));
  el.classList.toggle("selected", index === selectedTile);
  el.dataset.camera = tile.cameraId || "";
  if (!cam) {
    el.replaceChildren(h("div", { class: "tile-empty" }, t("wall.empty_tile")));
    return;
  }
  const video = h("video", { autoplay: true, muted: true, playsinline: true });
  const state = h("span", { class: "tile-state" }, t("live.connecting"));
  const layers = h("div", { class: "tile-media" }, video);
  if (tile.alarm) {
    // the alarm frame with its boxes, over the live picture, until the operator dismisses it
    layers.append(h("div", { class: "alarm-pip", onclick: () => { location.href = `/desk#${tile.alarm.id}`; } },
      snapshotWithBoxes(tile.alarm), h("div", { class: "alarm-title" }, tile.alarm.title)));
  }
  el.replaceChildren(
    layers,
    h("div", { class: "tile-bar" },
      h("span", { class: "tile-name" }, cam.name), state,
      h("button", { class: "link", title: t("wall.close_tile"), onclick: (ev) => { ev.stopPropagation(); tiles[index] = { cameraId: null }; renderTile(index); saveState(); } }, "×")),
    cam.ptz ? ptzControls(cam.id) : null,
  );
  playLive(video, cam.id, session.token, (s, detail) => {
    state.textContent = s === "unavailable" ? t("wall.no_live") : s === "playing" ? "" : liveStateText(s);
    state.title = detail ? `${liveStateText(s)}: ${detail}` : state.textContent;
    el.dataset.live = s;
  }, { stream: layout >= 9 ? "sub" : "main" }).then((handle) => { tile.handle = handle; });  // small tiles: the sub-stream
}

function renderWall() {
  const wall = document.getElementById("wall");
  const n = Math.sqrt(layout);
  wall.style.gridTemplateColumns = `repeat(${n}, 1fr)`;
  wall.style.gridTemplateRows = `repeat(${n}, 1fr)`;
  while (tiles.length < layout) tiles.push({ cameraId: null });
  tiles.slice(layout).forEach((x) => x.handle?.close?.());
  tiles = tiles.slice(0, layout);
  wall.replaceChildren(...tiles.map((_, i) => h("div", { class: "tile", dataset: { index: i }, onclick: () => selectTile(i) })));
  tiles.forEach((_, i) => renderTile(i));
  document.querySelectorAll("#layouts button").forEach((b) => b.classList.toggle("active", Number(b.dataset.n) === layout));
}

function selectTile(i) {
  selectedTile = i;
  document.querySelectorAll(".tile").forEach((el) => el.classList.toggle("selected", Number(el.dataset.index) === i));
}

function assign(cameraId, index = selectedTile) {
  tiles[index].handle?.close?.();
  tiles[index] = { cameraId };
  renderTile(index);
  selectTile(Math.min(index + 1, layout - 1));
  saveState();
}

function setLayout(n) { layout = n; selectedTile = 0; renderWall(); saveState(); }

// A tour shows one page of cameras at a time: groups (all / per township / per tag), each cut
// into pages of as many cameras as the layout has tiles.
function tourPages(mode) {
  const groups = new Map();
  for (const c of cameras) {
    const keys = mode === "township" ? [c.jurisdiction.slice(0, 9)] : mode === "tag" ? (c.tags.length ? c.tags : ["-"]) : ["all"];
    for (const k of keys) { if (!groups.has(k)) groups.set(k, []); groups.get(k).push(c); }
  }
  const pages = [];
  for (const group of groups.values()) for (let i = 0; i < group.length; i += layout) pages.push(group.slice(i, i + layout));
  return pages.length ? pages : [[]];
}

function toggleTour() {
  const btn = document.getElementById("tour-toggle");
  if (tour) { clearInterval(tour); tour = null; btn.textContent = t("wall.tour_start"); document.body.dataset.tour = ""; return; }
  const seconds = Math.max(5, Number(document.getElementById("tour-interval").value) || 20);
  const pages = tourPages(document.getElementById("tour-groups").value);
  const step = () => {
    const page = pages[tourIndex % pages.length];
    tiles.forEach((tile, i) => { if (!tile.alarm) { tile.handle?.close?.(); tiles[i] = { cameraId: page[i]?.id || null }; renderTile(i); } });
    document.body.dataset.tour = String(tourIndex % pages.length);
    tourIndex += 1;
  };
  step();
  tour = setInterval(step, seconds * 1000);
  btn.textContent = t("wall.tour_stop");
}

function popAlarm(inc) {
  if (!inc.camera_id || !byId.has(inc.camera_id)) return;
  // the tile already showing the camera, else an empty one, else the last tile
  let index = tiles.findIndex((x) => x.cameraId === inc.camera_id);
  if (index < 0) index = tiles.findIndex((x) => !x.cameraId);
  if (index < 0) index = tiles.length - 1;
  tiles[index].handle?.close?.();
  tiles[index] = { cameraId: inc.camera_id, alarm: inc };
  renderTile(index);
  document.body.dataset.lastAlarm = String(inc.id);
}

const seenSources = new Map();  // incident id -> source_count: a new alert merged into an incident alarms again

function onEvent(msg) {
  const inc = msg.payload;
  if (!inc || !msg.type.startsWith("incident.")) return;
  const before = seenSources.get(inc.id) ?? 0;
  seenSources.set(inc.id, inc.source_count ?? 1);
  if (msg.type === "incident.created" || (inc.source_count ?? 0) > before && before > 0) popAlarm(inc);
}

await loadI18n();
document.title = t("nav.wall");
if (await requireLogin()) {
  renderNav("/wall");
  cameras = (await api("/api/cameras")).items;
  byId = new Map(cameras.map((c) => [c.id, c]));
  document.getElementById("layouts").append(...LAYOUTS.map((n) => h("button", { class: "secondary", dataset: { n }, onclick: () => setLayout(n) }, String(n))));
  document.getElementById("camera-list").append(...cameras.map((c) => h("li", { dataset: { camera: c.id }, onclick: () => assign(c.id) },
    h("span", { class: `kind kind-${c.kind}` }, t(`kind.${c.kind}`)), " ", c.name)));
  document.getElementById("tour-toggle").addEventListener("click", toggleTour);
  const saved = loadState();
  if (saved && LAYOUTS.includes(saved.layout)) {
    layout = saved.layout;
    tiles = saved.assigned.map((id) => ({ cameraId: byId.has(id) ? id : null }));
  } else {
    tiles = cameras.slice(0, layout).map((c) => ({ cameraId: c.id }));
  }
  renderWall();
  new LiveEvents(onEvent, setConnState).start();
  document.body.dataset.ready = "1";
}
