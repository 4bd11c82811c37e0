// Extension points of the desk. Other desk tools (search, filters, handover, …) live in their own
// files: each registers a Vue component for a slot and may add a queue filter; the desk mounts what
// is registered, whenever it is registered (the registry is reactive, load order does not matter).
//
//   import { registerDeskComponent, deskStore } from "./desk-slots.js";
//   registerDeskComponent("queue-tools", { name: "DeskSearch", setup() { … return () => Vue.h(…) } });
//   deskStore.queueFilters.search = (inc) => inc.title.includes(text);   // delete it to clear
//
// Slots: "header" (above both panes), "queue-tools" (above the queue), "queue-footer",
// "detail-tools" (top of the detail pane; gets the incident as prop `incident`).
import { Vue } from "./common.js";

// "intake-form" replaces the desk's built-in 受理登记 form (the first one registered is used).
export const DESK_SLOTS = ["header", "queue-tools", "queue-footer", "detail-tools", "intake-form"];

export const deskSlots = Vue.reactive(Object.fromEntries(DESK_SLOTS.map((s) => [s, []])));

// The desk's state, shared with the registered tools. incidents: id -> incident payload (patched in
// place by pushes); selectedId: the incident in the detail pane; queueFilters: name -> predicate, all
// must accept an incident for it to be listed; select(id): what a click in the queue does.
export const deskStore = Vue.reactive({
  incidents: {},
  selectedId: null,
  queueFilters: {},
  select: (id) => { deskStore.selectedId = id; },
});

export function registerDeskComponent(slot, component) {
  if (!deskSlots[slot]) throw new Error(`unknown desk slot ${slot}; one of ${DESK_SLOTS.join(", ")}`);
  deskSlots[slot].push(Vue.markRaw(component));
}
