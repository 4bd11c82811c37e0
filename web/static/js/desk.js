// 警情处置台: the queue (colour, then deadline) and the selected incident's detail and actions.
// Vue 3, render functions: a push patches the incident in the store and Vue patches the DOM, so an
// open form, typed text, a playing clip or a live view survive any number of pushes.
import { api, beep, fieldText, COLOUR_ORDER, distanceText, errorText, fmtTime, levelOf, LiveEvents, loadI18n, renderNav, requireLogin, session, setConnState, t, toast, Vue } from "./common.js";
import { deskSlots, deskStore } from "./desk-slots.js";
import { LiveVideo, liveStateText, SnapshotBoxes, slaCountdowns } from "./incident-view.js";
import { ACTION_FORMS, DispatchForm, ScheduleEditor } from "./desk-forms.js";

const { h, reactive, ref, computed, watch, createApp } = Vue;

const store = deskStore;
// The selected incident's detail (with allowed_actions), timeline and evidence; patched by pushes.
const sel = reactive({ detail: null, timeline: [], evidence: null, error: "", openAction: null, live: false });
// Open supervised (督办) incidents that this desk's level must act on: id -> title
const supervision = reactive({ items: {}, dismissed: {} });
const myLevel = () => levelOf(session.user?.jurisdiction_code);

// Fields whose change means the detail's allowed actions (and the timeline) moved on; a push that only
// merges another alert changes none of them and is patched in without any fetch.
const STATE_FIELDS = ["status", "handling_level", "escalation_count", "supervised", "colour", "category_code", "assigned_responder_ids", "satisfaction"];

function deadlineOf(inc) { return inc.resolve_deadline ? Date.parse(inc.resolve_deadline) : Infinity; }

// --- loading the selected incident ---------------------------------------------------------
let timelineTimer = null;
let lastTimelineAt = 0;

async function loadDetail(id) {
  const [inc, timeline] = await Promise.all([api(`/api/incidents/${id}`), api(`/api/incidents/${id}/timeline`)]);
  if (store.selectedId !== id) return;
  store.incidents[inc.id] = { ...(store.incidents[inc.id] || {}), ...inc };
  sel.detail = inc; sel.timeline = timeline.items; sel.error = "";
  lastTimelineAt = Date.now();
  loadEvidence(id);
}

async function loadEvidence(id) {
  try {
    const ev = await api(`/api/incidents/${id}/evidence`);
    if (store.selectedId === id) sel.evidence = ev;
  } catch { if (store.selectedId === id) sel.evidence = null; }  // older server: the single snapshot/clip
}

async function refreshDetail(id) {
  try {
    const inc = await api(`/api/incidents/${id}`);
    if (store.selectedId !== id || !sel.detail) return;
    Object.assign(sel.detail, inc);
  } catch (e) { sel.error = errorText(e); }
}

// The timeline is re-read at most every 5 s while alerts keep merging (its rows are keyed, so Vue
// patches the merge row's counter and appends new rows), and at once after a state change.
function scheduleTimeline(id, now = false) {
  clearTimeout(timelineTimer);
  const wait = now ? 0 : Math.max(0, 5000 - (Date.now() - lastTimelineAt));
  timelineTimer = setTimeout(async () => {
    lastTimelineAt = Date.now();
    try {
      const tl = await api(`/api/incidents/${id}/timeline`);
      if (store.selectedId === id) sel.timeline = patchList(sel.timeline, tl.items);
    } catch { /* next push retries */ }
  }, wait);
}

// Keep the row objects that did not change, so Vue has nothing to patch for them.
function patchList(old, fresh) {
  const byKey = new Map(old.map((e) => [rowKey(e), e]));
  return fresh.map((e) => {
    const prev = byKey.get(rowKey(e));
    if (!prev) return e;
    for (const k of Object.keys(e)) if (JSON.stringify(prev[k]) !== JSON.stringify(e[k])) prev[k] = e[k];
    return prev;
  });
}
function rowKey(e) { return e.id ?? `${e.at}-${e.action}`; }

