// 警情检索 on the desk: words / numbers / addresses, filters, sort, and paging past any number of rows
// (GET /api/search/incidents, keyset cursor). A click on a result opens it in the desk's detail pane.
import { api, errorText, t, Vue } from "./common.js";
import { deskStore, registerDeskComponent } from "./desk-slots.js";
import { COLOURS, fmtBeijing, MACHINE_CATEGORIES, SOURCES, STATUSES } from "./glossary.js";

const { h, reactive, ref } = Vue;

const EMPTY = { q: "", status: "", category: "", source: "", jurisdiction_code: "", since: "", until: "", colour: "", sort: "newest", open_only: false, overdue_only: false };

function field(id, label, control) {
  return h("label", { class: "search-field", for: id }, [h("span", { class: "search-label" }, label), control]);
}

function select(id, model, key, options, title) {
  return h("select", { id, name: key, title, value: model[key], onChange: (e) => { model[key] = e.target.value; } },
    options.map(([value, label]) => h("option", { key: value, value }, label)));
}

const DeskSearch = {
  name: "DeskSearch",
  setup() {
    const form = reactive({ ...EMPTY });
    const state = reactive({ open: false, showFilters: false, busy: false, items: [], total: null, next: null, error: "", searched: false });
    const cats = ref([]);
    const townships = ref([]);
    Promise.all([api("/api/categories"), api("/api/jurisdictions?max_level=township")]).then(([c, j]) => {
      cats.value = c.items;
      townships.value = j.items.filter((x) => x.level === "township");
    }).catch(() => {});

    const params = () => {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(form)) {
        if (typeof v === "boolean") { if (v) p.set(k, "true"); } else if (String(v).trim()) p.set(k, String(v).trim());
      }
      p.set("limit", "50");
      return p;
    };
    const run = async (more = false) => {
      if (state.busy) return;
      state.busy = true; state.error = "";
      const p = params();
      if (more && state.next) p.set("cursor", state.next);
      try {
        const r = await api(`/api/search/incidents?${p}`);
        state.items = more ? [...state.items, ...r.items] : r.items;
        if (!more) { state.total = r.total; state.capped = r.total_capped; }
        state.next = r.next_cursor; state.searched = true; state.open = true;
      } catch (e) { state.error = errorText(e); }
      finally { state.busy = false; }
    };
    const reset = () => { Object.assign(form, EMPTY); state.items = []; state.total = null; state.next = null; state.searched = false; state.error = ""; };

    const filters = () => h("div", { class: "search-filters", id: "search-filters" }, [
      field("search-status", t("search.status"), select("search-status", form, "status", [["", t("common.all")], ...STATUSES.map((s) => [s, t(`status.${s}`)])], t("search.status_tip"))),
      field("search-category", t("search.category"), h("select", { id: "search-category", name: "category", value: form.category, onChange: (e) => { form.category = e.target.value; } }, [
        h("option", { value: "" }, t("common.all")),
        h("optgroup", { label: t("search.cat_people") }, cats.value.filter((c) => !MACHINE_CATEGORIES.has(c.code)).map((c) => h("option", { key: c.code, value: c.code }, c.name))),
        h("optgroup", { label: t("search.cat_machine") }, cats.value.filter((c) => MACHINE_CATEGORIES.has(c.code)).map((c) => h("option", { key: c.code, value: c.code }, c.name))),
      ])),
      field("search-source", t("search.source"), select("search-source", form, "source", [["", t("common.all")], ...SOURCES.map((s) => [s, t(`source.${s}`)])])),
      field("search-township", t("search.township"), select("search-township", form, "jurisdiction_code", [["", t("common.all")], ...townships.value.map((j) => [j.code, j.name])])),
      field("search-colour", t("search.colour"), select("search-colour", form, "colour", [["", t("common.all")], ...COLOURS.map((c) => [c, t(`colour.${c}`)])])),
      field("search-since", t("search.since"), h("input", { id: "search-since", type: "date", value: form.since, onInput: (e) => { form.since = e.target.value; } })),
      field("search-until", t("search.until"), h("input", { id: "search-until", type: "date", value: form.until, onInput: (e) => { form.until = e.target.value; } })),
      field("search-sort", t("search.sort"), select("search-sort", form, "sort", ["newest", "oldest", "deadline", "urgency"].map((s) => [s, t(`search.sort_${s}`)]))),
      h("label", { class: "inline" }, [h("input", { type: "checkbox", id: "search-open", checked: form.open_only, onChange: (e) => { form.open_only = e.target.checked; } }), " ", t("desk.open_only")]),
      h("label", { class: "inline" }, [h("input", { type: "checkbox", id: "search-overdue", checked: form.overdue_only, onChange: (e) => { form.overdue_only = e.target.checked; } }), " ", t("search.overdue_only")]),
    ]);

    const row = (inc) => h("li", {
      key: inc.id, class: ["search-item", `colour-${inc.colour}`, { selected: deskStore.selectedId === inc.id }], "data-id": inc.id,
      title: t("search.open_tip"), onClick: () => deskStore.select(inc.id),
    }, [
      h("div", { class: "q-title" }, [h("span", { class: `badge colour-${inc.colour}` }, t(`colour.${inc.colour}`)), " ", `#${inc.id} `, inc.title]),
      h("div", { class: "q-meta" }, [
        h("span", { class: `status status-${inc.status}` }, t(`status.${inc.status}`)), " · ",
        t(`source.${inc.source}`), " · ", inc.category || "", inc.overdue ? h("span", { class: "deadline overdue" }, ` ${t("incident.overdue")}`) : null,
      ]),
      h("div", { class: "q-meta muted" }, [inc.jurisdiction_name || "", " · ", fmtBeijing(inc.created_at),
        inc.address ? ` · ${inc.address}` : "", inc.reporter_name ? ` · ${t("intake.reporter")}：${inc.reporter_name}` : ""]),
    ]);

    return () => h("section", { class: "desk-search", id: "desk-search" }, [
      h("form", { class: "search-bar", role: "search", onSubmit: (e) => { e.preventDefault(); run(false); } }, [
        h("label", { class: "visually-hidden", for: "search-q" }, t("search.label")),
        h("input", { id: "search-q", type: "search", maxlength: 200, placeholder: t("search.placeholder"), title: t("search.tip"), value: form.q, onInput: (e) => { form.q = e.target.value; } }),
        h("button", { type: "submit", id: "search-submit", disabled: state.busy }, t("search.submit")),
        h("button", { type: "button", class: "secondary", id: "search-toggle", "aria-expanded": String(state.showFilters), onClick: () => { state.showFilters = !state.showFilters; } }, t("search.filters")),
        state.searched ? h("button", { type: "button", class: "link", id: "search-clear", onClick: reset }, t("search.clear")) : null,
      ]),
      state.showFilters ? filters() : null,
      state.error ? h("p", { class: "error", role: "alert", id: "search-error" }, state.error) : null,
      state.searched ? h("div", { class: "search-results-box" }, [
        h("div", { class: "search-head" }, [
          h("strong", { id: "search-total" }, t(state.capped ? "search.total_capped" : "search.total", { n: state.total ?? state.items.length })),
          h("span", { class: "muted" }, ` ${t("search.shown", { n: state.items.length })}`),
          h("button", { type: "button", class: "link", onClick: () => { state.open = !state.open; } }, state.open ? t("search.collapse") : t("search.expand")),
        ]),
        state.open ? h("ol", { class: "queue search-results", id: "search-results" }, state.items.map(row)) : null,
        state.open && state.next ? h("button", { type: "button", class: "secondary", id: "search-more", disabled: state.busy, onClick: () => run(true) }, t("search.more")) : null,
      ]) : null,
    ]);
  },
};

registerDeskComponent("queue-tools", DeskSearch);
