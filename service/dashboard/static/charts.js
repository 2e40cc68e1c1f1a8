// Charts over time, drawn by uPlot (vendor/uplot, loaded as the global `uPlot`). Each chart is a
// <figure> with a caption, the canvas, and the same numbers as a table for keyboards and screen
// readers; `figure.dataset.points` says how many points were drawn.

import { fmt, h, table } from "./ui.js";

const DAY = 86400;
export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const charts = new Set();
let resizeTimer = null;

window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const chart of charts) {
      if (!chart.root.isConnected) charts.delete(chart);
      else chart.setSize({ width: plotWidth(chart.root.parentElement), height: chart.height });
    }
  }, 100);
});

function plotWidth(el) {
  return Math.max(240, Math.floor(el.getBoundingClientRect().width));
}

/**
 * Append a time chart to `parent` (in the document).
 *
 * x: epoch seconds; series: [{label, values (null for a gap), scale: "y" or "y2", format: value => text}];
 * axes: {y: label, y2: label}. When no series has a value, a note says so instead and no chart is drawn.
 */
export function timeChart(parent, { title, x, series, axes = {}, height = 220, empty = "No data in this period." }) {
  const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null && Number.isFinite(v)).length, 0);
  const figure = h("figure", { class: "chart", "aria-label": title, dataset: { points: String(points) } },
    h("figcaption", {}, title));
  parent.append(figure);
  if (points === 0) {
    figure.append(h("p", { class: "note" }, empty));
    return figure;
  }
  const few = x.length <= 60;
  const plot = h("div", { class: "plot" });
  figure.append(plot);
  const format = (s) => (u, v) => (v === null || v === undefined ? "—" : (s.format ?? String)(v));
  const opts = {
    width: plotWidth(figure), height,
    // uPlot widens a single time to 86400 / ms seconds after it (years, with times in seconds): a day either side
    scales: { x: { time: true, ...(x.every((t) => t === x[0]) ? { range: () => [x[0] - DAY, x[0] + DAY] } : {}) } },
    series: [
      { label: "time", value: (u, v) => (v === null ? "—" : fmt.time(v)) },
      ...series.map((s, k) => ({
        label: s.label, scale: s.scale ?? "y", stroke: s.color ?? PALETTE[k % PALETTE.length], width: 2,
        points: { show: few, size: 6, fill: s.color ?? PALETTE[k % PALETTE.length] }, spanGaps: false,
        value: format(s),
      })),
    ],
    axes: [
      { stroke: "#374151", grid: { stroke: "#e5e7eb" } },
      { scale: "y", label: axes.y, stroke: "#374151", grid: { stroke: "#e5e7eb" }, size: 56 },
      ...(axes.y2 ? [{ scale: "y2", label: axes.y2, side: 1, stroke: "#374151", grid: { show: false }, size: 56 }] : []),
    ],
    legend: { live: true },
  };
  const chart = new window.uPlot(opts, [x, ...series.map((s) => s.values)], plot);
  charts.add(chart);
  figure.append(h("details", { class: "chart-data" }, h("summary", {}, "Numbers"),
    table([{ label: "time (UTC)", value: (k) => fmt.time(x[k]) },
      ...series.map((s) => ({ label: s.label, num: true,
        value: (k) => (s.values[k] === null ? "—" : (s.format ?? String)(s.values[k])) }))],
    x.map((_, k) => k).filter((k) => series.some((s) => s.values[k] !== null && s.values[k] !== 0)),
    { caption: title })));
  return figure;
}