function select(id) {
  if (store.selectedId === id && sel.detail) return;
  store.selectedId = id;
  if (location.hash !== `#${id}`) history.replaceState(null, "", `#${id}`);
  sel.detail = null; sel.timeline = []; sel.evidence = null; sel.error = ""; sel.openAction = null; sel.live = false;
  loadDetail(id).catch((e) => { if (store.selectedId === id) sel.error = t("common.error", { msg: e.status === 404 ? t("incident.not_found") : e.message }); });
}
store.select = select;

// --- pushes --------------------------------------------------------------------------------
const pushCount = reactive({ selected: 0 });

function onEvent(msg) {
  if (!msg.type.startsWith("incident.") || msg.payload?.id === undefined) return;
  const inc = msg.payload;
  const known = store.incidents[inc.id];
  if (known) Object.assign(known, inc); else store.incidents[inc.id] = { ...inc, _new: msg.type === "incident.created" };
  watchSupervision(store.incidents[inc.id], known ? known.supervised : false);
  if (inc.id !== store.selectedId || !sel.detail) return;
  pushCount.selected += 1;
  document.body.dataset.selectedPushes = String(pushCount.selected);
  const changed = STATE_FIELDS.some((f) => JSON.stringify(sel.detail[f]) !== JSON.stringify(inc[f]));
  Object.assign(sel.detail, inc);
  if (changed) { refreshDetail(inc.id); scheduleTimeline(inc.id, true); loadEvidenceSoon(inc.id); } else { scheduleTimeline(inc.id); loadEvidenceSoon(inc.id); }
}

let evidenceTimer = null;
function loadEvidenceSoon(id) {
  if (evidenceTimer) return;
  evidenceTimer = setTimeout(() => { evidenceTimer = null; loadEvidence(id); }, 5000);
}

// 督办 on the desk of the level that must act: a banner and a tone when a case becomes supervised.
function watchSupervision(inc, wasSupervised) {
  // 督办, or 上报 to this level: the level handling the case now is this desk's
  const mine = (inc.supervised || inc.status === "escalated") && inc.is_open !== false && (inc.handling_level || levelOf(inc.jurisdiction_code)) === myLevel();
  if (mine) {
    const isNew = !supervision.items[inc.id];
    supervision.items[inc.id] = inc.title;
    if (isNew && !wasSupervised && !supervision.dismissed[inc.id]) beep([988, 784, 988, 784]);
  } else {
    delete supervision.items[inc.id];
  }
}

// --- components ----------------------------------------------------------------------------
function slot(name, props = {}) {
  return deskSlots[name].map((c, i) => h(c, { key: `${name}-${i}`, ...props }));
}

const SuperviseBanner = {
  name: "SuperviseBanner",
  setup() {
    return () => {
      const ids = Object.keys(supervision.items).filter((id) => !supervision.dismissed[id]);
      if (!ids.length) return null;
      return h("div", { class: "banner supervise-banner", role: "alert", id: "supervise-banner" }, [
        h("strong", {}, t("desk.supervise_banner", { n: ids.length })), " ",
        ids.map((id) => h("a", { key: id, href: `#${id}`, class: "banner-link", onClick: (ev) => { ev.preventDefault(); select(Number(id)); } }, `#${id} ${supervision.items[id]}`)),
        h("button", { class: "link", onClick: () => ids.forEach((id) => { supervision.dismissed[id] = true; }) }, t("desk.ack_banner")),
      ]);
    };
  },
};

