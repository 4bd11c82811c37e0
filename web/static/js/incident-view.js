// Pieces shared by the desk, the wall and the responder page: snapshot with boxes, live video, action forms.
import { api, h, t } from "./common.js";

// The alert snapshot with the detection boxes drawn over it (SVG in frame-pixel coordinates).
export function snapshotWithBoxes(inc, { className = "snap" } = {}) {
  if (!inc.has_snapshot && !inc.snapshot_url) return h("div", { class: `${className} no-snapshot` }, t("incident.no_snapshot"));
  const wrap = h("div", { class: `${className} boxed` });
  const img = h("img", { src: `/api/incidents/${inc.id}/snapshot`, alt: t("incident.snapshot") });
  wrap.append(img);
  const boxes = inc.boxes || [];
  const setOverlay = (w, hgt) => {
    if (!boxes.length || !w || !hgt) return;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.classList.add("box-overlay");
    for (const [x1, y1, x2, y2] of boxes) {
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", x1); r.setAttribute("y", y1);
      r.setAttribute("width", Math.max(1, x2 - x1)); r.setAttribute("height", Math.max(1, y2 - y1));
      svg.append(r);
    }
    wrap.append(svg);
  };
  if (inc.frame_width && inc.frame_height) setOverlay(inc.frame_width, inc.frame_height);
  else img.addEventListener("load", () => setOverlay(img.naturalWidth, img.naturalHeight), { once: true });
  return wrap;
}

// A live-view state for people: "retrying" → 重连中 (the detail, e.g. the server's reason, in the tooltip).
export function liveStateText(state) {
  const key = `live.${state}`;
  return t(key) === key ? state : t(key);
}

// Live view through the WebRTC engineer's helper (/api/live/static/live.js) when it is mounted.
let liveScript = null;
export function loadLive() {
  if (!liveScript) {
    liveScript = new Promise((resolve) => {
      const s = document.createElement("script");
      s.src = "/api/live/static/live.js";
      s.onload = () => resolve(window.XLLive || null);
      s.onerror = () => resolve(null);
      document.head.append(s);
    });
  }
  return liveScript;
}

export async function playLive(video, cameraId, token, onState = () => {}, options = {}) {
  const live = await loadLive();
  if (!live) { onState("unavailable"); return null; }
  try {
    const handle = live.play(video, cameraId, token, { onState, ...options });
    handle.ready?.catch((e) => onState("error", e?.message || String(e)));
    return handle;
  } catch (e) {
    onState("error", e.message);
    return null;
  }
}

// Which inputs each state-machine action needs (the server validates them again).
export const ACTION_FIELDS = {
  classify: [["category_code", "category"]],
  dispatch: [["responder_ids", "responders"], ["note", "text"]],
  acknowledge: [], arrive: [], close: [],
  reject: [["reason", "textarea"]], reopen: [["reason", "textarea"]], escalate: [["reason", "textarea"]],
  false_alarm: [["reason", "textarea"]],
  resolve: [["result", "textarea"]],
  evaluate: [["satisfaction", "rating"], ["comment", "text"]],
  revisit: [["outcome", "textarea"]],
  colour: [["colour", "colour"], ["reason", "text"]],
};

export async function actionForm(inc, action, onDone) {
  const fields = ACTION_FIELDS[action] || [];
  const form = h("form", { class: "action-form", dataset: { action } });
  for (const [name, kind] of fields) {
    let input;
    if (kind === "textarea") input = h("textarea", { name, required: true, rows: 2, placeholder: t("incident.note") });
    else if (kind === "text") input = h("input", { name, placeholder: t("incident.note") });
    else if (kind === "rating") input = h("select", { name }, [5, 4, 3, 2, 1].map((n) => h("option", { value: n }, "★".repeat(n))));
    else if (kind === "colour") input = h("select", { name }, ["red", "orange", "yellow", "blue"].map((c) => h("option", { value: c }, t(`colour.${c}`))));
    else if (kind === "category") {
      const cats = (await api("/api/categories")).items;
      input = h("select", { name }, cats.map((c) => h("option", { value: c.code }, c.name)));
    } else if (kind === "responders") {
      const recs = (await api(`/api/incidents/${inc.id}/recommendations?limit=10`)).items;
      input = h("select", { name, class: "responder-select" },
        recs.map((r) => h("option", { value: r.responder_id }, `${r.name}（${r.reasons.join("，")}）`)));
    }
    form.append(h("label", {}, input));
  }
  form.append(h("button", { type: "submit", class: "do-action" }, t(`action.${action}`)));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const [name, kind] of fields) {
      const v = form.elements[name].value;
      if (kind === "responders") body[name] = v ? [Number(v)] : [];
      else if (kind === "rating") body[name] = Number(v);
      else if (v !== "") body[name] = v;
    }
    if (action === "dispatch" && !body.responder_ids.length) { body.auto = true; }
    try {
      const updated = await api(`/api/incidents/${inc.id}/${action}`, { method: "POST", body });
      onDone(updated, null);
    } catch (e) {
      onDone(null, e);
    }
  });
  return form;
}
