// 诉求信息 of a case that came from people (12345, 110, 网格员, 群众): 诉求内容, 地址, 来电人, 电话, 来电时间 and
// the work-order number, at the top of the desk's detail pane.
import { t, Vue } from "./common.js";
import { registerDeskComponent } from "./desk-slots.js";
import { fmtBeijing, PERSON_SOURCES } from "./glossary.js";

const { h } = Vue;

const CaseFields = {
  name: "CaseFields",
  props: { incident: Object },
  setup(props) {
    return () => {
      const inc = props.incident;
      if (!inc || !PERSON_SOURCES.includes(inc.source)) return null;
      const first = (inc.sources || []).find((s) => PERSON_SOURCES.includes(s.kind)) || {};
      const rows = [
        ["case-ref", t("case.ref"), first.ref],
        ["case-description", t("intake.description"), inc.description],
        ["case-address", t("intake.address"), inc.address],
        ["case-reporter", t("intake.reporter"), inc.reporter_name],
        ["case-phone", t("intake.phone"), inc.reporter_phone],
        ["case-reported-at", t("intake.reported_at"), fmtBeijing(first.reported_at || first.received_at || inc.created_at)],
      ];
      return h("section", { class: "case-fields card", id: "case-fields", "aria-label": t("case.title") }, [
        h("h3", {}, `${t("case.title")}（${t(`source.${inc.source}`)}）`),
        h("dl", { class: "facts" }, rows.flatMap(([id, label, value]) => [
          h("dt", { key: `${id}-k` }, label),
          h("dd", { key: `${id}-v`, id, class: id === "case-description" ? "case-text" : null }, value || t("common.none")),
        ])),
      ]);
    };
  },
};

registerDeskComponent("detail-tools", CaseFields);