const QueueItem = {
  name: "QueueItem",
  props: { inc: Object, selected: Boolean },
  setup(props) {
    return () => {
      const inc = props.inc;
      return h("li", {
        class: ["queue-item", `colour-${inc.colour}`, { selected: props.selected, flash: inc._new }],
        "data-id": inc.id, "data-status": inc.status, "data-camera": inc.camera_id || null, onClick: () => select(inc.id),
      }, [
        h("div", { class: "q-title" }, [h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", inc.title,
          (inc.source_count || 1) > 1 ? h("span", { class: "count-badge", title: t("incident.alert_count") }, `×${inc.source_count}`) : null]),
        h("div", { class: "q-meta" }, [
          h("span", { class: `status status-${inc.status}` }, t(`status.${inc.status}`)),
          inc.supervised ? h("span", { class: "flag supervised" }, t("incident.supervised")) : null,
          ...slaCountdowns(inc),
        ]),
        h("div", { class: "q-meta muted" }, `${inc.jurisdiction_name || inc.jurisdiction_code} · ${fmtTime(inc.created_at)}`),
      ]);
    };
  },
};

const IntakeForm = {
  name: "IntakeForm",
  emits: ["done"],
  setup(_, { emit }) {
    const form = reactive({ source: "hotline_12345", title: "", description: "", category_code: "", jurisdiction_code: "", address: "", reporter_name: "", reporter_phone: "" });
    const cats = ref([]); const places = ref([]); const busy = ref(false);
    Promise.all([api("/api/categories"), api("/api/jurisdictions?max_level=village")]).then(([c, p]) => {
      cats.value = c.items; places.value = p.items;
      if (!form.jurisdiction_code && p.items.length) form.jurisdiction_code = p.items[0].code;
    });
    const input = (name, extra = {}) => h("input", { name, value: form[name], onInput: (e) => { form[name] = e.target.value; }, ...extra });
    const submit = async (ev) => {
      ev.preventDefault();
      if (busy.value) return;
      busy.value = true;
      const body = {};
      for (const [k, v] of Object.entries(form)) if (String(v).trim()) body[k] = String(v).trim();
      try {
        const r = await api("/api/intake/reports", { method: "POST", body });
        toast(t(r.duplicate ? "intake.duplicate" : "intake.created", { id: r.incident.id }), "ok");
        store.incidents[r.incident.id] = { ...(store.incidents[r.incident.id] || {}), ...r.incident };
        emit("done", r.incident.id);
      } catch (e) {
        toast(errorText(e), "error");
      } finally { busy.value = false; }
    };
    return () => h("form", { id: "report-form", class: "action-form report-form", onSubmit: submit }, [
      h("select", { name: "source", value: form.source, onChange: (e) => { form.source = e.target.value; } },
        ["hotline_12345", "police_110", "citizen", "grid"].map((s) => h("option", { value: s }, t(`source.${s}`)))),
      input("title", { required: true, maxlength: 256, placeholder: t("intake.title") }),
      h("textarea", { name: "description", rows: 2, maxlength: 10000, placeholder: t("intake.description"), value: form.description, onInput: (e) => { form.description = e.target.value; } }),
      h("select", { name: "category_code", id: "report-category", value: form.category_code, onChange: (e) => { form.category_code = e.target.value; } },
        [h("option", { value: "" }, t("intake.no_category")), ...cats.value.map((c) => h("option", { key: c.code, value: c.code }, c.name))]),
      h("select", { name: "jurisdiction_code", id: "report-jurisdiction", value: form.jurisdiction_code, onChange: (e) => { form.jurisdiction_code = e.target.value; } },
        places.value.map((j) => h("option", { key: j.code, value: j.code }, `${j.name}（${j.code}）`))),
      input("address", { maxlength: 256, placeholder: t("intake.address") }),
      input("reporter_name", { maxlength: 64, placeholder: t("intake.reporter") }),
      input("reporter_phone", { maxlength: 32, placeholder: t("intake.phone") }),
      h("button", { type: "submit", disabled: busy.value }, t("intake.submit")),
    ]);
  },
};

