// Shared by every page: translations, the API client, the session, the live event socket, the nav bar,
// and the Vue 3 bits the pages build on. Vue is vendored (/static/vendor/vue, loaded by each page as a
// classic script before its module); no CDN. Components use render functions (Vue.h), not template
// strings: compiling templates needs eval, which the app's CSP (script-src 'self') rightly forbids.

export const Vue = window.Vue;

let STRINGS = {};

export async function loadI18n(lang = "zh-CN") {
  const res = await fetch(`/static/i18n/${lang}.json`, { cache: "no-cache" });
  STRINGS = await res.json();
  document.documentElement.lang = lang;
  applyI18n(document);
}

export function t(key, params = {}) {
  let s = STRINGS[key] ?? key;
  for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function applyI18n(root) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
}

// Build DOM without innerHTML so incident text can never inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// --- session -------------------------------------------------------------------------------
// The access token is kept for this tab (sessionStorage) to send as a Bearer header on
// state-changing requests; the HttpOnly cookie set at login serves <img>/<video> loads.
const TOKEN_KEY = "xl.token";
const USER_KEY = "xl.user";

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get user() { try { return JSON.parse(sessionStorage.getItem(USER_KEY) || "null"); } catch { return null; } },
  save(token, user) { sessionStorage.setItem(TOKEN_KEY, token); sessionStorage.setItem(USER_KEY, JSON.stringify(user)); },
  clear() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(USER_KEY); },
  can(p) { return (this.user?.permissions || []).includes(p); },
};

// Every API error body is {code, message (zh-CN), detail, errors}; older answers had only detail.
export class ApiError extends Error {
  constructor(status, detail, body = {}) {
    super(body.message || (typeof detail === "string" ? detail : JSON.stringify(detail)));
    this.status = status; this.detail = detail; this.code = body.code; this.errors = body.errors || [];
  }
}

export async function api(path, { method = "GET", body, form, signal } = {}) {
  const headers = {};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const res = await fetch(path, { method, headers, body: payload, signal, credentials: "same-origin" });
  if (res.status === 401 && !path.startsWith("/api/auth/login")) {
    session.clear();
    document.dispatchEvent(new CustomEvent("xl:logged-out"));
  }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("application/json") ? await res.json() : await res.text();
  if (!res.ok) throw new ApiError(res.status, (data && (data.detail ?? data.message)) || res.statusText, typeof data === "object" && data ? data : {});
  return data;
}

export async function login(username, password) {
  const data = await api("/api/auth/login", { method: "POST", body: { username, password } });
  session.save(data.access_token, data.user);
  return data.user;
}

export async function logout() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* already gone */ }
  session.clear();
  location.href = "/";
}

// --- live events ---------------------------------------------------------------------------
// Reconnects with back-off and resumes from the last stream id, so a dropped connection
// loses no event. onEvent gets every message except the hello.
export class LiveEvents {
  constructor(onEvent, onState = () => {}) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.backoff = 500;
    this.closed = false;
  }
  start() { this.connect(); return this; }
  connect() {
    if (this.closed || !session.token) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    // The HttpOnly session cookie authenticates the socket; the token stays out of URLs (and logs).
    const q = new URLSearchParams();
    if (this.lastId) q.set("last_event_id", this.lastId);
    const ws = new WebSocket(`${proto}://${location.host}/api/ws?${q}`);
    this.ws = ws;
    ws.onopen = () => { this.backoff = 500; this.onState("live"); };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "hello") { if (!this.lastId) this.lastId = msg.cursor; return; }
      if (msg.stream_id) this.lastId = msg.stream_id;
      this.onEvent(msg);
    };
    ws.onclose = (ev) => {
      if (this.closed) return;
      if (ev.code === 1008) { this.onState("offline"); session.clear(); document.dispatchEvent(new CustomEvent("xl:logged-out")); return; }
      this.onState("reconnecting");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }
  stop() { this.closed = true; this.ws?.close(); }
}

// --- layout --------------------------------------------------------------------------------
const NAV = [
  ["/", "nav.overview"], ["/wall", "nav.wall"], ["/desk", "nav.desk"], ["/map", "nav.map"],
  ["/responder", "nav.responder"], ["/reports", "nav.reports"], ["/devices", "nav.devices"],
];

export function renderNav(current) {
  const user = session.user;
  const nav = h("nav", { class: "topbar" },
    h("span", { class: "brand" }, t("app.title")),
    h("span", { class: "links" }, NAV.map(([href, key]) =>
      h("a", { href, class: href === current ? "active" : null }, t(key)))),
    h("span", { class: "conn", id: "conn-state" }),
    user ? h("span", { class: "who", title: t(`role.${user.role}`) }, `${user.display_name}（${user.jurisdiction_name || user.jurisdiction_code}）`) : null,
    user ? h("button", { class: "link", id: "logout", onclick: logout }, t("nav.logout")) : null,
  );
  document.body.prepend(nav);
}

