// 受理登记: a call taken at the desk (12345 / 110 / 群众 / 网格员). Every field has a label; 来电时间 defaults
// to now (Beijing time); categories are those a person can report — video-rule and device categories are
// never offered — grouped with the usual ones for the chosen source first.
import { api, errorText, t, toast, Vue } from "./common.js";
import { deskStore, registerDeskComponent } from "./desk-slots.js";
import { beijingInput, fromBeijingInput, MACHINE_CATEGORIES, PERSON_SOURCES } from "./glossary.js";

const { h, reactive, ref } = Vue;

// For each source, which group of categories comes first.
const FIRST_GROUP = { hotline_12345: "civic", citizen: "civic", grid: "civic", police_110: "police" };

function blank() {
  return { source: "hotline_12345", reported_at: beijingInput(), title: "", description: "", category_code: "", jurisdiction_code: "", address: "", reporter_name: "", reporter_phone: "" };
}

const IntakeForm = {
  name: "LabelledIntakeForm",
  emits: ["done"],
  setup(_, { emit }) {
    const form = reactive(blank());
    const cats = ref([]); const places = ref([]); const busy = ref(false); const error = ref("");
    Promise.all([api("/api/categories"), api("/api/jurisdictions?max_level=village")]).then(([c, p]) => {
      cats.value = c.items.filter((x) => !MACHINE_CATEGORIES.has(x.code));
      places.value = p.items;
      if (!form.jurisdiction_code && p.items.length) form.jurisdiction_code = p.items[0].code;
    }).catch((e) => { error.value = errorText(e); });

    const labelled = (name, label, control, required = false) => h("label", { class: "form-field", for: `intake-${name}` }, [
      h("span", { class: "form-label" }, [label, required ? h("span", { class: "required", title: t("form.required") }, " *") : null]), control]);
    const input = (name, extra = {}) => h("input", { id: `intake-${name}`, name, value: form[name], onInput: (e) => { form[name] = e.target.value; }, ...extra });
    const groups = () => {
      const civic = cats.value.filter((c) => !c.police); const police = cats.value.filter((c) => c.police);
      const pair = [["civic", t("intake.group_civic"), civic], ["police", t("intake.group_police"), police]];
      if (FIRST_GROUP[form.source] === "police") pair.reverse();
      return pair.map(([key, label, items]) => h("optgroup", { key, label }, items.map((c) => h("option", { key: c.code, value: c.code }, c.name))));
    };

    const submit = async (ev) => {
      ev.preventDefault();
      if (busy.value) return;
      busy.value = true; error.value = "";
      const body = {};
      for (const [k, v] of Object.entries(form)) if (String(v).trim()) body[k] = String(v).trim();
      body.reported_at = fromBeijingInput(form.reported_at);
      if (!body.reported_at) delete body.reported_at;
      try {
        const r = await api("/api/intake/reports", { method: "POST", body });
        toast(t(r.duplicate ? "intake.duplicate" : "intake.created", { id: r.incident.id }), "ok");
        deskStore.incidents[r.incident.id] = { ...(deskStore.incidents[r.incident.id] || {}), ...r.incident };
        Object.assign(form, blank(), { jurisdiction_code: form.jurisdiction_code });
        emit("done", r.incident.id);
      } catch (e) {
        error.value = errorText(e);
        toast(error.value, "error");
      } finally { busy.value = false; }
    };

    return () => h("form", { id: "report-form", class: "action-form report-form labelled-form", onSubmit: submit }, [
      labelled("source", t("intake.source"), h("select", { id: "intake-source", name: "source", value: form.source, onChange: (e) => { form.source = e.target.value; } },
        PERSON_SOURCES.map((s) => h("option", { key: s, value: s }, t(`source.${s}`)))), true),
      labelled("reported_at", t("intake.reported_at"), input("reported_at", { type: "datetime-local", required: true, title: t("intake.reported_at_tip") }), true),
      labelled("title", t("intake.title"), input("title", { required: true, maxlength: 256 }), true),
      labelled("description", t("intake.description"), h("textarea", { id: "intake-description", name: "description", rows: 3, maxlength: 10000, value: form.description, onInput: (e) => { form.description = e.target.value; } })),
      labelled("category_code", t("intake.category"), h("select", { id: "report-category", name: "category_code", value: form.category_code, onChange: (e) => { form.category_code = e.target.value; } },
        [h("option", { value: "" }, t("intake.no_category")), ...groups()])),
      labelled("jurisdiction_code", t("intake.jurisdiction"), h("select", { id: "report-jurisdiction", name: "jurisdiction_code", value: form.jurisdiction_code, onChange: (e) => { form.jurisdiction_code = e.target.value; } },
        places.value.map((j) => h("option", { key: j.code, value: j.code }, `${"　".repeat(Math.max(0, (j.code.length - 6) / 3))}${j.name}`))), true),
      labelled("address", t("intake.address"), input("address", { maxlength: 256 })),
      labelled("reporter_name", t("intake.reporter"), input("reporter_name", { maxlength: 64 })),
      labelled("reporter_phone", t("intake.phone"), input("reporter_phone", { maxlength: 32, type: "tel", inputmode: "tel" })),
      error.value ? h("p", { class: "error", role: "alert" }, error.value) : null,
      h("button", { type: "submit", id: "intake-submit", disabled: busy.value }, t("intake.submit")),
    ]);
  },
};

registerDeskComponent("intake-form", IntakeForm);
