// Experiments: variants, exposure, lifts with confidence intervals and the sample-ratio check, when the
// service runs experiments; until then, what exists: model versions compared across time.

import * as api from "../api.js";
import { badge, card, fmt, h, missing, note, table } from "../ui.js";

export const title = "Experiments";

export async function render(page, { signal, admin }) {
  const grid = h("div", { class: "grid" });
  page.append(grid);
  if (await api.offers("GET", "/v1/experiments")) {
    const listed = await api.get("/v1/experiments", {}, { signal });
    const experiments = Array.isArray(listed) ? listed : listed.experiments ?? [];
    if (!experiments.length) grid.append(note("No experiment has been defined."));
    await Promise.all(experiments.map((e) => card(grid, `Experiment ${e.name}`, async (body) => {
      const draw = async () => {
        body.replaceChildren();
        drawExperiment(body, await api.get(api.fill("/v1/experiments/{name}", e), {}, { signal }), admin, draw);
      };
      await draw();
    }, { wide: true })));
  } else {
    grid.append(h("section", { class: "card wide", "aria-label": "Experiments" }, h("h2", {}, "Experiments"),
      missing("A/B tests between models with a holdout: variants, exposure, lifts with confidence intervals and the "
        + "sample-ratio check. Every customer gets the same model, so versions can only be compared one after the "
        + "other, as below.", "GET /v1/experiments")));
  }
  await card(grid, "Model versions compared across time", async (body) => drawVersions(body, signal), { wide: true });
}

/** A metric that may come as a number or as {value, ci_low, ci_high, p_value} (95% interval). */
function metric(m, format = (v) => fmt.num(v, 4)) {
  if (m === null || m === undefined) return "—";
  if (typeof m !== "object") return typeof m === "number" ? format(m) : String(m);
  if (!("value" in m) && !("estimate" in m)) { // per currency: {"USD": {value, ...}, ...}
    return Object.entries(m).map(([k, v]) => `${k} ${metric(v, format)}`).join("; ") || "—";
  }
  const low = m.ci_low ?? m.ci?.[0];
  const high = m.ci_high ?? m.ci?.[1];
  return [format(m.value ?? m.estimate), low !== undefined ? ` [${format(low)}, ${format(high)}]` : "",
    m.p_value !== undefined ? ` p=${fmt.num(m.p_value, 3)}` : ""].join("");
}

function drawExperiment(body, experiment, admin, redraw) {
  const results = experiment.results ?? {};
  const variants = results.variants ?? experiment.variants ?? [];
  const srm = results.sample_ratio ?? experiment.sample_ratio ?? experiment.srm;
  const started = experiment.start ?? experiment.started_at;
  body.append(h("p", {}, badge(experiment.status ?? (experiment.running ? "running" : "stopped")), " ",
    started ? `starts ${fmt.time(started)}` : "", experiment.control ? `, control ${experiment.control}` : ""));
  const skip = ["name", "variant", "config", "model", "control"];
  const keys = [...new Set(variants.flatMap((v) => Object.keys(v)))].filter((k) => !skip.includes(k));
  body.append(table([{ label: "variant", value: (v) => v.name ?? v.variant }, ...keys.map((k) => ({
    label: k.replaceAll("_", " "), value: (v) => metric(v[k]) }))], variants, { caption: "Variants" }));
  if (srm) {
    const p = srm.p_value ?? srm.p;
    body.append(h("p", {}, "Sample-ratio check: ", p !== undefined ? `p = ${fmt.num(p, 4)} ` : "",
      (srm.flag ?? srm.mismatch ?? p < 0.001) ? badge("mismatch: do not trust the lifts", "bad") : badge("ok", "good")));
  }
  if (experiment.promoted) {
    body.append(h("p", {}, "Promoted: ", h("code", {}, experiment.promoted),
      " (its configuration is what later trainings fit, until another promotion)."));
  }
  if (!admin) {
    body.append(h("p", { class: "muted" }, "Stopping or promoting an experiment needs an admin key."));
  } else {
    body.append(controls(experiment, variants, redraw));
  }
}

/** An admin's controls: stop a running or scheduled experiment; promote a variant of an ended one. */
function controls(experiment, variants, redraw) {
  const status = h("span", { class: "muted", role: "status" });
  const act = async (path, done) => {
    try {
      await api.post(path);
      await redraw();
    } catch (error) {
      status.textContent = `${done} refused: ${error.message}`;
    }
  };
  const name = { name: experiment.name };
  if (experiment.status !== "ended") {
    return h("p", { class: "actions" }, h("button", { type: "button", onclick: () => act(
      api.fill("/v1/experiments/{name}/stop", name), "Stop") }, "Stop experiment"), " ", status);
  }
  const choice = h("select", { "aria-label": "variant to promote" },
    variants.map((v) => h("option", { value: v.variant ?? v.name }, v.variant ?? v.name)));
  return h("p", { class: "actions" }, choice, " ", h("button", { type: "button", onclick: () => act(
    api.fill("/v1/experiments/{name}/promote/{variant}", { ...name, variant: choice.value }), "Promote") },
  "Promote variant"), " ", status);
}

async function drawVersions(body, signal) {
  const [online, history] = await Promise.all([api.get("/v1/stats/online", { days: 90 }, { signal }),
    api.get("/v1/model/history", { n: 500 }, { signal })]);
  const trained = new Map(history.trainings.filter((t) => t.version).map((t) => [t.version, t]));
  const versions = [...new Set([...online.by_version.map((v) => v.model_version), ...trained.keys()])].sort().reverse();
  if (!versions.length) {
    body.append(note("No model version has been trained or served yet."));
    return;
  }
  const served = new Map(online.by_version.map((v) => [v.model_version, v]));
  body.append(table([
    { label: "model version", value: (v) => h("code", {}, v) },
    { label: "trained", value: (v) => fmt.time(trained.get(v)?.finished_at) },
    { label: "holdout nDCG@10", num: true, value: (v) => fmt.num(trained.get(v)?.metrics?.ndcg) },
    { label: "items served", num: true, value: (v) => fmt.int(served.get(v)?.impressions ?? 0) },
    { label: "clicks", num: true, value: (v) => fmt.int(served.get(v)?.clicks ?? 0) },
    { label: "click-through", num: true, value: (v) => (served.get(v)?.impressions ? fmt.pct(served.get(v).click_through_rate) : "—") },
    { label: "purchases", num: true, value: (v) => fmt.int(served.get(v)?.purchases ?? 0) },
  ], versions, { caption: "Model versions" }),
  h("p", { class: "muted small" }, `Online counts from ${online.from} to ${online.to} (GET /v1/stats/online?days=90); `,
    "holdout scores from GET /v1/model/history. Different weeks have different customers, so these are not lifts."));
}