async function importFile(ev) {
  const file = ev.target.files[0];
  if (!file) return;
  const data = new FormData(); data.append("file", file);
  const format = file.name.toLowerCase().endsWith(".json") ? "json" : "csv";
  try {
    const r = await api(`/api/intake/import?format=${format}`, { method: "POST", form: data });
    toast(t("intake.imported", { created: r.created, merged: r.merged, duplicates: r.duplicates, problems: r.problems.length }), r.problems.length ? "error" : "ok");
    for (const p of r.problems.slice(0, 5)) toast(t("intake.problem", { line: p.line, msg: fieldText({ field: p.field, message: p.message, type: "" }) }), "error");
  } catch (e) { toast(errorText(e), "error"); }
  ev.target.value = "";
}

const QueuePane = {
  name: "QueuePane",
  setup() {
    const openOnly = ref(true);
    const colour = ref("");
    const intakeOpen = ref(false);
    const list = computed(() => Object.values(store.incidents)
      .filter((i) => (!openOnly.value || i.is_open !== false) && (!colour.value || i.colour === colour.value))
      .filter((i) => Object.values(store.queueFilters).every((f) => f(i)))
      .sort((a, b) => (COLOUR_ORDER[a.colour] ?? 9) - (COLOUR_ORDER[b.colour] ?? 9) || deadlineOf(a) - deadlineOf(b) || b.id - a.id));
    return () => h("section", { class: "queue-pane" }, [
      h("header", { class: "pane-head" }, [
        h("h1", {}, t("nav.desk")),
        h("label", { class: "inline" }, [h("input", { type: "checkbox", id: "open-only", checked: openOnly.value, onChange: (e) => { openOnly.value = e.target.checked; } }), " ", t("desk.open_only")]),
        h("select", { id: "colour-filter", value: colour.value, onChange: (e) => { colour.value = e.target.value; } },
          ["", "red", "orange", "yellow", "blue"].map((c) => h("option", { value: c }, c ? t(`colour.${c}`) : t("common.all")))),
      ]),
      h("div", { class: "intake-tools" }, [
        h("button", { id: "new-report", class: "secondary", onClick: () => { intakeOpen.value = !intakeOpen.value; } }, t("intake.new")),
        h("label", { class: "button-link file-label" }, [t("intake.import"),
          h("input", { id: "import-file", type: "file", accept: ".csv,.json,text/csv,application/json", hidden: true, onChange: importFile })]),
      ]),
      ...slot("queue-tools"),
      intakeOpen.value ? h(deskSlots["intake-form"][0] || IntakeForm, { onDone: (id) => { intakeOpen.value = false; select(id); } }) : null,
      h("ol", { id: "queue", class: "queue", "aria-live": "polite" }, list.value.map((inc) => h(QueueItem, { key: inc.id, inc, selected: inc.id === store.selectedId }))),
      list.value.length ? null : h("p", { id: "queue-empty", class: "muted" }, t("incidents.empty")),
      ...slot("queue-footer"),
    ]);
  },
};

