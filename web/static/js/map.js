// 态势地图: jurisdiction boundaries, cameras (coloured by status), responders and open incidents,
// drawn as SVG from the API's GeoJSON in a local projection — no map tiles, nothing from the internet.
import { api, COLOUR_ORDER, LiveEvents, loadI18n, renderNav, requireLogin, setConnState, t } from "./common.js";

const NS = "http://www.w3.org/2000/svg";
const STATUS_COLOURS = { online: "#30a46c", offline: "#e5484d", auth_failed: "#f5a524", no_signal: "#e5484d", degraded: "#f2d64b", unknown: "#8da2b8" };
const INCIDENT_COLOURS = { red: "#e5484d", orange: "#f5a524", yellow: "#f2d64b", blue: "#3e9bff" };
let project = null;
const layers = {};
const markers = { responders: new Map(), incidents: new Map(), cameras: new Map() };
const centres = new Map();  // jurisdiction code -> [lon, lat], for incidents reported without a position

function positionOf(item) {
  if (item.lat != null && item.lon != null) return [item.lon, item.lat];
  for (let n = (item.jurisdiction_code || "").length; n >= 6; n -= 3) {
    const c = centres.get(item.jurisdiction_code.slice(0, n));
    if (c) return c;
  }
  return null;
}

function el(tag, attrs = {}, title = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (title) { const tt = document.createElementNS(NS, "title"); tt.textContent = title; node.append(tt); }
  return node;
}

function makeProjection(points, width, height) {
  const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
  const [minLon, maxLon, minLat, maxLat] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);  // equirectangular, true to scale at the centre
  const spanX = Math.max((maxLon - minLon) * kx, 1e-6), spanY = Math.max(maxLat - minLat, 1e-6);
  const scale = 0.94 * Math.min(width / spanX, height / spanY);
  const ox = (width - spanX * scale) / 2, oy = (height - spanY * scale) / 2;
  return ([lon, lat]) => [ox + (lon - minLon) * kx * scale, oy + (maxLat - lat) * scale];
}

function ring(coords) { return coords.map((c) => project(c).map((v) => v.toFixed(1)).join(",")).join(" "); }

function drawBoundaries(features) {
  for (const f of features) {
    if (!f.geometry) continue;
    const level = f.properties.level;
    const poly = el("polygon", { points: ring(f.geometry.coordinates[0]), class: `boundary level-${level}` }, `${f.properties.name} ${f.properties.code}`);
    layers.boundaries.append(poly);
    if (level === "township" && f.properties.center_lat != null) {
      const [x, y] = project([f.properties.center_lon, f.properties.center_lat]);
      const label = el("text", { x, y, class: "map-label" }); label.textContent = f.properties.name;
      layers.boundaries.append(label);
    }
  }
}

function cameraMarker(cam, status) {
  const [x, y] = project([cam.position.lon, cam.position.lat]);
  const g = el("g", { class: "camera-marker", "data-camera": cam.id }, `${cam.name}（${t(`devices.${status}`)}）`);
  g.append(el("rect", { x: x - 5, y: y - 5, width: 10, height: 10, rx: 2, fill: STATUS_COLOURS[status] || STATUS_COLOURS.unknown }));
  return g;
}

function drawResponder(r) {
  if (r.lat == null || r.lon == null) return;
  markers.responders.get(r.id)?.remove();
  const [x, y] = project([r.lon, r.lat]);
  const g = el("g", { class: `responder-marker status-${r.status}`, "data-responder": r.id }, `${r.name} · ${r.status}`);
  g.append(el("path", { d: `M${x} ${y - 7} L${x + 6} ${y + 5} L${x - 6} ${y + 5} Z` }));
  layers.responders.append(g);
  markers.responders.set(r.id, g);
}

function drawIncident(inc) {
  markers.incidents.get(inc.id)?.remove();
  const where = positionOf(inc);
  if (!where || inc.is_open === false) return;
  const [x, y] = project(where);
  const a = el("a", { href: `/desk#${inc.id}`, class: "incident-marker", "data-incident": inc.id });
  a.append(el("circle", { cx: x, cy: y, r: 9, fill: INCIDENT_COLOURS[inc.colour] || "#fff" }, `${inc.title}（${t(`status.${inc.status}`)}）`));
  a.append(el("circle", { cx: x, cy: y, r: 14, class: "pulse", stroke: INCIDENT_COLOURS[inc.colour] || "#fff" }));
  layers.incidents.append(a);
  markers.incidents.set(inc.id, a);
}

function onEvent(msg) {
  if (msg.type.startsWith("incident.") && msg.payload) drawIncident(msg.payload);
  else if (msg.type === "responder.position" && msg.payload) drawResponder(msg.payload);
  else if (msg.type === "device.status" && msg.payload) {
    const rect = markers.cameras.get(msg.payload.camera_id)?.querySelector("rect");
    rect?.setAttribute("fill", STATUS_COLOURS[msg.payload.status] || STATUS_COLOURS.unknown);
  }
}

await loadI18n();
document.title = t("map.title");
if (await requireLogin()) {
  renderNav("/map");
  const [geo, cams, health, responders, incidents] = await Promise.all([
    api("/api/jurisdictions/geojson?max_level=village"), api("/api/cameras"), api("/api/devices/health"),
    api("/api/responders"), api("/api/incidents?open_only=true&limit=500"),
  ]);
  const svg = document.getElementById("map");
  const box = svg.getBoundingClientRect();
  const width = Math.max(box.width, 600), height = Math.max(box.height, 400);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const points = geo.features.flatMap((f) => (f.geometry ? f.geometry.coordinates[0] : []));
  for (const c of cams.items) points.push([c.position.lon, c.position.lat]);
  if (!points.length) points.push([120.63, 27.78]);
  project = makeProjection(points, width, height);
  for (const name of ["boundaries", "cameras", "responders", "incidents"]) { layers[name] = el("g", { class: `layer-${name}` }); svg.append(layers[name]); }
  // county and townships first, villages on top (their outlines stay visible)
  const order = { county: 0, township: 1, village: 2, grid: 3 };
  drawBoundaries(geo.features.sort((a, b) => order[a.properties.level] - order[b.properties.level]));
  for (const f of geo.features) if (f.properties.center_lat != null) centres.set(f.properties.code, [f.properties.center_lon, f.properties.center_lat]);
  const status = new Map(health.items.map((i) => [i.camera_id, i.status]));
  for (const cam of cams.items) { const m = cameraMarker(cam, status.get(cam.id) || "unknown"); layers.cameras.append(m); markers.cameras.set(cam.id, m); }
  responders.items.forEach(drawResponder);
  incidents.items.sort((a, b) => (COLOUR_ORDER[b.colour] ?? 9) - (COLOUR_ORDER[a.colour] ?? 9)).forEach(drawIncident);
  document.querySelectorAll("[data-layer]").forEach((box) => box.addEventListener("change", () => {
    layers[box.dataset.layer].style.display = box.checked ? "" : "none";
  }));
  new LiveEvents(onEvent, setConnState).start();
  document.body.dataset.ready = "1";
}
