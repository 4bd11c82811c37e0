// 态势地图: Leaflet over the jurisdictions' GeoJSON boundaries (no tiles, nothing from the internet),
// cameras coloured by health, open incidents by risk colour, and the units (处置力量), clustered when
// zoomed out, each clickable, with a legend and live updates. /map#incident=12 (or camera=…, unit=…)
// zooms to one marker and opens it.
import { api, LiveEvents, loadI18n, renderNav, requireLogin, setConnState, t } from "./common.js";
import { fmtBeijing } from "./glossary.js";

const L = window.L;
const CAMERA_COLOURS = { online: "#30a46c", offline: "#e5484d", auth_failed: "#f5a524", no_signal: "#e5484d", degraded: "#f2d64b", unknown: "#8da2b8" };
const RISK_COLOURS = { red: "#e5484d", orange: "#f5a524", yellow: "#f2d64b", blue: "#3e9bff" };
const BOUNDARY_STYLE = {
  county: { color: "#6fa8ff", weight: 3, fillOpacity: 0.02, dashArray: null },
  township: { color: "#4d7fb8", weight: 2, fillOpacity: 0.05, fillColor: "#2f8cff" },
  village: { color: "#2a3b50", weight: 1, fillOpacity: 0, dashArray: "3 3" },
};

const state = { map: null, groups: {}, markers: { camera: new Map(), incident: new Map(), unit: new Map() }, centres: new Map(), names: new Map(),
  cameras: new Map(), status: new Map(), incidents: new Map(), units: new Map(), assigned: new Map() };

function text(tag, value, cls) { const el = document.createElement(tag); if (cls) el.className = cls; el.textContent = value; return el; }

function placeName(code) {
  for (let n = (code || "").length; n >= 6; n -= 3) { const name = state.names.get(code.slice(0, n)); if (name) return name; }
  return "";
}

function centreOf(code) {
  for (let n = (code || "").length; n >= 6; n -= 3) { const c = state.centres.get(code.slice(0, n)); if (c) return c; }
  return null;
}

function icon(kind, cls, colour) {
  const html = document.createElement("div");
  html.className = `${kind} ${cls}`;
  if (colour && kind === "xl-unit") html.style.borderBottomColor = colour;
  else if (colour) html.style.background = colour;
  return L.divIcon({ className: "xl-marker", html, iconSize: kind === "xl-incident" ? [26, 26] : [18, 18] });
}

// The marker's element carries what it shows (kind, id, position) so a click, a test or a screen reader finds it.
function applyTag(marker) {
  const el = marker.getElement();
  if (!el) return;
  const { kind, id, latlng, label } = marker.options.tag;
  Object.assign(el.dataset, { kind, id: String(id), lat: String(latlng[0]), lon: String(latlng[1]) });
  el.setAttribute("title", label || "");
}

function popup(lines, link) {
  const box = document.createElement("div");
  box.className = "map-popup";
  box.append(text("div", lines[0], "popup-title"));
  for (const line of lines.slice(1)) if (line) box.append(text("div", line));
  if (link) { const a = text("a", link[1]); a.href = link[0]; box.append(a); }
  return box;
}

// Pushes arrive several times a second on a busy camera: an existing marker is updated in place (icon only
// when its look changed), never removed and re-added — that would break a cluster's zoom animation and
// lose the marker an operator is zooming to.
function placeMarker(kind, id, latlng, makeIcon, iconKey, label, content) {
  const old = state.markers[kind].get(id);
  if (old) {
    old.options.tag = { kind, id, latlng, label };
    if (old.options.iconKey !== iconKey) { old.options.iconKey = iconKey; old.setIcon(makeIcon()); applyTag(old); }
    old.setPopupContent(content);
    return old;
  }
  const marker = L.marker(latlng, { icon: makeIcon(), iconKey, tag: { kind, id, latlng, label }, keyboard: true, title: label });
  marker.on("add", () => applyTag(marker));
  marker.bindPopup(content);
  state.groups[kind].addLayer(marker);
  state.markers[kind].set(id, marker);
  return marker;
}

function drawCamera(cam) {
  const status = state.status.get(cam.id) || "unknown";
  const latlng = [cam.position.lat, cam.position.lon];
  const label = `${cam.name}（${t(`devices.${status}`)}）`;
  placeMarker("camera", cam.id, latlng, () => icon("xl-camera", `status-${status}`, CAMERA_COLOURS[status] || CAMERA_COLOURS.unknown), status, label,
    () => popup([cam.name, `${t("map.status")}：${t(`devices.${status}`)}`, `${t("incident.jurisdiction")}：${placeName(cam.jurisdiction)}`,
      cam.kind ? `${t("map.camera_kind")}：${t(`kind.${cam.kind}`)}` : ""], ["/wall", t("map.open_wall")]));
}