// Evidence: first / latest / best snapshot and the clips covering the incident's window. Each is
// keyed by its URL, so a push that only raises the alert count leaves a playing clip alone.
const Evidence = {
  name: "Evidence",
  props: { inc: Object, evidence: Object },
  setup(props) {
    return () => {
      const inc = props.inc; const ev = props.evidence;
      // the incident's own snapshot carries its detection boxes; latest and best (labelled JPEGs) follow,
      // each shown once even when one alert is first, latest and best at once
      const shots = [];
      const seen = new Set();
      if (inc.snapshot_url) {
        shots.push({ kind: "first", url: `/api/incidents/${inc.id}/snapshot`, boxes: inc.boxes, frame_width: inc.frame_width, frame_height: inc.frame_height, at: ev?.snapshots?.first?.at });
        if (ev?.snapshots?.first) seen.add(ev.snapshots.first.source_id);
      }
      for (const kind of ["first", "latest", "best"]) {
        const s = ev?.snapshots?.[kind];
        if (!s || seen.has(s.source_id)) continue;
        seen.add(s.source_id);
        shots.push({ kind, url: s.url, at: s.at });
      }
      const clips = ev?.clips?.length ? ev.clips : inc.has_clip ? [{ url: `/api/incidents/${inc.id}/clip` }] : [];
      return h("div", { class: "evidence" }, [
        h("div", { class: "media-row" }, shots.map((s, i) => h(SnapshotBoxes, {
          key: s.url, src: s.url, boxes: s.boxes || [], frameWidth: s.frame_width, frameHeight: s.frame_height,
          label: t(`evidence.${s.kind}`) + (s.at ? ` ${fmtTime(s.at)}` : ""),
          className: i === 0 ? "snap detail-snap" : "snap evidence-snap",
        }))),
        clips.length ? h("div", { class: "clips" }, clips.map((c) => c.state === "missing"
          ? h("figure", { key: c.url, class: "clip-box clip-missing" }, [
              h("p", { class: "muted" }, t("evidence.clip_missing")),
              h("figcaption", { class: "muted small" }, `${t("evidence.clip")} ${fmtTime(c.at)}`),
            ])
          : h("figure", { key: `${c.url}#${clipRetry[c.url] || 0}`, class: "clip-box" }, [
          // a clip still being recorded cannot be played yet: retry in 5 s (a loaded clip is never reloaded)
          h("video", { src: clipRetry[c.url] ? `${c.url}?retry=${clipRetry[c.url]}` : c.url, controls: true, class: "clip", preload: "metadata",
            onError: () => { setTimeout(() => { clipRetry[c.url] = (clipRetry[c.url] || 0) + 1; }, 5000); } }),
          h("figcaption", { class: "muted small" }, `${t("evidence.clip")} ${fmtTime(c.at)}`),
        ]))) : h("p", { class: "muted small" }, t("incident.no_clip")),
      ]);
    };
  },
};

const clipRetry = reactive({});

const TimelineRow = {
  name: "TimelineRow",
  props: { e: Object },
  setup(props) {
    return () => {
      const e = props.e;
      const label = t(`action.${e.action}`) === `action.${e.action}` ? e.action : t(`action.${e.action}`);
      const count = e.count ?? e.detail?.count;
      const last = e.latest_at ?? e.detail?.latest_at;
      const note = e.detail?.reason || e.detail?.result || e.detail?.note || e.detail?.outcome || e.detail?.comment;
      return h("li", { "data-action": e.action }, [
        h("span", { class: "muted" }, fmtTime(e.at)), " ", e.actor === "system" ? t("actor.system") : (e.actor_name || e.actor), " · ", label,
        e.to_status ? ` → ${t(`status.${e.to_status}`)}` : "",
        count > 1 ? h("span", { class: "count-badge merge-count" }, t("timeline.merged", { n: count, at: fmtTime(last) })) : null,
        note ? h("div", { class: "muted" }, note) : null,
      ]);
    };
  },
};

// Metres between two WGS-84 points (haversine): the unit's last reported position to the case.
function metresBetween(lat1, lon1, lat2, lon2) {
  const r = 6371000, rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(a));
}

