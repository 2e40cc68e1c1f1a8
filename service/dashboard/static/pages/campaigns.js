// Campaigns: every campaign route the service offers (found in its OpenAPI document), with its
// parameters as a form; how many customers it reaches now (the NDJSON stream's lines), the first
// ones, how many the contact cap leaves out, and the full list as NDJSON or CSV.

import * as api from "../api.js";
import { card, customerLink, errorNote, fmt, h, itemIds, missing, note, table } from "../ui.js";

export const title = "Campaigns";
const PREVIEW = 5;
const NAMES = { "/v1/campaigns/lapsed": "Win-back (lapsed customers)", "/v1/campaigns/abandoned-carts": "Abandoned carts",
  "/v1/customers": "Customers by lifecycle segment" };
const AUDIENCE_ROUTES = ["/v1/customers"];  // other NDJSON audiences, when the service has them

/** Drawn once every campaign shows its first customers; `complete` settles when every count is final. */
export async function render(page, { params, signal }) {
  const routes = [...await api.pathsUnder("/v1/campaigns/")];
  for (const route of AUDIENCE_ROUTES) if (await api.offers("GET", route)) routes.push(route);
  page.append(h("p", { class: "muted" }, "Each campaign is an NDJSON route of the API, one line per customer. ",
    "Change its parameters and run it again; the count is the number of lines the route returns now."));
  const grid = h("div", { class: "grid" });
  page.append(grid);
  if (!routes.length) {
    page.append(note("This service offers no campaign routes."));
    return;
  }
  const counts = [];
  await Promise.all(routes.map((route) => card(grid, NAMES[route] ?? route.split("/").pop().replaceAll("-", " "),
    async (body) => counts.push((await campaign(body, route, params, signal)).counted),
    { wide: true, id: `campaign-${route.split("/").pop()}` })));
  return { complete: Promise.all(counts) };
}

