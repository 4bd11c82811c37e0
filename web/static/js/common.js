// Shared by every page: translations, the API client, the session, the live event socket, the nav bar.
// No framework and no CDN: everything here is served by the Xueliang web process itself.

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

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; this.detail = detail; }
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
  if (!res.ok) throw new ApiError(res.status, (data && data.detail) || res.statusText);
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
    user ? h("span", { class: "who" }, `${user.display_name}（${user.jurisdiction_code}）`) : null,
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

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getMonth() + 1}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function deadlineText(iso) {
  if (!iso) return "";
  const mins = Math.round((new Date(iso) - Date.now()) / 60000);
  return mins >= 0 ? t("common.minutes_left", { n: mins }) : t("common.minutes_over", { n: -mins });
}

export function toast(text, kind = "info") {
  let box = document.getElementById("toasts");
  if (!box) { box = h("div", { id: "toasts" }); document.body.append(box); }
  const el = h("div", { class: `toast ${kind}` }, text);
  box.append(el);
  setTimeout(() => el.remove(), 4000);
}

export const COLOUR_ORDER = { red: 0, orange: 1, yellow: 2, blue: 3 };