function dispatchedTo(unitId) {
  for (const inc of state.incidents.values()) if ((inc.assigned_responder_ids || []).includes(unitId)) return inc;
  return null;
}

function drawUnit(r) {
  const where = r.lat != null && r.lon != null ? [r.lat, r.lon] : centreOf(r.jurisdiction_code);
  if (!where) return;
  const task = dispatchedTo(r.id);
  const label = `${r.name}（${t(`responder_status.${r.status}`)}）`;
  placeMarker("unit", r.id, where, () => icon("xl-unit", `status-${r.status}${task ? " dispatched" : ""}`), `${r.status}-${Boolean(task)}`, label,
    () => popup([r.name, `${t("map.status")}：${t(`responder_status.${r.status}`)}`, r.department ? `${t("map.department")}：${r.department}` : "",
      `${t("incident.jurisdiction")}：${placeName(r.jurisdiction_code)}`, r.phone ? `${t("intake.phone")}：${r.phone}` : "",
      r.position_at ? `${t("map.position_at")}：${fmtBeijing(r.position_at)}` : t("map.no_position"),
      task ? `${t("map.on_task")}：#${task.id} ${task.title}` : ""], task ? [`/desk#${task.id}`, t("map.open_desk")] : null));
}

function drawIncident(inc) {
  const old = state.markers.incident.get(inc.id);
  if (inc.is_open === false) { if (old) state.groups.incident.removeLayer(old); state.markers.incident.delete(inc.id); state.incidents.delete(inc.id); return; }
  state.incidents.set(inc.id, inc);
  const where = inc.lat != null && inc.lon != null ? [inc.lat, inc.lon] : centreOf(inc.jurisdiction_code);
  if (!where) return;
  const label = `${inc.title}（${t(`status.${inc.status}`)}）`;
  placeMarker("incident", inc.id, where, () => icon("xl-incident", `colour-${inc.colour}`, RISK_COLOURS[inc.colour]), inc.colour, label,
    () => popup([`#${inc.id} ${inc.title}`, `${t("incident.status")}：${t(`status.${inc.status}`)}`, `${t("incident.colour")}：${t(`colour.${inc.colour}`)}`,
      `${t("incident.jurisdiction")}：${inc.jurisdiction_name || placeName(inc.jurisdiction_code)}`, inc.camera_name ? `${t("incident.camera")}：${inc.camera_name}` : "",
      `${t("incident.time")}：${fmtBeijing(inc.created_at)}`], [`/desk#${inc.id}`, t("map.open_desk")]));
  const units = JSON.stringify(inc.assigned_responder_ids || []);
  if (state.assigned.get(inc.id) !== units) {
    state.assigned.set(inc.id, units);
    for (const id of inc.assigned_responder_ids || []) { const r = state.units.get(id); if (r) drawUnit(r); }
  }
}

