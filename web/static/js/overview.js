// "/" — login, then the live incident list with snapshots. Vue: a push patches one card.
import { api, fmtTime, LiveEvents, loadI18n, login, renderNav, session, setConnState, t, ApiError, Vue } from "./common.js";

const { h, reactive, computed, createApp } = Vue;

const state = reactive({ view: "loading", incidents: {}, error: "", username: "", password: "", busy: false });

const IncidentCard = {
  name: "IncidentCard",
  props: { inc: Object },
  setup(props) {
    return () => {
      const inc = props.inc;
      return h("article", { class: ["incident-card", `colour-${inc.colour}`, { flash: inc._new }], "data-id": inc.id, "data-jurisdiction": inc.jurisdiction_code }, [
        h("a", { href: `/desk#${inc.id}`, class: "thumb" }, inc.snapshot_url
          ? h("img", { src: `/api/incidents/${inc.id}/snapshot`, alt: t("incident.snapshot"), loading: "lazy" })
          : h("div", { class: "no-snapshot" }, t("incident.no_snapshot"))),
        h("div", { class: "body" }, [
          h("div", { class: "title" }, [h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", inc.title,
            (inc.source_count || 1) > 1 ? h("span", { class: "count-badge" }, `×${inc.source_count}`) : null]),
          h("div", { class: "meta" }, `${t("incident.camera")}：${inc.camera_name || inc.camera_id || "-"}`),
          h("div", { class: "meta" }, `${t("incident.jurisdiction")}：${inc.jurisdiction_name || inc.jurisdiction_code}`),
          h("div", { class: "meta" }, `${t("incident.time")}：${fmtTime(inc.created_at)}`),
          h("div", { class: "meta" }, [`${t("incident.status")}：`, h("span", { class: `status status-${inc.status}` }, t(`status.${inc.status}`))]),
        ]),
      ]);
    };
  },
};

const LoginForm = {
  name: "LoginForm",
  setup() {
    const submit = async (ev) => {
      ev.preventDefault();
      if (state.busy) return;
      state.error = ""; state.busy = true;
      try {
        await login(state.username.trim(), state.password);
        const next = new URLSearchParams(location.search).get("next");
        const target = sameOriginPath(next);
        if (target) { location.href = target; return; }
        await showOverview();
      } catch (e) {
        state.error = e instanceof ApiError && e.status === 429 ? t("login.locked", { s: (String(e.detail).match(/(\d+)s/) || [])[1] || 60 }) : t("login.failed");
      } finally { state.busy = false; }
    };
    return () => h("main", { id: "login-view", class: "login" }, h("form", { id: "login-form", class: "card login-card", autocomplete: "on", onSubmit: submit }, [
      h("h1", {}, t("app.title")), h("h2", {}, t("login.title")),
      h("label", {}, [h("span", {}, t("login.username")), h("input", { name: "username", id: "username", autocomplete: "username", required: true, maxlength: 64, value: state.username, onInput: (e) => { state.username = e.target.value; } })]),
      h("label", {}, [h("span", {}, t("login.password")), h("input", { name: "password", id: "password", type: "password", autocomplete: "current-password", required: true, maxlength: 256, value: state.password, onInput: (e) => { state.password = e.target.value; } })]),
      h("p", { class: "error", id: "login-error", role: "alert" }, state.error),
      h("button", { type: "submit", id: "login-submit", disabled: state.busy }, t("login.submit")),
    ]));
  },
};

// Only a relative path on this site: "//host", "/\\host" (browsers read "\\" as "/"), schemes and
// control characters (the URL parser drops tabs and newlines, turning "/\t/host" into "//host") are refused.
function sameOriginPath(next) {
  if (!next || next.length > 512 || next[0] !== "/" || next[1] === "/" || next.includes("\\")) return null;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(next)) return null;
  let url;
  try { url = new URL(next, location.origin); } catch { return null; }
  return url.origin === location.origin ? url.pathname + url.search + url.hash : null;
}

const Overview = {
  name: "Overview",
  setup() {
    const items = computed(() => Object.values(state.incidents).sort((a, b) => b.id - a.id).slice(0, 200));
    return () => h("main", { id: "overview" }, [
      h("header", { class: "page-head" }, [h("h1", {}, t("incidents.title")), h("span", { id: "incident-count", class: "muted" }, t("incidents.count", { n: Object.keys(state.incidents).length }))]),
      items.value.length ? null : h("p", { id: "incidents-empty", class: "muted" }, t("incidents.empty")),
      h("section", { id: "incident-list", class: "incident-grid", "aria-live": "polite" }, items.value.map((inc) => h(IncidentCard, { key: inc.id, inc }))),
    ]);
  },
};

const Root = { name: "Root", setup() { return () => (state.view === "login" ? h(LoginForm) : state.view === "overview" ? h(Overview) : null); } };

function onEvent(msg) {
  if (!msg.type.startsWith("incident.") || !msg.payload || msg.payload.id === undefined) return;
  const known = state.incidents[msg.payload.id];
  if (known) Object.assign(known, msg.payload);
  else state.incidents[msg.payload.id] = { ...msg.payload, _new: msg.type === "incident.created" };
}

async function showOverview() {
  state.view = "overview";
  renderNav("/");
  // Connect first, then load: an incident created in between arrives on the socket.
  new LiveEvents(onEvent, setConnState).start();
  const data = await api("/api/incidents?limit=200");
  for (const inc of data.items) state.incidents[inc.id] = { ...inc, ...(state.incidents[inc.id] || {}) };
}

document.addEventListener("xl:logged-out", () => { location.href = "/"; });

await loadI18n();
document.title = t("app.title");
createApp(Root).mount("#app");
if (session.token) {
  try { const me = await api("/api/auth/me"); session.save(session.token, me); await showOverview(); }
  catch { session.clear(); state.view = "login"; }
} else {
  state.view = "login";
}
