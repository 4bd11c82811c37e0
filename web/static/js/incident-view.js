// Vue components shared by the desk, the wall and the responder page: the snapshot with its boxes,
// a live video that survives re-renders, SLA countdowns, and the live-view loader.
import { clock, countdown, t, Vue } from "./common.js";

const { h, ref, onMounted, onBeforeUnmount, watch } = Vue;

// The alert snapshot with the detection boxes drawn over it (SVG in frame-pixel coordinates).
// src: the image URL (first/latest/best evidence or the incident's snapshot).
export const SnapshotBoxes = {
  name: "SnapshotBoxes",
  props: { src: String, boxes: Array, frameWidth: Number, frameHeight: Number, label: String, className: { type: String, default: "snap" } },
  setup(props) {
    const natural = ref(null);
    return () => {
      if (!props.src) return h("div", { class: `${props.className} no-snapshot` }, t("incident.no_snapshot"));
      const w = props.frameWidth || natural.value?.[0];
      const hh = props.frameHeight || natural.value?.[1];
      const boxes = props.boxes || [];
      return h("figure", { class: `${props.className} boxed` }, [
        h("img", { src: props.src, alt: props.label || t("incident.snapshot"),
          onLoad: (ev) => { natural.value = [ev.target.naturalWidth, ev.target.naturalHeight]; } }),
        boxes.length && w && hh ? h("svg", { class: "box-overlay", viewBox: `0 0 ${w} ${hh}`, preserveAspectRatio: "none" },
          boxes.map(([x1, y1, x2, y2], i) => h("rect", { key: i, x: x1, y: y1, width: Math.max(1, x2 - x1), height: Math.max(1, y2 - y1) }))) : null,
        props.label ? h("figcaption", { class: "muted small" }, props.label) : null,
      ]);
    };
  },
};

// A live-view state for people: "retrying" → 重连中.
// The live helper reports states like "playing", "playing: passthrough" or a raw error ("Connection
// refused"): operators read the state's Chinese name, and a raw error as 视频错误.
export function liveStateText(state) {
  const base = String(state ?? "").split(/[:\s]/)[0];
  for (const key of [`live.${state}`, `live.${base}`]) if (t(key) !== key) return t(key);
  return t("live.error");
}

// Live view through the WebRTC helper (/api/live/static/live.js) when it is mounted.
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

// <video> playing a camera over WebRTC. The session lives as long as the component: a parent
// re-rendering (a push) patches around it and never restarts it; a new camera/stream does.
// emits state(s, detail) so the parent can show it.
export const LiveVideo = {
  name: "LiveVideo",
  props: { cameraId: String, token: String, stream: { type: String, default: "main" } },
  emits: ["state"],
  setup(props, { emit }) {
    const video = ref(null);
    let handle = null;
    let generation = 0;
    const start = async () => {
      const mine = ++generation;
      handle?.close?.(); handle = null;
      if (!props.cameraId || !video.value) return;
      const hd = await playLive(video.value, props.cameraId, props.token, (s, d) => emit("state", s, d), { stream: props.stream });
      if (mine !== generation) { hd?.close?.(); return; }  // camera changed meanwhile
      handle = hd;
    };
    onMounted(start);
    watch(() => [props.cameraId, props.stream], start);
    onBeforeUnmount(() => { generation++; handle?.close?.(); handle = null; });
    return () => h("video", { ref: video, autoplay: true, muted: true, playsinline: true, class: "live-video", "data-camera": props.cameraId });
  },
};

// "签收 剩余 01:05" — re-rendered each second on its own (the clock), red when overdue.
export const Countdown = {
  name: "Countdown",
  props: { iso: String, label: String },
  setup(props) {
    return () => {
      const c = countdown(props.iso, clock.now);
      if (!c) return null;
      return h("span", { class: c.overdue ? "deadline overdue" : "deadline", "data-overdue": c.overdue ? "1" : "0" },
        props.label ? `${props.label} ${c.text}` : c.text);
    };
  },
};

// Which SLA countdowns an incident shows: 签收 while a unit has not yet accepted, 办结 while open;
// none once resolved or closed.
export function slaOf(inc) {
  if (!inc || inc.is_open === false || ["resolved", "evaluated", "revisited", "closed", "false_alarm"].includes(inc.status)) return [];
  const out = [];
  if (inc.ack_deadline && ["received", "classified", "dispatched", "rejected", "reopened", "escalated"].includes(inc.status)) {
    out.push({ kind: "ack", label: t("sla.ack"), iso: inc.ack_deadline });
  }
  if (inc.resolve_deadline) out.push({ kind: "resolve", label: t("sla.resolve"), iso: inc.resolve_deadline });
  return out;
}

export function slaCountdowns(inc) {
  return slaOf(inc).map((s) => h(Countdown, { key: s.kind, iso: s.iso, label: s.label, class: `sla-${s.kind}` }));
}
