// 交接班 on the desk: who is on duty (值班表), the handover waiting for me to acknowledge, and my own
// handover at the end of the shift (the centre's open and overdue cases, a note per case).
import { api, errorText, session, t, toast, Vue } from "./common.js";
import { deskStore, registerDeskComponent } from "./desk-slots.js";
import { beijingInput, fmtBeijing, fromBeijingInput } from "./glossary.js";

const { h, reactive } = Vue;

const OPERATOR_ROLES = ["admin", "county_operator", "township_operator", "village_operator"];

const Handover = {
  name: "HandoverBar",
  setup() {
    const st = reactive({ roster: null, pending: [], draft: null, panel: "", note: "", itemNotes: {}, ackNote: "", busy: false, error: "",
      shift: { username: "", starts_at: beijingInput(), ends_at: beijingInput(new Date(Date.now() + 8 * 3600e3)) } });
    const isOperator = () => OPERATOR_ROLES.includes(session.user?.role);

    const load = async () => {
      if (!isOperator()) return;
      try {
        const [roster, pending] = await Promise.all([api("/api/handover/roster"), api("/api/handover?pending_for_me=true")]);
        st.roster = roster; st.pending = pending.items;
      } catch (e) { st.error = errorText(e); }
    };
    load();
    setInterval(load, 60000);

    const openGive = async () => {
      if (st.panel === "give") { st.panel = ""; return; }
      st.error = "";
      try { st.draft = await api("/api/handover/draft"); st.panel = "give"; } catch (e) { st.error = errorText(e); }
    };
    const give = async (ev) => {
      ev.preventDefault();
      if (st.busy) return;
      st.busy = true; st.error = "";
      const notes = {};
      for (const [id, v] of Object.entries(st.itemNotes)) if (v.trim()) notes[id] = v.trim();
      try {
        const r = await api("/api/handover", { method: "POST", body: { note: st.note, item_notes: notes } });
        toast(t("handover.given", { n: r.items.length, who: r.to_user_name || t("handover.next_anyone") }), "ok");
        st.panel = ""; st.note = ""; st.itemNotes = {};
      } catch (e) { st.error = errorText(e); toast(st.error, "error"); }
      finally { st.busy = false; }
    };
    const acknowledge = async (item) => {
      if (st.busy) return;
      st.busy = true; st.error = "";
      try {
        await api(`/api/handover/${item.id}/acknowledge`, { method: "POST", body: { note: st.ackNote } });
        toast(t("handover.acknowledged"), "ok");
        st.ackNote = ""; st.panel = "";
        await load();
      } catch (e) { st.error = errorText(e); toast(st.error, "error"); }
      finally { st.busy = false; }
    };
    const addShift = async (ev) => {
      ev.preventDefault();
      st.error = "";
      try {
        await api("/api/handover/roster", { method: "POST", body: { username: st.shift.username.trim(), starts_at: fromBeijingInput(st.shift.starts_at), ends_at: fromBeijingInput(st.shift.ends_at) } });
        toast(t("roster.added"), "ok");
        st.shift.username = "";
        await load();
      } catch (e) { st.error = errorText(e); toast(st.error, "error"); }
    };

    const caseLink = (id, title) => h("a", { href: `#${id}`, class: "banner-link", onClick: (ev) => { ev.preventDefault(); deskStore.select(id); } }, `#${id} ${title}`);
    const itemRow = (i, editable) => h("li", { key: i.incident_id, class: ["handover-item", `colour-${i.colour}`], "data-id": i.incident_id }, [
      h("span", { class: `badge colour-${i.colour}` }, t(`colour.${i.colour}`)), " ", caseLink(i.incident_id, i.title), " ",
      h("span", { class: `status status-${i.status}` }, t(`status.${i.status}`)),
      i.overdue ? h("span", { class: "deadline overdue" }, ` ${t("incident.overdue")}`) : null,
      i.resolve_deadline ? h("span", { class: "muted" }, ` ${t("incident.deadline")} ${fmtBeijing(i.resolve_deadline)}`) : null,
      editable
        ? h("input", { class: "handover-item-note", placeholder: t("handover.item_note"), title: t("handover.item_note"), "aria-label": t("handover.item_note"), maxlength: 2000,
          value: st.itemNotes[i.incident_id] || "", onInput: (e) => { st.itemNotes[i.incident_id] = e.target.value; } })
        : (i.note ? h("div", { class: "handover-note" }, `${t("handover.note_label")}：${i.note}`) : null),
    ]);

    const rosterPanel = () => h("div", { class: "handover-panel card", id: "roster-panel" }, [
      h("h3", {}, t("roster.title")),
      h("ol", { class: "roster-list", id: "roster-list" }, (st.roster?.items || []).map((s) => h("li", { key: s.id, class: s.username === st.roster.on_duty ? "on-duty" : null },
        `${fmtBeijing(s.starts_at)} – ${fmtBeijing(s.ends_at)}  ${s.username_name}${s.username === st.roster.on_duty ? `（${t("roster.on_duty_now")}）` : ""}`))),
      (st.roster?.items || []).length ? null : h("p", { class: "muted" }, t("roster.empty")),
      ["admin", "county_operator", "township_operator"].includes(session.user?.role) ? h("form", { class: "action-form labelled-form", id: "roster-form", onSubmit: addShift }, [
        h("label", { class: "form-field", for: "roster-user" }, [h("span", { class: "form-label" }, t("roster.username")),
          h("input", { id: "roster-user", required: true, maxlength: 64, value: st.shift.username, onInput: (e) => { st.shift.username = e.target.value; } })]),
        h("label", { class: "form-field", for: "roster-start" }, [h("span", { class: "form-label" }, t("roster.starts_at")),
          h("input", { id: "roster-start", type: "datetime-local", required: true, value: st.shift.starts_at, onInput: (e) => { st.shift.starts_at = e.target.value; } })]),
        h("label", { class: "form-field", for: "roster-end" }, [h("span", { class: "form-label" }, t("roster.ends_at")),
          h("input", { id: "roster-end", type: "datetime-local", required: true, value: st.shift.ends_at, onInput: (e) => { st.shift.ends_at = e.target.value; } })]),
        h("button", { type: "submit", id: "roster-add" }, t("roster.add")),
      ]) : null,
    ]);

    const givePanel = () => {
      const d = st.draft;
      return h("form", { class: "handover-panel card", id: "handover-panel", onSubmit: give }, [
        h("h3", {}, t("handover.give_title")),
        h("p", { id: "handover-summary" }, t("handover.summary", { open: d.open_total, overdue: d.overdue_count, listed: d.items.length })),
        h("p", { class: "muted" }, t("handover.to", { who: d.next_user_name || t("handover.next_anyone") })),
        h("ol", { class: "handover-items", id: "handover-items" }, d.items.map((i) => itemRow(i, true))),
        d.items.length ? null : h("p", { class: "muted" }, t("handover.nothing")),
        h("label", { class: "form-field", for: "handover-note" }, [h("span", { class: "form-label" }, t("handover.note")),
          h("textarea", { id: "handover-note", rows: 3, maxlength: 5000, value: st.note, onInput: (e) => { st.note = e.target.value; } })]),
        h("button", { type: "submit", id: "handover-submit", disabled: st.busy }, t("handover.submit")),
      ]);
    };

    const pendingPanel = (p) => h("div", { class: "handover-panel card", id: "handover-pending-panel", "data-id": p.id }, [
      h("h3", {}, t("handover.pending_title", { who: p.from_user_name, at: fmtBeijing(p.created_at) })),
      h("p", {}, t("handover.summary", { open: p.open_count, overdue: p.overdue_count, listed: p.items.length })),
      p.note ? h("p", { class: "handover-note", id: "handover-general-note" }, `${t("handover.note_label")}：${p.note}`) : null,
      h("ol", { class: "handover-items", id: "handover-pending-items" }, p.items.map((i) => itemRow(i, false))),
      h("label", { class: "form-field", for: "handover-ack-note" }, [h("span", { class: "form-label" }, t("handover.ack_note")),
        h("input", { id: "handover-ack-note", maxlength: 5000, value: st.ackNote, onInput: (e) => { st.ackNote = e.target.value; } })]),
      h("button", { type: "button", id: "handover-ack", disabled: st.busy, onClick: () => acknowledge(p) }, t("handover.acknowledge")),
    ]);

    return () => {
      if (!isOperator()) return null;
      const pending = st.pending[0];
      return h("section", { class: "handover-bar", id: "handover-bar" }, [
        h("div", { class: "handover-row" }, [
          h("strong", {}, t("handover.title")), " ",
          h("span", { id: "on-duty" }, st.roster?.on_duty
            ? t("roster.on_duty", { who: (st.roster.items.find((s) => s.username === st.roster.on_duty) || {}).username_name || st.roster.on_duty })
            : t("roster.nobody")),
          pending ? h("button", { type: "button", class: "warn", id: "handover-pending", onClick: () => { st.panel = st.panel === "pending" ? "" : "pending"; } },
            t("handover.pending", { who: pending.from_user_name, n: pending.items.length })) : null,
          h("button", { type: "button", class: "secondary", id: "handover-give", onClick: openGive }, t("handover.give")),
          h("button", { type: "button", class: "link", id: "roster-toggle", onClick: () => { st.panel = st.panel === "roster" ? "" : "roster"; } }, t("roster.title")),
        ]),
        st.error ? h("p", { class: "error", role: "alert", id: "handover-error" }, st.error) : null,
        st.panel === "give" && st.draft ? givePanel() : null,
        st.panel === "pending" && pending ? pendingPanel(pending) : null,
        st.panel === "roster" ? rosterPanel() : null,
      ]);
    };
  },
};

registerDeskComponent("header", Handover);
