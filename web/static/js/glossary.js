// Terms and times as operators read them: one place for Beijing time and the labels of codes.
// Labels come from web/static/i18n/zh-CN.json (the one glossary, also used by reports and the PDF
// through command's catalog); this module only formats.
import { t } from "./common.js";

const BEIJING = "Asia/Shanghai";
const parts = new Intl.DateTimeFormat("zh-CN", {
  timeZone: BEIJING, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

function pieces(d) {
  const out = {};
  for (const p of parts.formatToParts(d)) out[p.type] = p.value;
  return out;
}

// "2026-11-20 08:30" in Beijing time, whatever the browser's own zone.
export function fmtBeijing(iso) {
  if (!iso) return "";
  const p = pieces(new Date(iso));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

// The value of an <input type="datetime-local"> showing ``date`` in Beijing time.
export function beijingInput(date = new Date()) {
  const p = pieces(date);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

// A datetime-local value typed in Beijing time → ISO with the +08:00 offset the API expects.
export function fromBeijingInput(value) {
  return value ? `${value.length === 16 ? `${value}:00` : value}+08:00` : null;
}

export const STATUSES = ["received", "classified", "dispatched", "acknowledged", "on_scene", "resolved", "evaluated",
  "revisited", "closed", "false_alarm", "rejected", "reopened", "escalated"];
export const SOURCES = ["video", "hotline_12345", "police_110", "grid", "citizen", "device"];
export const PERSON_SOURCES = ["hotline_12345", "police_110", "grid", "citizen"];
export const COLOURS = ["red", "orange", "yellow", "blue"];
// Categories raised by video rules and device health: never chosen for a call taken at the desk.
export const MACHINE_CATEGORIES = new Set(["zone_intrusion", "tripwire", "loitering", "crowd", "fall", "abandoned_object",
  "illegal_parking", "onvif_event", "device_fault"]);

export const statusLabel = (s) => t(`status.${s}`);
export const sourceLabel = (s) => t(`source.${s}`);
export const colourLabel = (c) => t(`colour.${c}`);
