// The desk's action forms as Vue components: each keeps its own state (typed text, ticked units),
// so pushes that patch the incident around it never reset what the operator is entering.
import { api, distanceText, errorText, t, toast, Vue } from "./common.js";

const { h, reactive, ref, computed } = Vue;

let categoriesCache = null;
function categories() {
  categoriesCache = categoriesCache || api("/api/categories").then((r) => r.items).catch((e) => { categoriesCache = null; throw e; });
  return categoriesCache;
}

// Submit once: the button is disabled while the request runs; a 409 (someone else acted first)
// is shown as 已被他人处理 by the caller. The outcome goes to the onDone/onError callbacks, not to
// emitted events: the push of the other desk's action may remove this form before our answer
// comes back, and Vue drops events emitted by an unmounted component.
// The request carries the incident version the operator saw when opening the form: if someone else
// acted meanwhile the server answers 409 and nothing happens twice.
function useSubmit(props, build) {
  const busy = ref(false);
  const seenVersion = props.inc.version;
  const submit = async (ev) => {
    ev?.preventDefault();
    if (busy.value) return;
    const req = build();
    if (!req) return;
    busy.value = true;
    try {
      const body = seenVersion === undefined || req.path ? req.body : { ...req.body, version: seenVersion };
      const updated = await api(req.path || `/api/incidents/${props.inc.id}/${props.action}`, { method: "POST", body });
      props.onDone?.(updated);
    } catch (e) {
      toast(errorText(e), "error");
      props.onError?.(e);
    } finally { busy.value = false; }
  };
  return { busy, submit };
}

const MUTE_CHOICES = [[0, "mute.none"], [30, "mute.30m"], [120, "mute.2h"], [480, "mute.8h"], [1440, "mute.24h"], [10080, "mute.7d"]];

// Fields per action: [name, kind]. kinds: textarea (required), text, rating, colour, category, mute.
const FIELDS = {
  classify: [["category_code", "category"]],
  reject: [["reason", "textarea"]], reopen: [["reason", "textarea"]], escalate: [["reason", "textarea"]],
  false_alarm: [["reason", "textarea"], ["mute_minutes", "mute"]],
  mute: [["minutes", "mute"], ["reason", "text"]],
  resolve: [["result", "textarea"]],
  evaluate: [["satisfaction", "rating"], ["comment", "text"]],
  revisit: [["outcome", "textarea"]],
  colour: [["colour", "colour"], ["reason", "textarea"]],
};

const FieldsForm = {
  name: "FieldsForm",
  props: { inc: Object, action: String, onDone: Function, onError: Function },
  setup(props) {
    const fields = FIELDS[props.action] || [];
    const values = reactive(Object.fromEntries(fields.map(([n, k]) => [n, k === "rating" ? 5 : k === "colour" ? "red" : k === "mute" ? (props.action === "mute" ? 120 : 0) : ""])));
    const cats = ref([]);
    if (fields.some(([, k]) => k === "category")) categories().then((c) => { cats.value = c; if (!values.category_code) values.category_code = props.inc.category_code || c[0]?.code || ""; });
    const { busy, submit } = useSubmit(props, () => {
      const body = {};
      for (const [name, kind] of fields) {
        const v = values[name];
        if (kind === "rating" || kind === "mute") body[name] = Number(v);
        else if (String(v).trim() !== "") body[name] = String(v).trim();
      }
      if (props.action === "false_alarm" && !body.mute_minutes) delete body.mute_minutes;
      return { body };
    });
    const bind = (name) => ({ name, value: values[name], onInput: (e) => { values[name] = e.target.value; }, onChange: (e) => { values[name] = e.target.value; } });
    const control = ([name, kind]) => {
      if (kind === "textarea") return h("textarea", { ...bind(name), required: true, rows: 2, placeholder: t(`field.${name}`) });
      if (kind === "text") return h("input", { ...bind(name), placeholder: t(`field.${name}`) });
      if (kind === "rating") return h("select", bind(name), [5, 4, 3, 2, 1].map((n) => h("option", { value: n }, "★".repeat(n))));
      if (kind === "colour") return h("select", bind(name), ["red", "orange", "yellow", "blue"].map((c) => h("option", { value: c }, t(`colour.${c}`))));
      if (kind === "category") return h("select", { ...bind(name), required: true }, cats.value.map((c) => h("option", { key: c.code, value: c.code }, c.name)));
      if (kind === "mute") return h("select", { ...bind(name), class: "mute-select" }, MUTE_CHOICES.filter(([m]) => props.action !== "mute" || m > 0).map(([m, key]) => h("option", { value: m }, t(key))));
      return null;
    };
    return () => h("form", { class: "action-form", "data-action": props.action, "data-incident": props.inc.id, onSubmit: submit }, [
      ...fields.map((f) => h("label", { key: f[0] }, [h("span", { class: "muted small" }, t(`field.${f[0]}`)), control(f)])),
      h("button", { type: "submit", class: "do-action", disabled: busy.value }, t(`action.${props.action}`)),
    ]);
  },
};