function legend() {
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => {
    const box = L.DomUtil.create("div", "map-legend");
    box.id = "map-legend";
    const section = (title, rows) => {
      box.append(text("h4", title));
      for (const [cls, colour, label] of rows) {
        const row = document.createElement("div");
        const sw = document.createElement("span");
        sw.className = `legend-swatch ${cls}`;
        if (cls === "tri") sw.style.borderBottomColor = colour; else sw.style.background = colour;
        row.append(sw, label);
        box.append(row);
      }
    };
    section(t("map.incidents"), ["red", "orange", "yellow", "blue"].map((c) => ["round", RISK_COLOURS[c], t(`colour.${c}`)]));
    section(t("map.cameras"), ["online", "degraded", "auth_failed", "offline", "unknown"].map((s) => ["", CAMERA_COLOURS[s], t(`devices.${s}`)]));
    section(t("map.responders"), [["tri", "#30a46c", t("responder_status.available")], ["tri", "#f5a524", t("responder_status.busy")], ["tri", "#8da2b8", t("responder_status.offline")]]);
    section(t("map.boundaries"), [["", BOUNDARY_STYLE.county.color, t("level.county")], ["", BOUNDARY_STYLE.township.color, t("level.township")], ["", "#2a3b50", t("level.village")]]);
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  return control;
}

function focusFromHash() {
  const m = /^#(incident|camera|unit)=(.+)$/.exec(location.hash);
  if (!m) return;
  const id = m[1] === "camera" ? decodeURIComponent(m[2]) : Number(m[2]);
  const marker = state.markers[m[1]].get(id);
  if (!marker) return;
  state.groups[m[1]].zoomToShowLayer(marker, () => {
    marker.openPopup();
    document.body.dataset.focused = `${m[1]}=${m[2]}`;
  });
}

function onEvent(msg) {
  if (msg.type.startsWith("incident.") && msg.payload?.id !== undefined) drawIncident(msg.payload);
  else if (msg.type === "responder.position" && msg.payload) {
    const id = msg.payload.id ?? msg.payload.responder_id;
    if (id === undefined || !state.units.has(id)) return;
    state.units.set(id, { ...state.units.get(id), ...msg.payload, id });
    drawUnit(state.units.get(id));
  }
  else if (msg.type === "device.status" && msg.payload) {
    state.status.set(msg.payload.camera_id, msg.payload.status);
    const cam = state.cameras.get(msg.payload.camera_id);
    if (cam) drawCamera(cam);
  }
}

await loadI18n();
document.title = t("map.title");
if (await requireLogin()) {
  renderNav("/map");
  const [geo, cams, health, responders, queue] = await Promise.all([
    api("/api/jurisdictions/geojson?max_level=village"), api("/api/cameras"), api("/api/devices/health").catch(() => ({ items: [] })),
    api("/api/responders"), api("/api/incidents/queue"),
  ]);
  const map = L.map("map", { zoomControl: false, attributionControl: false, preferCanvas: false, minZoom: 7, maxZoom: 18 });
  state.map = map;
  L.control.zoom({ zoomInTitle: t("map.zoom_in"), zoomOutTitle: t("map.zoom_out") }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  const order = { county: 0, township: 1, village: 2, grid: 3 };
  const features = geo.features.filter((f) => f.geometry).sort((a, b) => order[b.properties.level] - order[a.properties.level]);
  for (const f of geo.features) {
    state.names.set(f.properties.code, f.properties.name);
    if (f.properties.center_lat != null) state.centres.set(f.properties.code, [f.properties.center_lat, f.properties.center_lon]);
  }
  const boundaries = L.geoJSON({ type: "FeatureCollection", features }, {
    style: (f) => BOUNDARY_STYLE[f.properties.level] || BOUNDARY_STYLE.village,
    onEachFeature: (f, layer) => {
      layer.bindPopup(() => popup([f.properties.name, `${t("map.level")}：${t(`level.${f.properties.level}`)}`]));
      if (f.properties.level === "township") layer.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "township-label" });
    },
  }).addTo(map);
  const cluster = () => L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40, disableClusteringAtZoom: 15 });
  state.groups = { camera: cluster(), incident: cluster(), unit: cluster() };
  for (const g of Object.values(state.groups)) g.addTo(map);
  const layersControl = L.control.layers(null, { [t("map.boundaries")]: boundaries, [t("map.cameras")]: state.groups.camera,
    [t("map.incidents")]: state.groups.incident, [t("map.responders")]: state.groups.unit }, { collapsed: false, position: "topright" }).addTo(map);
  // Leaflet's own English labels, in Chinese
  layersControl.getContainer().querySelector(".leaflet-control-layers-toggle")?.setAttribute("title", t("map.layers"));
  map.on("popupopen", (e) => {
    const close = e.popup.getElement()?.querySelector(".leaflet-popup-close-button");
    if (close) { close.setAttribute("aria-label", t("map.close_popup")); close.setAttribute("title", t("map.close_popup")); }
  });
  legend().addTo(map);
  const county = features.find((f) => f.properties.level === "county") || features[features.length - 1];
  if (boundaries.getLayers().length) map.fitBounds(county ? L.geoJSON(county).getBounds() : boundaries.getBounds(), { padding: [20, 20] });
  else map.setView([27.78, 120.63], 11);

  for (const h of health.items) state.status.set(h.camera_id, h.status);
  for (const cam of cams.items) { if (cam.position) { state.cameras.set(cam.id, cam); drawCamera(cam); } }
  for (const inc of queue.items) state.incidents.set(inc.id, inc);
  for (const r of responders.items) { state.units.set(r.id, r); drawUnit(r); }
  for (const inc of queue.items) drawIncident(inc);
  document.getElementById("map-summary").textContent = t("map.summary", { cameras: state.cameras.size, incidents: state.incidents.size, units: state.units.size });
  window.addEventListener("hashchange", focusFromHash);
  focusFromHash();
  new LiveEvents(onEvent, setConnState).start();
  document.body.dataset.ready = "1";
}