async function campaign(body, route, hashParams, signal) {
  const op = await api.operation("GET", route);
  const parameters = op.parameters.filter((p) => p.in === "query" && p.name !== "fields" && p.name !== "dry_run");
  // counting is not sending: with dry_run the service counts no impressions or experiment exposures
  const dryRun = op.parameters.some((p) => p.name === "dry_run") ? { dry_run: "true" } : {};
  const slug = route.split("/").pop();
  const inputs = parameters.map((p) => field(slug, p, hashParams.get(p.name)));
  const main = inputs.filter((f) => f.param.schema?.default !== undefined && f.param.name !== "cap_hours");
  const more = inputs.filter((f) => !main.includes(f));
  const result = h("div", { class: "campaign-result", "aria-live": "polite" });
  const form = h("form", {
    class: "campaign-form",
    onsubmit: (event) => {
      event.preventDefault();
      run();
    },
  },
  h("p", { class: "muted small" }, (op.summary ?? "").split(" (NDJSON")[0]),
  h("div", { class: "fields" }, main.map((f) => f.el)),
  more.length ? h("details", {}, h("summary", {}, "More parameters"), h("div", { class: "fields" }, more.map((f) => f.el)))
    : null,
  h("p", { class: "actions" }, h("button", { type: "submit" }, "Count customers"), " ",
    h("button", { type: "button", onclick: () => download("ndjson") }, "Download NDJSON"), " ",
    h("button", { type: "button", onclick: () => download("csv") }, "Download CSV")));
  body.append(form, result);
  const capParam = parameters.find((p) => p.name === "cap_hours");

  function values() {
    return Object.fromEntries(inputs.map((f) => [f.param.name, f.value()]).filter(([, v]) => v !== ""));
  }

  /** Count the route's lines now; resolves once the first customers show, with `counted` for the final count. */
  async function run() {
    const query = values();
    const number = h("p", { class: "big-number" }, "…");
    const status = h("p", { class: "muted" }, "Counting…");
    const cap = h("div");
    const shown = h("div");
    result.replaceChildren(number, status, cap, shown);
    let drawn;
    const firstShown = new Promise((resolve) => { drawn = resolve; });
    const counted = (async () => {
      const { count, first } = await api.readLines(route, { ...query, ...dryRun }, { keep: PREVIEW, signal,
        onFirst: (lines) => {
          shown.replaceChildren(lines.length ? preview(lines) : note("No customer matches these parameters now."));
          drawn();
        },
        onProgress: (n) => { number.textContent = fmt.int(n); } });
      number.textContent = fmt.int(count);
      number.dataset.count = String(count);
      status.textContent = `customers reached now (${api.url(route, query)})`;
      if (first.length) shown.replaceChildren(preview(first, count));
      if (capParam) {
        const all = (await api.readLines(route, { ...query, cap_hours: 0, ...dryRun }, { keep: 0, signal })).count;
        cap.replaceChildren(h("p", { dataset: { capped: String(all - count) } },
          `The contact cap leaves out ${fmt.int(all - count)} customer${all - count === 1 ? "" : "s"} contacted in the `,
          `last ${query.cap_hours ?? capParam.schema?.default ?? "?"} hours.`));
      } else {
        cap.replaceChildren(missing("a contact cap across campaigns: every customer in the window is counted, however "
          + "recently mailed.", `cap_hours on GET ${route}`));
      }
    })().catch((error) => {
      if (error.name !== "AbortError") result.append(errorNote(error));
    }).finally(drawn);
    await firstShown;
    return { counted };
  }

  async function download(format) {
    const query = values();
    let text;
    try {
      text = (await api.readLines(route, query, { keep: 0, raw: true, signal })).body;
    } catch (error) {
      if (error.name !== "AbortError") result.append(errorNote(error));
      return;
    }
    const blob = format === "csv" ? new Blob([toCsv(text)], { type: "text/csv" })
      : new Blob([text], { type: "application/x-ndjson" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `${slug}.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  return run();
}

function field(slug, param, preset) {
  const id = `${slug}-${param.name}`;
  const schema = param.schema ?? {};
  let input;
  if (schema.enum || schema.type === "boolean") {
    const options = schema.enum ?? ["true", "false"];
    input = h("select", { id, name: param.name }, h("option", { value: "" }, "any"),
      options.map((o) => h("option", { value: String(o) }, String(o))));
  } else {
    input = h("input", { id, name: param.name, type: schema.type === "integer" ? "number" : "text",
      min: schema.minimum, max: schema.maximum, step: schema.type === "integer" ? 1 : null,
      placeholder: schema.default === undefined ? "" : String(schema.default), inputmode: schema.type === "integer" ? "numeric" : null });
  }
  input.value = preset ?? (schema.default === undefined ? "" : String(schema.default));
  const el = h("div", { class: "field" }, h("label", { for: id, title: param.description ?? "" }, param.name.replaceAll("_", " ")),
    input, param.description ? h("small", { class: "muted" }, param.description) : null);
  return { param, el, value: () => input.value.trim() };
}

function preview(lines, count = undefined) {
  const keys = Object.keys(lines[0]).filter((k) => k !== "user_id");
  const cell = (v) => (Array.isArray(v) ? itemIds(v) : v !== null && typeof v === "object" ? JSON.stringify(v)
    : typeof v === "number" && v > 1e9 && v < 5e9 ? fmt.time(v) : v ?? "");
  return h("div", {}, h("h3", {}, count === undefined ? `First ${lines.length}` : `First ${lines.length} of ${fmt.int(count)}`),
    table([{ label: "customer", value: (l) => customerLink(l.user_id) },
      ...keys.map((k) => ({ label: k.replaceAll("_", " "), value: (l) => cell(l[k]) }))], lines, { caption: "Preview" }));
}

/** NDJSON lines as CSV: one column per top-level key; lists of items become their ids, space-separated. */
export function toCsv(ndjson) {
  const rows = ndjson.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  if (!rows.length) return "";
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const value = (v) => (Array.isArray(v) ? v.map((i) => (i && typeof i === "object" ? i.item_id ?? JSON.stringify(i) : i)).join(" ")
    : v !== null && typeof v === "object" ? JSON.stringify(v) : v ?? "");
  const quote = (v) => {
    // a text cell starting with = + - @ would be a formula in a spreadsheet (OWASP: CSV injection)
    const s = typeof v === "string" && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [keys.join(","), ...rows.map((r) => keys.map((k) => quote(value(r[k]))).join(","))].join("\r\n") + "\r\n";
}