export const ACTION_FORMS = Object.fromEntries(Object.keys(FIELDS).map((a) => [a, FieldsForm]));

// 派单 (吹哨报到: several units at once). The incident's own jurisdiction chain comes first (the
// server orders the recommendations that way); every other unit in the operator's scope can still
// be chosen from the full list below. Status and distance beside each unit.
export const DispatchForm = {
  name: "DispatchForm",
  props: { inc: Object, action: String, onDone: Function, onError: Function },
  setup(props) {
    const recs = ref([]); const others = ref([]); const loading = ref(true);
    const chosen = reactive({});
    const note = ref("");
    const showAll = ref(false);
    Promise.all([
      api(`/api/incidents/${props.inc.id}/recommendations?limit=10`).then((r) => r.items).catch(() => []),
      api("/api/responders").then((r) => r.items).catch(() => []),
    ]).then(([r, all]) => {
      recs.value = r;
      const recommended = new Set(r.map((x) => x.responder_id));
      others.value = all.filter((x) => !recommended.has(x.id) && x.active !== false);
      loading.value = false;
    });
    const ids = computed(() => Object.keys(chosen).filter((k) => chosen[k]).map(Number));
    const { busy, submit } = useSubmit(props, () => {
      if (!ids.value.length) { toast(t("dispatch.choose"), "error"); return null; }
      return { body: { responder_ids: ids.value, note: note.value.trim() } };
    });
    const unitRow = (id, name, meta, extraClass = "") => h("label", { key: id, class: `unit-row ${extraClass}`, "data-responder": id }, [
      h("input", { type: "checkbox", value: id, checked: Boolean(chosen[id]), onChange: (e) => { chosen[id] = e.target.checked; } }),
      h("span", { class: "unit-name" }, name), h("span", { class: "muted small" }, meta),
    ]);
    return () => h("form", { class: "action-form dispatch-form", "data-action": "dispatch", "data-incident": props.inc.id, onSubmit: submit }, [
      loading.value ? h("p", { class: "muted" }, t("common.loading")) : null,
      h("div", { class: "unit-list recommended" }, recs.value.map((r) => unitRow(r.responder_id, r.name,
        [r.chain, r.status_label || (r.status ? t(`responder_status.${r.status}`) : ""), distanceText(r.distance_m), r.department].filter(Boolean).join(" · "), r.local ? "in-chain" : ""))),
      others.value.length ? h("button", { type: "button", class: "link show-all", onClick: () => { showAll.value = !showAll.value; } }, showAll.value ? t("dispatch.hide_all") : t("dispatch.show_all", { n: others.value.length })) : null,
      showAll.value ? h("div", { class: "unit-list others" }, others.value.map((r) => unitRow(r.id, r.name,
        [r.status ? t(`responder_status.${r.status}`) : "", r.department || "", r.jurisdiction_name || r.jurisdiction_code].filter(Boolean).join(" · ")))) : null,
      h("input", { name: "note", value: note.value, placeholder: t("field.note"), onInput: (e) => { note.value = e.target.value; } }),
      h("button", { type: "submit", class: "do-action", disabled: busy.value }, ids.value.length > 1 ? t("dispatch.several", { n: ids.value.length }) : t("action.dispatch")),
    ]);
  },
};

