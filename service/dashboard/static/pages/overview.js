// Overview: the serving model and the candidates tried at its training, health, training history,
// events per hour, and served items, click-through rate and revenue per day and model version.

import * as api from "../api.js";
import { timeChart } from "../charts.js";
import { badge, card, facts, fmt, h, missing, note, table } from "../ui.js";

export const title = "Overview";

export async function render(page, { params, signal, admin }) {
  const grid = h("div", { class: "grid" });
  page.append(grid);
  const now = params.get("now");
  const model = api.get("/v1/model", {}, { signal });
  const online = api.get("/v1/stats/online", { days: 30 }, { signal });
  let redrawHistory = null;
  await Promise.all([
    card(grid, "Serving model", async (body) => drawModel(body, await model, admin, () => redrawHistory?.())),
    card(grid, "Health", async (body) => drawHealth(body, await model, signal)),
    card(grid, "Model choice at the last training", async (body) => drawCandidates(body, await model)),
    card(grid, "Training history", async (body) => {
      redrawHistory = async () => drawHistory(body, await api.get("/v1/model/history", { n: 100 }));
      await redrawHistory();
    }, { wide: true }),
    card(grid, "Events", async (body) => drawEvents(body, now, signal), { wide: true }),
    card(grid, "Served items and click-through rate", async (body) => drawOnline(body, await online), { wide: true }),
    card(grid, "Revenue per day and model version", async (body) => drawRevenue(body, await online), { wide: true }),
  ]);
}

function drawModel(body, model, admin, onTrained) {
  if (!model.version) {
    body.append(note("No model is trained yet."), facts([["last training", model.training?.last_message]]));
    return;
  }
  const m = model.metrics ?? {};
  const t = model.training ?? {};
  body.append(facts([
    ["version", h("code", {}, model.version)],
    ["algorithm", model.algorithm],
    ["trained", fmt.time(model.trained_at)],
    ["customers × items", `${fmt.int(model.counts?.users)} × ${fmt.int(model.counts?.items)}`],
    ["interactions", fmt.int(model.counts?.interactions)],
    ["holdout nDCG@10", fmt.num(m.ndcg)],
    ["holdout recall@10", fmt.num(m.recall)],
    ["holdout precision@10", fmt.num(m.precision)],
    ["last training", h("span", {}, badge(t.last_outcome ?? "—", t.last_outcome === "trained" ? "good" : "warn"), " ",
      t.last_message ?? "")],
  ]));
  body.append(admin ? retrainButton(onTrained)
    : h("p", { class: "muted" }, "Retraining needs an admin key: sign in with one to start a training here."));
}

function retrainButton(onTrained) {
  const status = h("span", { class: "muted", role: "status" });
  const button = h("button", {
    type: "button",
    onclick: async () => {
      button.disabled = true;
      const before = (await api.get("/v1/model/history", { n: 1 })).trainings[0]?.finished_at ?? 0;
      try {
        const started = await api.post("/v1/model/retrain");
        status.textContent = started.status === "started" ? "Training…"
          : "A training is already running; another follows it…";
        for (let k = 0; k < 600; k += 1) {  // up to 10 minutes
          await new Promise((resolve) => setTimeout(resolve, 1000));
          const latest = (await api.get("/v1/model/history", { n: 1 })).trainings[0];
          if (latest && latest.finished_at > before) {
            status.textContent = `Training ${latest.outcome}: ${latest.message}`;
            await onTrained();
            break;
          }
        }
      } catch (error) {
        status.textContent = `Retrain refused: ${error.message}`;
      }
      button.disabled = false;
    },
  }, "Retrain now");
  return h("p", { class: "actions" }, button, " ", status);
}

async function drawHealth(body, model, signal) {
  const [ready, health] = await Promise.all([
    fetch("/readyz", { signal, cache: "no-store" }).then((r) => r.json()),
    fetch("/healthz", { signal, cache: "no-store" }).then((r) => r.json()),
  ]);
  const ok = (flag) => badge(flag ? "ok" : "down", flag ? "good" : "bad");
  const t = model.training ?? {};
  body.append(facts([
    ["ready to serve", ok(ready.ready)],
    ["Redis", ok(ready.redis)],
    ["model loaded", ok(ready.model)],
    ["answering process", `pid ${health.pid}`],
    ["training now", t.running ? badge("running", "warn") : "no"],
    ["last success", fmt.time(t.last_success_at)],
    ["last error", t.last_error ? `${fmt.time(t.last_error_at)}: ${t.last_error}` : "none"],
    t.load_error ? ["model load error", t.load_error] : null,
  ]));
}

/** Issue 13's model choice: GET /v1/model lists the candidates tried and their holdout scores. */
function drawCandidates(body, model) {
  const candidates = model.candidates ?? model.selection?.candidates ?? model.training?.candidates;
  if (!Array.isArray(candidates)) {
    body.append(missing("the candidates tried at the last training and their holdout scores (model choice).",
      "candidates in GET /v1/model"));
    body.append(h("p", { class: "muted" }, `The serving model was trained as ${model.algorithm ?? "—"}; `,
      "its holdout scores are in the card beside this one."));
    return;
  }
  const numeric = [...new Set(candidates.flatMap((c) => Object.keys(c.metrics ?? c)
    .filter((k) => typeof (c.metrics ?? c)[k] === "number")))];
  body.append(table([
    { label: "candidate", value: (c) => c.name ?? c.algorithm ?? "—" },
    ...numeric.map((k) => ({ label: k, num: true, value: (c) => {
      const v = (c.metrics ?? c)[k];
      return Number.isInteger(v) ? fmt.int(v) : fmt.num(v);
    } })),
    { label: "", value: (c) => (c.chosen || c.serving ? badge("serving", "good") : c.rejected ?? c.reason ?? "") },
  ], candidates, { caption: "Candidates" }));
}