// The units on the case: assignment state, the unit's own status and its distance from the case,
// re-read when an assignment changes (not on every merged alert).
const unitCache = reactive({});
const AssignedUnits = {
  name: "AssignedUnits",
  props: { inc: Object },
  setup(props) {
    const refresh = () => {
      for (const a of props.inc.assignments || []) {
        if (!a.responder_id) continue;
        api(`/api/responders/${a.responder_id}`).then((r) => { unitCache[a.responder_id] = r; }).catch(() => {});
      }
    };
    watch(() => (props.inc.assignments || []).map((a) => `${a.id}:${a.status}`).join(","), refresh, { immediate: true });
    return () => {
      const inc = props.inc;
      const list = inc.assignments || [];
      if (!list.length) return h("dd", { id: "detail-assignments" }, "-");
      return h("dd", { id: "detail-assignments" }, h("ul", { class: "units" }, list.map((a) => {
        const unit = a.responder_id ? unitCache[a.responder_id] : null;
        const dist = unit && unit.lat != null && inc.lat != null ? distanceText(metresBetween(unit.lat, unit.lon, inc.lat, inc.lon)) : "";
        return h("li", { key: a.id, "data-responder": a.responder_id, "data-assignment": a.status }, [
          h("strong", {}, a.responder_name || a.department || "-"), ` ${t(`assignment.${a.status}`)}`,
          unit ? h("span", { class: "muted" }, ` · ${t(`responder_status.${unit.status}`)}${dist ? ` · ${dist}` : ""}`) : null,
          unit?.phone ? [" ", h("a", { href: `tel:${unit.phone}` }, unit.phone)] : null,
        ]);
      })));
    };
  },
};

const ActionBar = {
  name: "ActionBar",
  props: { inc: Object },
  setup(props) {
    const busy = ref(false);
    const onDone = (updated) => {
      sel.openAction = null;
      toast(t("action.done"), "ok");
      if (updated?.id) { Object.assign(store.incidents[updated.id] ||= {}, updated); if (sel.detail?.id === updated.id) Object.assign(sel.detail, updated); refreshDetail(updated.id); scheduleTimeline(updated.id, true); }
    };
    const quick = async (action) => {
      if (busy.value) return;
      busy.value = true;
      const body = props.inc.version === undefined ? {} : { version: props.inc.version };
      try { onDone(await api(`/api/incidents/${props.inc.id}/${action}`, { method: "POST", body })); }
      catch (e) { toast(errorText(e), "error"); showError(e); }
      finally { busy.value = false; }
    };
    return () => {
      const inc = props.inc;
      const actions = (inc.allowed_actions || []).filter((a) => a !== "escalate" || levelAbove(inc));
      // 屏蔽 is not a step of the case's workflow: offered on any video incident to whoever handles incidents
      if (inc.camera_id && session.can("handle") && !actions.includes("mute")) actions.push("mute");
      return h("div", { class: "actions", id: "actions" }, [
        actions.length ? null : h("p", { class: "muted" }, t("incident.no_actions")),
        ...actions.map((action) => h("div", { key: action, class: "action-slot" }, [
          h("button", { class: sel.openAction === action ? "secondary active" : "secondary", "data-action": action, disabled: busy.value,
            onClick: () => { if (ACTION_FORMS[action] || action === "dispatch") sel.openAction = sel.openAction === action ? null : action; else quick(action); } }, t(`action.${action}`)),
          sel.openAction === action ? h(action === "dispatch" ? DispatchForm : ACTION_FORMS[action], { key: `${inc.id}-${action}`, inc, action, onDone, onError: showError }) : null,
        ])),
      ]);
    };
  },
};

function showError(e) {
  sel.error = errorText(e);
  setTimeout(() => { if (sel.error === errorText(e)) sel.error = ""; }, 8000);
}

// 上报上级 goes one level up from the case's current level; there is none above the county.
function levelAbove(inc) {
  return (inc.handling_level || levelOf(inc.jurisdiction_code)) !== "county";
}