// 布防时间: per rule on this camera, armed all day or only in the chosen windows (days + hh:mm–hh:mm,
// a window ending before it starts spans midnight), and the mute in force with a button to lift it.
// GET /api/cameras/{id}/rules; PUT/DELETE …/rules/{rule}/schedule; DELETE /api/alarm-mutes/{id}.
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
export const ScheduleEditor = {
  name: "ScheduleEditor",
  props: { cameraId: String, cameraName: String },
  setup(props) {
    const open = ref(false);
    const state = reactive({ rules: [], error: "", loaded: false, busy: false });
    const base = () => `/api/cameras/${encodeURIComponent(props.cameraId)}/rules`;
    const load = async () => {
      try {
        const r = await api(base());
        state.rules = (r.items || []).map((x) => ({
          rule_id: x.rule_id, kind: x.kind, source: x.effective?.source, mute: x.mute,
          enabled: x.effective?.enabled !== false,
          windows: (x.effective?.windows || []).map((w) => ({ start: w.start, end: w.end, days: [...(w.days || DAYS)] })),
        }));
        state.loaded = true; state.error = "";
      } catch (e) { state.error = errorText(e); }
    };
    const run = async (fn, done) => {
      state.busy = true;
      try { await fn(); toast(t(done), "ok"); await load(); } catch (e) { toast(errorText(e), "error"); } finally { state.busy = false; }
    };
    const save = (rule) => run(() => api(`${base()}/${encodeURIComponent(rule.rule_id)}/schedule`, { method: "PUT", body: { enabled: rule.enabled, windows: rule.windows } }), "schedule.saved");
    const reset = (rule) => run(() => api(`${base()}/${encodeURIComponent(rule.rule_id)}/schedule`, { method: "DELETE" }), "schedule.reset_done");
    const lift = (m) => run(() => api(`/api/alarm-mutes/${m.id}`, { method: "DELETE" }), "mute.lifted");
    const ruleName = (rule) => `${t(`rule.${rule.kind}`) === `rule.${rule.kind}` ? rule.kind : t(`rule.${rule.kind}`)}（${rule.rule_id}）`;
    const windowRow = (rule, w, i) => h("div", { key: i, class: "window-row" }, [
      h("input", { type: "time", value: w.start, onInput: (e) => { w.start = e.target.value; }, "aria-label": t("schedule.start") }), "–",
      h("input", { type: "time", value: w.end, onInput: (e) => { w.end = e.target.value; }, "aria-label": t("schedule.end") }),
      h("span", { class: "days" }, DAYS.map((d) => h("label", { key: d, class: "day" }, [
        h("input", { type: "checkbox", checked: w.days.includes(d), onChange: (e) => { w.days = e.target.checked ? DAYS.filter((x) => x === d || w.days.includes(x)) : w.days.filter((x) => x !== d); } }), t(`day.${d}`)]))),
      h("button", { type: "button", class: "link", title: t("schedule.remove"), onClick: () => rule.windows.splice(i, 1) }, "×"),
    ]);
    return () => h("details", { class: "schedule-editor", open: open.value, onToggle: (e) => { open.value = e.target.open; if (open.value) load(); } }, [
      h("summary", {}, t("schedule.title")),
      state.error ? h("p", { class: "error" }, state.error) : null,
      state.rules.map((rule) => h("fieldset", { key: rule.rule_id, class: "rule-schedule", "data-rule": rule.rule_id }, [
        h("legend", {}, ruleName(rule)),
        rule.mute ? h("p", { class: "mute-line", "data-mute": rule.mute.id }, [
          `${t(rule.mute.kind === "false_alarm" ? "mute.kind_false_alarm" : "mute.kind_mute")} ${t("mute.until", { at: new Date(rule.mute.until).toLocaleString("zh-CN", { hour12: false }) })}`,
          rule.mute.suppressed ? ` · ${t("mute.suppressed", { n: rule.mute.suppressed })}` : "", " ",
          h("button", { type: "button", class: "link lift-mute", onClick: () => lift(rule.mute) }, t("mute.lift"))]) : null,
        h("label", { class: "inline" }, [h("input", { type: "checkbox", name: "enabled", checked: rule.enabled, onChange: (e) => { rule.enabled = e.target.checked; } }), t("schedule.enabled")]),
        h("p", { class: "muted small" }, [rule.windows.length ? t("schedule.windows") : t("schedule.always"), rule.source === "override" ? ` ${t("schedule.overridden")}` : ""]),
        ...rule.windows.map((w, i) => windowRow(rule, w, i)),
        h("div", { class: "window-tools" }, [
          h("button", { type: "button", class: "link add-window", onClick: () => rule.windows.push({ start: "22:00", end: "06:00", days: [...DAYS] }) }, t("schedule.add")),
          h("button", { type: "button", class: "secondary save-schedule", disabled: state.busy, onClick: () => save(rule) }, t("common.save")),
          rule.source === "override" ? h("button", { type: "button", class: "link", disabled: state.busy, onClick: () => reset(rule) }, t("schedule.reset")) : null,
        ]),
      ])),
      state.loaded && !state.rules.length ? h("p", { class: "muted" }, t("schedule.no_rules")) : null,
    ]);
  },
};
