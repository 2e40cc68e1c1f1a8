// DOM helpers shared by the pages. Data is always set as text (never parsed as HTML), so an id or a
// title from the catalog cannot inject markup.

import { ApiError } from "./api.js";

/** Create an element: h("a", {href, class, onclick}, "text", child, [more children]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * A titled card in `grid` (which must be in the document); `load(body)` appends its content and may
 * be async. Errors show in the card, never break the page. Returns the promise of the card being drawn.
 */
export function card(grid, title, load, { wide = false, id } = {}) {
  const loading = h("p", { class: "muted loading" }, "Loading…");
  const body = h("div", { class: "card-body", "aria-busy": "true" }, loading);
  const el = h("section", { class: wide ? "card wide" : "card", id, "aria-label": title }, h("h2", {}, title), body);
  grid.append(el);  // in the document before `load` runs, so charts can measure their width
  return (async () => {
    try {
      await load(body);
    } catch (error) {
      if (error.name !== "AbortError") body.append(errorNote(error));
    } finally {
      loading.remove();
      body.removeAttribute("aria-busy");
    }
  })();
}

export function errorNote(error) {
  const what = error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error.message ?? error);
  return h("p", { class: "note error", role: "status" }, `Could not load this part: ${what}`);
}

/** Say plainly that the service lacks something, and which route or field would bring it. */
export function missing(what, route) {
  return h("p", { class: "note missing", dataset: { missing: route } },
    h("strong", {}, "Not in this service yet: "), what, " ",
    h("span", { class: "muted" }, "(its API has no ", h("code", {}, route), ")"));
}

export function note(text) {
  return h("p", { class: "note" }, text);
}

/** A table in a horizontally scrolling wrapper: columns [{label, value: (row, index) => node or text, num}]. */
export function table(columns, rows, { caption } = {}) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption ?? "table" },
    h("table", {},
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, rows.map((row, k) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null },
        c.value(row, k) ?? "")))))));
}

/** A definition list of [label, value] pairs (values may be nodes). */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([label, value]) => [h("dt", {}, label),
    h("dd", {}, value ?? "—")]));
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

export function itemLink(itemId, title) {
  return h("a", { href: `#/item/${encodeURIComponent(itemId)}` }, title || itemId);
}

export function customerLink(userId) {
  return h("a", { href: `#/customer/${encodeURIComponent(userId)}` }, userId);
}

/** A one-field lookup form that opens `#/{page}/{value}`. */
export function lookupForm(page, label, value) {
  const id = `${page}-lookup`;
  const input = h("input", { id, name: id, type: "text", required: true, value: value ?? "", autocomplete: "off",
    spellcheck: "false" });
  return h("form", {
    class: "lookup", role: "search",
    onsubmit: (event) => {
      event.preventDefault();
      location.hash = `#/${page}/${encodeURIComponent(input.value.trim())}`;
    },
  }, h("label", { for: id }, label), input, h("button", { type: "submit" }, "Look up"));
}

// -- formats (times in UTC, so every reader sees the same) -----------------------------------------
const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export const fmt = {
  int: (x) => (x === null || x === undefined ? "—" : integer.format(x)),
  num: (x, digits = 4) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits)),
  pct: (x, digits = 2) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(digits)}%`),
  time: (epoch) => (epoch === null || epoch === undefined ? "—"
    : `${new Date(epoch * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`),
  date: (epoch) => (epoch === null || epoch === undefined ? "—" : new Date(epoch * 1000).toISOString().slice(0, 10)),
  seconds: (s) => (s === null || s === undefined ? "—" : s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`),
  daysAgo: (epoch, now = Date.now() / 1000) => (epoch === null || epoch === undefined ? "—"
    : `${integer.format(Math.floor((now - epoch) / 86400))} days ago`),
};

/** Item ids of a list of items, shortened to the first `n`. */
export function itemIds(items, n = 4) {
  if (!Array.isArray(items)) return "";
  const ids = items.map((i) => i.title || i.item_id);
  return ids.length > n ? `${ids.slice(0, n).join(", ")} … (+${ids.length - n})` : ids.join(", ");
}

/** A list of recommended items as a table: rank, item, category, score, and each item's own extra fields. */
export function itemTable(items, { caption, extra = [] } = {}) {
  if (!items?.length) return note("No items.");
  return table([
    { label: "#", value: (_, k) => String(k + 1), num: true },
    { label: "item", value: (i) => itemLink(i.item_id, i.title) },
    { label: "category", value: (i) => i.category ?? "" },
    { label: "score", value: (i) => fmt.num(i.score, 3), num: true },
    ...extra,
  ], items, { caption });
}
