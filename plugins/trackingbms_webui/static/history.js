// TrackingBMS history page.
//
// Reads a battery's stored history for a range from the API and draws one chart per metric:
// each point is a bucket (5 minutes to a day, as the hub picks for the range) with its mean,
// lowest and highest value, so a short spike stays visible however long the range. The battery
// and the range live in the URL (?battery=garage&range=86400), so a view can be bookmarked.

import { paddedRange } from "/static/charts.js";
import { authFetch, logout } from "/static/session.js";

const API = "/api/v1";
const UPLOT_URL = "/vendor/uplot/uPlot.esm.js";
const DASH = "—";
const POINTS = 600; // about one per two pixels of a wide chart
const DEFAULT_RANGE_S = 86400;
const CHART_HEIGHT = 160;
// What is asked for: the charted metrics, and the energy that flowed in each bucket.
const METRICS = ["voltage", "current", "soc", "temperature_max"];
const FIELDS = [...METRICS, "charged_wh", "discharged_wh"];
const DECIMALS = { voltage: 2, current: 1, soc: 1, temperature_max: 1 };

// span: the [from, to] of the shown range in seconds, the charts' time axis.
const view = { battery: "", range: DEFAULT_RANGE_S, span: [0, 0], uPlot: null, charts: new Map(), request: 0 };

const $ = (selector) => document.querySelector(selector);

/** Wh as "850 Wh" or "12.35 kWh"; DASH when unknown. */
function formatEnergy(wh) {
  if (typeof wh !== "number" || !Number.isFinite(wh)) return DASH;
  return wh < 1000 ? `${Math.round(wh)} Wh` : `${(wh / 1000).toFixed(2)} kWh`;
}

function formatBucket(seconds) {
  if (seconds >= 86400) return `${Math.round(seconds / 86400)} d`;
  if (seconds >= 3600) return `${Math.round(seconds / 3600)} h`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds)} s`;
}

/** The battery and range asked for in the URL, else the first battery and 24 h. */
function readUrl() {
  const params = new URLSearchParams(location.search);
  const select = $('[data-field="battery"]');
  const ids = [...select.options].map((option) => option.value);
  view.battery = ids.includes(params.get("battery")) ? params.get("battery") : ids[0];
  const ranges = [...document.querySelectorAll("[data-range]")].map((b) => Number(b.dataset.range));
  const asked = Number(params.get("range"));
  view.range = ranges.includes(asked) ? asked : DEFAULT_RANGE_S;
  select.value = view.battery;
}

function writeUrl() {
  const params = new URLSearchParams({ battery: view.battery, range: String(view.range) });
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function historyUrl(format) {
  const [from, to] = view.span.map((seconds) => new Date(seconds * 1000));
  const params = new URLSearchParams({
    from: from.toISOString(),
    to: to.toISOString(),
    points: String(POINTS),
    fields: FIELDS.join(","),
  });
  if (format) params.set("format", format);
  return `${API}/bms/data/${encodeURIComponent(view.battery)}/history?${params}`;
}

/** Columns for uPlot: time in seconds, then mean, low and high of one metric. */
function columns(rows, metric) {
  const time = [];
  const mean = [];
  const low = [];
  const high = [];
  for (const row of rows) {
    time.push(Date.parse(row.timestamp) / 1000);
    const value = row[metric] ?? null;
    mean.push(value);
    // Raw rows have one value; aggregated ones their bucket's extremes too.
    low.push(row[`${metric}_min`] ?? value);
    high.push(row[`${metric}_max`] ?? value);
  }
  return [time, mean, low, high];
}

function chartOptions(metric, width) {
  const style = getComputedStyle(document.documentElement);
  const colour = style.getPropertyValue("--accent").trim() || "#2563eb";
  const grid = { stroke: style.getPropertyValue("--chart-grid").trim() || "rgba(0,0,0,0.07)" };
  const axis = { stroke: style.getPropertyValue("--muted").trim(), grid, ticks: grid };
  const value = (u, v) => (v == null ? DASH : v.toFixed(DECIMALS[metric]));
  return {
    width,
    height: CHART_HEIGHT,
    cursor: { sync: { key: "history" } },
    legend: { live: true },
    // The whole range, not only where there is data: a gap shows as a gap.
    scales: { x: { time: true, range: () => view.span }, y: { range: (_u, min, max) => paddedRange(min, max, Math.max(Math.abs(max ?? 0) * 0.002, 0.05)) } },
    axes: [axis, { ...axis, size: 56 }],
    series: [
      {},
      { label: "mean", stroke: colour, width: 2, value, spanGaps: false },
      { label: "low", stroke: colour, width: 1, dash: [4, 4], value },
      { label: "high", stroke: colour, width: 1, dash: [4, 4], value },
    ],
    bands: [{ series: [3, 2], fill: `${colour}22` }],
  };
}

function drawCharts(rows) {
  for (const metric of METRICS) {
    const target = $(`[data-chart="${metric}"]`);
    const data = columns(rows, metric);
    const existing = view.charts.get(metric);
    if (existing) {
      existing.setData(data);
      continue;
    }
    if (!view.uPlot) continue;
    const chart = new view.uPlot(chartOptions(metric, target.clientWidth || 600), data, target);
    view.charts.set(metric, chart);
  }
}

function showSummary(meta, rows) {
  const summary = meta.aggregated
    ? `${rows.length} points of ${formatBucket(meta.bucket_s)} each (lowest, mean and highest value)`
    : `${rows.length} readings`;
  $('[data-field="summary"]').textContent = summary;
  const sum = (key) => rows.reduce((total, row) => total + (row[key] ?? 0), 0);
  $('[data-field="charged"]').textContent = formatEnergy(sum("charged_wh"));
  $('[data-field="discharged"]').textContent = formatEnergy(sum("discharged_wh"));
}

async function load() {
  const request = ++view.request; // a newer choice wins over an answer still on its way
  const now = Date.now() / 1000;
  view.span = [now - view.range, now];
  writeUrl();
  for (const button of document.querySelectorAll("[data-range]")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.range) === view.range));
  }
  $('[data-field="csv"]').href = historyUrl("csv");
  $('[data-field="summary"]').textContent = "Loading…";
  const response = await authFetch(historyUrl(), { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({ message: response.statusText }));
  if (request !== view.request) return;
  if (!response.ok) {
    $('[data-field="summary"]').textContent = `Could not read the history: ${body.message}`;
    return;
  }
  const rows = body.data;
  $('[data-field="empty"]').hidden = rows.length > 0;
  $('[data-field="charts"]').hidden = rows.length === 0;
  showSummary(body.meta, rows);
  drawCharts(rows);
  document.body.dataset.loaded = `${view.battery}:${view.range}`;
}

async function loadUPlot() {
  try {
    view.uPlot = (await import(UPLOT_URL)).default;
  } catch (error) {
    console.warn("uPlot could not be loaded; charts are off", error);
  }
}

function resizeCharts() {
  for (const [metric, chart] of view.charts) {
    const width = $(`[data-chart="${metric}"]`).clientWidth;
    if (width) chart.setSize({ width, height: CHART_HEIGHT });
  }
}

async function main() {
  document.querySelector('[data-action="logout"]')?.addEventListener("click", logout);
  if (!$('[data-field="battery"]')) return; // no battery configured
  readUrl();
  $('[data-field="battery"]').addEventListener("change", (event) => {
    view.battery = event.target.value;
    load();
  });
  for (const button of document.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => {
      view.range = Number(button.dataset.range);
      load();
    });
  }
  window.addEventListener("resize", resizeCharts);
  await loadUPlot();
  await load();
}

main();