export function setConnState(state) {
  const el = document.getElementById("conn-state");
  if (!el) return;
  el.className = `conn ${state}`;
  el.textContent = t(`conn.${state}`);
}

// Pages other than "/" need a session; send the user to the login page otherwise.
export async function requireLogin() {
  if (!session.token) { location.href = `/?next=${encodeURIComponent(location.pathname)}`; return false; }
  try { const me = await api("/api/auth/me"); session.save(session.token, me); return true; }
  catch { location.href = `/?next=${encodeURIComponent(location.pathname)}`; return false; }
}

// Times as the centre reads them: Beijing time (Asia/Shanghai), whatever the browser's own zone.
const BEIJING_PARTS = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", month: "numeric", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
export function fmtTime(iso) {
  if (!iso) return "";
  const p = {};
  for (const part of BEIJING_PARTS.formatToParts(new Date(iso))) p[part.type] = part.value;
  return `${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

export function deadlineText(iso, now = Date.now()) {
  const c = countdown(iso, now);
  return c ? c.text : "";
}

// hh:mm to (or past) a deadline: {text: "剩余 01:05" | "超时 00:12", overdue}. Hours are not
// wrapped at 24 (a 3-day deadline reads 72:00), so the figure is never ambiguous.
export function countdown(iso, now = Date.now()) {
  if (!iso) return null;
  const ms = Date.parse(iso) - now;
  const mins = Math.floor(Math.abs(ms) / 60000);
  const hhmm = `${String(Math.floor(mins / 60)).padStart(2, "0")}:${String(mins % 60).padStart(2, "0")}`;
  return ms >= 0 ? { text: t("sla.left", { t: hhmm }), overdue: false } : { text: t("sla.over", { t: hhmm }), overdue: true };
}

// One clock for every countdown on a page: components that read clock.now re-render (patch a text
// node) once a second; nothing else does.
export const clock = Vue ? Vue.reactive({ now: Date.now() }) : { now: Date.now() };
setInterval(() => { clock.now = Date.now(); }, 1000);

// The message a person reads for a failed action. 409 means someone else acted first (or the case
// moved on): say so in those words, with the server's reason after it.
export function errorText(e) {
  const d = e?.detail;
  const field = e?.errors?.[0];
  const reason = typeof d === "object" && d ? (d.reason || d.message || e.message || "") : (e?.message || d || "");
  if (e?.status === 409) {
    const conflict = t("action.conflict");
    return !reason || reason === conflict || d?.kind === "conflict" ? conflict : `${conflict}（${reason}）`;
  }
  return t("action.failed", { msg: field ? fieldText(field) : reason });
}

// "事件标题：必填" rather than "body.title: Field required": the field's name and the problem from the
// glossary (field.* and error_type.* in zh-CN.json); a message already in Chinese is kept as it is.
const CJK = /[\u4e00-\u9fff]/;
export function fieldText(field) {
  const name = String(field.field || "").split(".").filter((x) => !["body", "query", "path", "form"].includes(x)).pop() || "";
  const label = t(`field.${name}`) !== `field.${name}` ? t(`field.${name}`) : "";
  const problem = CJK.test(field.message || "") ? field.message
    : (t(`error_type.${field.type}`) !== `error_type.${field.type}` ? t(`error_type.${field.type}`) : t("error_type.invalid"));
  return label && !problem.startsWith(label) ? `${label}：${problem}` : problem;
}

// A short alert tone synthesised on the device: no audio file, no network. Browsers allow it after
// the first user gesture on the page (the login click counts on the same tab).
let audioCtx = null;
export function beep(tones = [880, 660, 880]) {
  try {
    audioCtx = audioCtx || new AudioContext();
    if (audioCtx.state === "suspended") audioCtx.resume();
    const start = audioCtx.currentTime;
    tones.forEach((freq, i) => {
      const osc = audioCtx.createOscillator(); const gain = audioCtx.createGain();
      osc.frequency.value = freq; gain.gain.value = 0.2;
      osc.connect(gain).connect(audioCtx.destination);
      osc.start(start + i * 0.25); osc.stop(start + i * 0.25 + 0.2);
    });
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  } catch { /* no audio on this device */ }
}

// The level of a jurisdiction code (6 county, 9 township, 12 village, 15 grid digits).
export function levelOf(code) {
  return { 6: "county", 9: "township", 12: "village", 15: "grid" }[String(code || "").length] || "county";
}

export function distanceText(m) {
  if (m === null || m === undefined) return "";
  return m >= 1000 ? `${(m / 1000).toFixed(1)} 公里` : `${Math.round(m)} 米`;
}

export function toast(text, kind = "info") {
  let box = document.getElementById("toasts");
  if (!box) { box = h("div", { id: "toasts" }); document.body.append(box); }
  const el = h("div", { class: `toast ${kind}` }, text);
  box.append(el);
  setTimeout(() => el.remove(), 4000);
}

export const COLOUR_ORDER = { red: 0, orange: 1, yellow: 2, blue: 3 };