const DetailPane = {
  name: "DetailPane",
  setup() {
    const liveState = ref("");
    return () => {
      if (!store.selectedId) return h("section", { class: "detail-pane", id: "detail" }, h("p", { class: "muted" }, t("incident.select")));
      if (!sel.detail) return h("section", { class: "detail-pane", id: "detail" }, sel.error ? h("p", { class: "error" }, sel.error) : h("p", { class: "muted" }, t("common.loading")));
      const inc = sel.detail;
      const alerts = inc.source_count || 1;
      return h("section", { class: "detail-pane", id: "detail", "data-id": inc.id }, [
        ...slot("detail-tools", { incident: inc }),
        h("header", { class: "detail-head" }, [
          h("h2", {}, [h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", inc.title]),
          h("div", { class: "muted" }, `#${inc.id} · ${t(`source.${inc.source}`)} · ${inc.category || ""}`),
          h("div", { class: "sla-row", id: "detail-sla" }, slaCountdowns(inc)),
        ]),
        sel.error ? h("p", { class: "error", role: "alert", id: "action-error" }, sel.error) : null,
        h("dl", { class: "facts" }, [
          h("dt", {}, t("incident.status")), h("dd", { id: "detail-status" }, [t(`status.${inc.status}`), inc.supervised ? h("span", { class: "flag supervised" }, t("incident.supervised")) : null]),
          h("dt", {}, t("incident.level")), h("dd", { id: "detail-level" }, t(`level.${inc.handling_level || levelOf(inc.jurisdiction_code)}`) + (inc.escalation_count ? ` · ${t("incident.escalations", { n: inc.escalation_count })}` : "")),
          h("dt", {}, t("incident.alert_count")), h("dd", { id: "detail-alerts" }, t("incident.alerts_text", { n: alerts, at: fmtTime(inc.last_source_at || inc.created_at) })),
          h("dt", {}, t("incident.camera")), h("dd", {}, inc.camera_name || inc.camera_id || "-"),
          h("dt", {}, t("incident.jurisdiction")), h("dd", {}, inc.jurisdiction_name || inc.jurisdiction_code),
          inc.address ? [h("dt", {}, t("incident.address")), h("dd", {}, inc.address)] : null,
          h("dt", {}, t("incident.time")), h("dd", {}, fmtTime(inc.created_at)),
          h("dt", {}, t("incident.assignments")), h(AssignedUnits, { inc }),
        ]),
        h(Evidence, { inc, evidence: sel.evidence }),
        h("h3", {}, t("incident.actions")),
        h(ActionBar, { inc }),
        inc.camera_id ? h("details", { class: "live-box", open: sel.live, onToggle: (ev) => { sel.live = ev.target.open; } }, [
          h("summary", {}, [t("incident.live"), " ", h("span", { class: "muted live-state" }, liveState.value)]),
          sel.live ? h(LiveVideo, { cameraId: inc.camera_id, token: session.token, onState: (s) => { liveState.value = s === "playing" ? "" : s === "unavailable" ? t("wall.no_live") : liveStateText(s); } }) : null,
        ]) : null,
        inc.camera_id ? h(ScheduleEditor, { key: `sched-${inc.camera_id}`, cameraId: inc.camera_id, cameraName: inc.camera_name }) : null,
        h("h3", {}, t("incident.timeline")),
        h("ol", { class: "timeline" }, sel.timeline.map((e) => h(TimelineRow, { key: rowKey(e), e }))),
      ]);
    };
  },
};

const DeskApp = {
  name: "DeskApp",
  setup() {
    return () => h("div", { class: "desk-root" }, [
      h(SuperviseBanner),
      ...slot("header"),
      h("main", { class: "desk" }, [h(QueuePane), h(DetailPane)]),
    ]);
  },
};

await loadI18n();
document.title = t("nav.desk");
if (await requireLogin()) {
  renderNav("/desk");
  createApp(DeskApp).mount("#desk-app");
  new LiveEvents(onEvent, setConnState).start();
  // every open case (most urgent first), plus the latest ones for context
  const [queue, recent] = await Promise.all([api("/api/incidents/queue"), api("/api/incidents?limit=200")]);
  for (const inc of [...recent.items, ...queue.items]) {
    store.incidents[inc.id] = { ...inc, ...(store.incidents[inc.id] || {}) };
    watchSupervision(store.incidents[inc.id], true);  // already supervised on load: banner, no tone
  }
  const fromHash = () => { const id = Number(location.hash.slice(1)); if (id && id !== store.selectedId) select(id); };
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.body.dataset.ready = "1";
}