function drawHistory(body, { trainings }) {
  body.replaceChildren();
  if (!trainings.length) {
    body.append(note("No training has finished yet."));
    return;
  }
  const rows = [...trainings].reverse();  // oldest first, for the chart
  timeChart(body, {
    title: "Holdout nDCG@10 and duration per training",
    x: rows.map((t) => t.finished_at),
    series: [
      { label: "nDCG@10", values: rows.map((t) => t.metrics?.ndcg ?? null), format: (v) => v.toFixed(4) },
      { label: "seconds", values: rows.map((t) => t.seconds ?? null), scale: "y2", format: (v) => v.toFixed(1) },
    ],
    axes: { y: "nDCG@10", y2: "seconds" },
  });
  body.append(table([
    { label: "finished", value: (t) => fmt.time(t.finished_at) },
    { label: "outcome", value: (t) => badge(t.outcome, t.outcome === "trained" ? "good" : "warn") },
    { label: "reason", value: (t) => t.reason },
    { label: "nDCG@10", num: true, value: (t) => fmt.num(t.metrics?.ndcg) },
    { label: "duration", num: true, value: (t) => fmt.seconds(t.seconds) },
    { label: "version", value: (t) => (t.version ? h("code", {}, t.version) : t.message) },
  ], trainings.slice(0, 10), { caption: "Latest trainings" }));
}

async function drawEvents(body, now, signal) {
  let stats = await api.get("/v1/stats/events", { days: 7, bucket: "hour", now }, { signal });
  let per = "hour";
  if (!Object.values(stats.totals).some((n) => n > 0)) {  // a quiet week: show the last 90 days by day
    stats = await api.get("/v1/stats/events", { days: 90, bucket: "day", now }, { signal });
    per = "day";
  }
  const types = Object.keys(stats.counts).filter((t) => stats.totals[t] > 0);
  timeChart(body, {
    title: `Events per ${per} by type (event time), ${fmt.date(stats.from)} to ${fmt.date(stats.to - 1)}`,
    x: stats.buckets,
    series: types.map((t) => ({ label: t, values: stats.counts[t], format: fmt.int })),
    axes: { y: `events per ${per}` },
    empty: `No events between ${fmt.date(stats.from)} and ${fmt.date(stats.to - 1)}.`,
  });
  body.append(h("p", { class: "muted" }, "Totals: ",
    types.map((t) => `${t} ${fmt.int(stats.totals[t])}`).join(" · ") || "none"));
}

/** by_day rows (date, model_version, counters) as one chart series per model version. */
function perVersion(rows, value) {
  const dates = [...new Set(rows.map((r) => r.date))].sort();
  const x = dates.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const versions = [...new Set(rows.map((r) => r.model_version))].sort();
  const series = versions.map((v) => ({
    label: v, values: dates.map((d) => {
      const row = rows.find((r) => r.date === d && r.model_version === v);
      return row ? value(row) : null;
    }),
  }));
  return { x, series };
}

function drawOnline(body, online) {
  const rows = online.by_day ?? [];
  if (!rows.length) {
    body.append(note(`No recommendations were served from ${online.from} to ${online.to}.`));
    return;
  }
  const served = perVersion(rows, (r) => r.impressions);
  timeChart(body, { title: "Items served per day, by model version", x: served.x,
    series: served.series.map((s) => ({ ...s, format: fmt.int })), axes: { y: "items served" } });
  const ctr = perVersion(rows, (r) => (r.impressions ? r.click_through_rate : null));
  timeChart(body, { title: "Click-through rate per day, by model version", x: ctr.x,
    series: ctr.series.map((s) => ({ ...s, format: (v) => fmt.pct(v) })), axes: { y: "clicks / items served" } });
  const t = online.total;
  body.append(h("p", { class: "muted" }, `${online.from} to ${online.to}: ${fmt.int(t.impressions)} items served, `,
    `${fmt.int(t.clicks)} clicks (${fmt.pct(t.click_through_rate)}), ${fmt.int(t.purchases)} attributed purchases.`));
}

async function drawRevenue(body, online) {
  const fields = await api.responseFields("GET", "/v1/stats/online", "by_day", "[]");
  if (!fields.has("revenue")) {
    body.append(missing("revenue attributed to recommendations (prices on events and the catalog).",
      "revenue in GET /v1/stats/online"));
    return;
  }
  // revenue is kept per currency, never summed across currencies: one series per version and currency
  const rows = (online.by_day ?? []).flatMap((r) => Object.entries(typeof r.revenue === "object" ? r.revenue ?? {}
    : { "": r.revenue }).map(([currency, value]) => ({ ...r, model_version: `${r.model_version} ${currency}`.trim(),
    amount: Number(value) })));
  if (!rows.length) {
    body.append(note(`No attributed revenue from ${online.from} to ${online.to}.`));
    return;
  }
  const revenue = perVersion(rows, (r) => r.amount);
  timeChart(body, { title: "Attributed revenue per day, by model version and currency", x: revenue.x,
    series: revenue.series.map((s) => ({ ...s, format: (v) => v.toFixed(2) })), axes: { y: "revenue" } });
}
