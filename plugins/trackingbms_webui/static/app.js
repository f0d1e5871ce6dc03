// TrackingBMS live page.
//
// The server renders one <article class="battery"> per configured pack; this module fills
// them from the HTTP API, then keeps them current from the WebSocket stream. It uses no
// framework: each render function updates a few elements of one card in place.

import { paddedRange } from "/static/charts.js";
import { authFetch, logout } from "/static/session.js";

const API = "/api/v1";
const UPLOT_URL = "/vendor/uplot/uPlot.esm.js";
const DASH = "—"; // shown for every absent (null) value: never a fake 0
const CHART_WINDOW_S = 10 * 60;
const HISTORY_LIMIT = 1200; // enough for 10 minutes at 2 readings per second
const CHART_HEIGHT = 180;
// uPlot's own time steps jump from 1 to 5 minutes; 2 minutes suits a 10-minute window.
const TIME_TICK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const OLD_READING_S = 30; // an age above this is highlighted: the pack stopped reporting
const SOC_LOW = 20;
const SOC_CRITICAL = 10;
const TEMP_HOT_C = 45;
const TEMP_COLD_C = 0;
const TEMP_KINDS = { cell: "cell", mos: "MOSFET", board: "board", ambient: "ambient" };

/** Per battery: its card, the newest applied reading, the chart and its points. */
const batteries = new Map();

const page = {
  // Server clock minus browser clock, in ms, so "3 s ago" is right when the clocks differ.
  clockOffsetMs: 0,
  uPlot: null, // the uPlot constructor once loaded; null while loading or when unavailable
  chartsUnavailable: false, // uPlot failed to load: cards show a note instead of a chart
  socket: null,
  reconnectAttempts: 0,
  hasConnected: false,
};

// ---------------------------------------------------------------------------------------
// Formatting

/** Format a number with fixed decimals and a unit; null, undefined and NaN become DASH. */
function formatNumber(value, decimals, unit = "") {
  if (typeof value !== "number" || !Number.isFinite(value)) return DASH;
  let text = value.toFixed(decimals);
  // toFixed keeps the sign of tiny negatives ("-0.0"), which reads like a real discharge.
  if (/^-0(\.0*)?$/.test(text)) text = text.slice(1);
  return unit ? `${text} ${unit}` : text;
}

const formatVoltage = (v) => formatNumber(v, 2, "V");
const formatCurrent = (a) => formatNumber(a, 1, "A");
const formatPower = (w) => formatNumber(w, 0, "W");
const formatSoc = (pct) => formatNumber(pct, 1, "%");
const formatCellVoltage = (v) => formatNumber(v, 3, "V");
const formatTemperature = (c) => formatNumber(c, 1, "°C");

function formatDelta(volts) {
  if (typeof volts !== "number" || !Number.isFinite(volts)) return DASH;
  return `${Math.round(volts * 1000)} mV`;
}

function formatAge(seconds) {
  if (seconds == null) return DASH;
  const s = Math.max(0, Math.floor(seconds)); // a slightly early clock must not say "-1 s"
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** "charging" → ▲, "discharging" → ▼; otherwise nothing. */
function directionArrow(state) {
  if (state === "charging") return "▲";
  if (state === "discharging") return "▼";
  return "";
}

// ---------------------------------------------------------------------------------------
// DOM helpers

function field(card, name) {
  return card.querySelector(`[data-field="${name}"]`);
}

/** Set text only when it changes, so screen readers and layout are not disturbed each tick. */
function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

function setField(card, name, text) {
  setText(field(card, name), text);
}

function serverNow() {
  return Date.now() + page.clockOffsetMs;
}

// ---------------------------------------------------------------------------------------
// Battery registry: one entry per card

function registerCard(card) {
  const id = card.dataset.batteryId;
  const entry = { id, card, lastTs: null, reading: null, chart: null, points: { t: [], v: [], a: [] } };
  batteries.set(id, entry);
  initChart(entry);
  return entry;
}

/** Return the entry for a battery, creating a card from the <template> if the page lacks one. */
function ensureBattery(id, info = {}) {
  let entry = batteries.get(id);
  if (!entry) entry = registerCard(createCard(id));
  if (info.name) setField(entry.card, "name", info.name);
  if (info.driver) setField(entry.card, "driver", info.driver);
  return entry;
}

function createCard(id) {
  const template = document.getElementById("battery-card-template");
  const card = template.content.querySelector("article.battery").cloneNode(true);
  const headingId = `battery-${id}-name`;
  card.dataset.batteryId = id;
  card.setAttribute("aria-labelledby", headingId);
  field(card, "name").id = headingId;
  setField(card, "name", id); // replaced by the real name once the list arrives
  setField(card, "id", id);
  document.querySelector('[data-field="batteries"]').append(card);
  document.querySelector('[data-field="empty"]').hidden = true;
  return card;
}

// ---------------------------------------------------------------------------------------
// Applying data to a card

function applyLink(batteryId, linkState) {
  if (!batteryId) return;
  const entry = ensureBattery(batteryId);
  const state = linkState || "unknown";
  entry.card.dataset.link = state;
  setField(entry.card, "link_state", linkState || DASH);
}

/** Show a reading on its card and add it to the chart. Older readings than shown are ignored. */
function applyReading(reading) {
  if (!reading || !reading.battery_id) return;
  const entry = ensureBattery(reading.battery_id);
  const ts = Date.parse(reading.timestamp);
  // An HTTP answer can arrive after a newer reading came over the WebSocket.
  if (entry.lastTs != null && ts < entry.lastTs) return;
  entry.lastTs = ts;
  entry.reading = reading;

  const card = entry.card;
  renderMetrics(card, reading);
  renderSoc(card, reading);
  renderCells(card, reading);
  renderTemperatures(card, reading.temperatures || []);
  renderMos(card, reading);
  renderAlarms(card, reading.alarms || []);
  renderAge(entry);
  card.dataset.readingAt = reading.timestamp;
  card.dataset.updatedAt = new Date().toISOString();

  addPoints(entry, [reading]);
}

function renderMetrics(card, r) {
  setField(card, "voltage", formatVoltage(r.voltage));
  setField(card, "current", formatCurrent(r.current));
  setField(card, "power", formatPower(r.power));
  setField(card, "state", r.state || DASH);
  setField(card, "direction", directionArrow(r.state));
  card.dataset.state = r.state || "";
  setField(card, "cycles", r.cycles == null ? DASH : String(r.cycles));
  setField(card, "soh", formatNumber(r.soh, 0, "%"));
}

function renderSoc(card, r) {
  setField(card, "soc", formatSoc(r.soc));
  const bar = field(card, "soc_bar");
  const known = typeof r.soc === "number";
  const pct = known ? Math.min(100, Math.max(0, r.soc)) : 0;
  bar.querySelector(".soc-fill").style.width = `${pct}%`;
  if (known) bar.setAttribute("aria-valuenow", String(pct));
  else bar.removeAttribute("aria-valuenow");
  bar.setAttribute("aria-valuetext", known ? formatSoc(r.soc) : "unknown");
  bar.dataset.level = !known ? "" : pct <= SOC_CRITICAL ? "critical" : pct <= SOC_LOW ? "low" : "";

  const remaining = r.remaining_capacity_ah;
  const rated = r.rated_capacity_ah;
  let capacity = "";
  if (remaining != null || rated != null) {
    capacity = `${formatNumber(remaining, 1)} / ${formatNumber(rated, 1)} Ah`;
  }
  setField(card, "capacity", capacity);
}

// ---- cells

/** Pick the bar scale: around the pack's own spread, so a 10 mV imbalance is visible. */
function cellScale(values) {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = Math.max(0.02, (hi - lo) * 0.5);
  return { lo: lo - pad, hi: hi + pad };
}

/** 1-based index of the lowest or highest cell: the BMS's own when given, else computed. */
function extremeIndex(extreme, cells, pick) {
  if (extreme && Number.isInteger(extreme.index)) return extreme.index;
  const known = cells.filter((v) => typeof v === "number");
  if (!known.length) return null;
  return cells.indexOf(pick(...known)) + 1;
}

function renderCells(card, r) {
  const cells = r.cells || [];
  const container = field(card, "cells");
  syncCellElements(container, cells.length);
  container.toggleAttribute("data-many", cells.length > 16);

  const known = cells.filter((v) => typeof v === "number");
  const scale = known.length ? cellScale(known) : null;
  const minIndex = extremeIndex(r.cell_min, cells, Math.min);
  const maxIndex = extremeIndex(r.cell_max, cells, Math.max);
  const balancing = new Set(r.balancing || []);
  // With all cells equal there is no lowest or highest worth a colour.
  const spread = known.length > 1 && Math.max(...known) > Math.min(...known);

  cells.forEach((value, i) => {
    const number = i + 1;
    const flags = {
      min: spread && number === minIndex,
      max: spread && number === maxIndex,
      balancing: balancing.has(number),
    };
    renderCell(container.children[i], number, value, scale, flags);
  });

  setField(card, "cell_delta", formatDelta(r.cell_delta));
  setField(card, "cell_min", extremeLabel("min", r.cell_min));
  setField(card, "cell_max", extremeLabel("max", r.cell_max));
}

function extremeLabel(word, extreme) {
  if (!extreme) return `${word} ${DASH}`;
  return `${word} ${formatCellVoltage(extreme.voltage)} (#${extreme.index})`;
}

/** Keep exactly `count` cell elements, reusing the existing ones. */
function syncCellElements(container, count) {
  while (container.children.length > count) container.lastElementChild.remove();
  while (container.children.length < count) {
    const cell = document.createElement("div");
    cell.className = "cell";
    cell.setAttribute("role", "img"); // each bar is read out by its aria-label
    const bar = document.createElement("span");
    bar.className = "cell-bar";
    const num = document.createElement("span");
    num.className = "cell-num";
    num.setAttribute("aria-hidden", "true");
    cell.append(bar, num);
    container.append(cell);
  }
}

function renderCell(cell, number, value, scale, flags) {
  const known = typeof value === "number";
  const label = `Cell ${number}: ${formatCellVoltage(value)}`;
  const notes = [flags.min && "lowest", flags.max && "highest", flags.balancing && "balancing"].filter(Boolean);
  const height = known && scale ? 8 + (92 * (value - scale.lo)) / (scale.hi - scale.lo) : 0;

  cell.dataset.cell = String(number);
  cell.title = label; // exactly "Cell 4: 3.291 V": tests and tooltips rely on it
  cell.setAttribute("aria-label", label + (notes.length ? ` (${notes.join(", ")})` : ""));
  cell.classList.toggle("is-min", flags.min);
  cell.classList.toggle("is-max", flags.max);
  cell.classList.toggle("is-balancing", flags.balancing);
  cell.firstElementChild.style.height = `${height.toFixed(1)}%`;
  setText(cell.lastElementChild, String(number));
}

// ---- temperatures, MOSFETs, alarms

function renderTemperatures(card, temperatures) {
  const list = field(card, "temperatures");
  const items = temperatures.map((t) => {
    const li = document.createElement("li");
    li.className = "temp";
    li.dataset.sensor = String(t.sensor ?? "");
    li.dataset.kind = t.kind || "";
    li.classList.toggle("is-hot", typeof t.value === "number" && t.value >= TEMP_HOT_C);
    li.classList.toggle("is-cold", typeof t.value === "number" && t.value <= TEMP_COLD_C);
    const kind = `${TEMP_KINDS[t.kind] || t.kind || "sensor"} ${t.sensor ?? ""}`.trim();
    li.title = `${kind}: ${formatTemperature(t.value)}`;
    const value = document.createElement("span");
    value.textContent = formatTemperature(t.value);
    const label = document.createElement("span");
    label.className = "temp-kind";
    label.textContent = kind;
    li.append(value, label);
    return li;
  });
  replaceChildrenIfChanged(list, items);
}

function renderMos(card, r) {
  for (const name of ["charge_mos", "discharge_mos"]) {
    const element = field(card, name);
    const on = r[name];
    setText(element, on == null ? DASH : on ? "on" : "off");
    element.dataset.on = on == null ? "" : String(on);
  }
}

function renderAlarms(card, alarms) {
  const items = alarms.map((alarm) => {
    const li = document.createElement("li");
    li.dataset.level = alarm.level || "warning";
    li.textContent = alarm.text || alarm.code;
    if (alarm.code) {
      const code = document.createElement("span");
      code.className = "alarm-code";
      code.textContent = alarm.code;
      li.append(code);
    }
    return li;
  });
  if (!items.length) {
    const none = document.createElement("li");
    none.className = "alarm-none";
    none.textContent = "None";
    items.push(none);
  }
  replaceChildrenIfChanged(field(card, "alarms"), items);
  const levels = alarms.map((a) => a.level);
  card.dataset.alarmLevel = levels.includes("alarm") ? "alarm" : levels.length ? "warning" : "";
}

/** Swap a list's children only when the markup differs, to avoid flicker at every reading. */
function replaceChildrenIfChanged(list, items) {
  const next = items.map((item) => item.outerHTML).join("");
  if (list.innerHTML !== next) list.replaceChildren(...items);
}

// ---- age

function renderAge(entry) {
  const element = field(entry.card, "age");
  if (entry.lastTs == null) {
    setText(element, DASH);
    return;
  }
  const seconds = (serverNow() - entry.lastTs) / 1000;
  setText(element, formatAge(seconds));
  element.classList.toggle("is-old", seconds > OLD_READING_S);
}

function tickAges() {
  for (const entry of batteries.values()) renderAge(entry);
}

// ---------------------------------------------------------------------------------------
// Chart (uPlot): pack voltage on the left axis, current on the right, last CHART_WINDOW_S

/** Load uPlot without blocking the page: without it the cards still work, minus the chart. */
async function loadUPlot() {
  try {
    const module = await import(UPLOT_URL);
    page.uPlot = module.default;
  } catch (error) {
    console.warn("uPlot could not be loaded; charts are off", error);
    page.chartsUnavailable = true;
  }
  for (const entry of batteries.values()) initChart(entry);
}

function cssColor(element, name) {
  return getComputedStyle(element).getPropertyValue(name).trim();
}

function chartOptions(entry, width) {
  const card = entry.card;
  const voltage = cssColor(card, "--chart-voltage");
  const current = cssColor(card, "--chart-current");
  const muted = cssColor(card, "--muted");
  const grid = { stroke: cssColor(card, "--chart-grid"), width: 1 };
  const ticks = { stroke: cssColor(card, "--chart-grid"), width: 1 };
  const value = (format) => (_u, v) => format(v);
  return {
    width,
    height: CHART_HEIGHT,
    cursor: { drag: { x: false, y: false } },
    legend: { show: true },
    scales: { x: { time: true }, V: { range: (_u, min, max) => paddedRange(min, max, 0.05) }, A: { auto: true } },
    series: [
      { value: (_u, t) => (t == null ? DASH : new Date(t * 1000).toLocaleTimeString()) },
      { label: "Voltage", scale: "V", stroke: voltage, width: 1.5, value: value(formatVoltage) },
      { label: "Current", scale: "A", stroke: current, width: 1.5, value: value(formatCurrent) },
    ],
    axes: [
      { stroke: muted, grid, ticks, space: 60, incrs: TIME_TICK_STEPS_S, values: formatTimeTicks },
      // A small tick spacing keeps a few labels on narrow voltage ranges (tens of mV).
      { scale: "V", stroke: voltage, grid, ticks, size: 50, space: 24 },
      { scale: "A", side: 1, stroke: current, grid: { show: false }, ticks, size: 44, space: 24 },
    ],
  };
}

/** Chart containers by element, for the resize observer; cards stretch with the grid. */
const chartTargets = new WeakMap();

const chartResizer = new ResizeObserver((records) => {
  for (const record of records) {
    const entry = chartTargets.get(record.target);
    const width = Math.floor(record.contentRect.width);
    if (entry?.chart && width > 0 && width !== entry.chart.width) {
      entry.chart.setSize({ width, height: CHART_HEIGHT });
    }
  }
});

/** One-line clock labels in the reader's locale ("2:05 PM"; with seconds when ticks are closer). */
function formatTimeTicks(_u, ticks, _axisIdx, _space, increment) {
  const options = { hour: "numeric", minute: "2-digit" };
  if (increment < 60) options.second = "2-digit";
  return ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], options));
}

function initChart(entry) {
  const target = field(entry.card, "chart");
  target.toggleAttribute("data-unavailable", page.chartsUnavailable);
  if (!page.uPlot || entry.chart) return;
  const width = Math.max(200, Math.floor(target.clientWidth));
  entry.chart = new page.uPlot(chartOptions(entry, width), chartData(entry), target);
  chartTargets.set(target, entry);
  chartResizer.observe(target);
}

/** Colours come from CSS, so a light/dark switch rebuilds the charts with the new ones. */
function rebuildCharts() {
  for (const entry of batteries.values()) {
    if (!entry.chart) continue;
    chartResizer.unobserve(field(entry.card, "chart"));
    entry.chart.destroy();
    entry.chart = null;
    initChart(entry);
  }
}

function chartData(entry) {
  const { t, v, a } = entry.points;
  return [t, v, a];
}

/** Merge readings into the chart's points (kept sorted, one per timestamp) and trim the window. */
function addPoints(entry, readings) {
  const points = entry.points;
  let needsSort = false;
  for (const r of readings) {
    const t = Date.parse(r.timestamp) / 1000;
    if (!Number.isFinite(t)) continue;
    const last = points.t[points.t.length - 1];
    if (last !== undefined && t <= last) {
      if (points.t.includes(t)) continue; // already plotted (history and stream overlap)
      needsSort = true;
    }
    points.t.push(t);
    points.v.push(r.voltage ?? null); // null leaves a gap instead of plotting 0
    points.a.push(r.current ?? null);
  }
  if (needsSort) sortPoints(points);
  trimPoints(points, serverNow() / 1000 - CHART_WINDOW_S);
  scheduleChartRedraw(entry);
}

function sortPoints(points) {
  const order = points.t.map((_, i) => i).sort((i, j) => points.t[i] - points.t[j]);
  points.t = order.map((i) => points.t[i]);
  points.v = order.map((i) => points.v[i]);
  points.a = order.map((i) => points.a[i]);
}

function trimPoints(points, oldest) {
  let drop = 0;
  while (drop < points.t.length && points.t[drop] < oldest) drop += 1;
  if (drop) {
    points.t.splice(0, drop);
    points.v.splice(0, drop);
    points.a.splice(0, drop);
  }
}

/** Redraw at most once per frame: a burst of history and stream messages costs one draw. */
function scheduleChartRedraw(entry) {
  if (!entry.chart || entry.redrawPending) return;
  entry.redrawPending = true;
  requestAnimationFrame(() => {
    entry.redrawPending = false;
    if (entry.chart) entry.chart.setData(chartData(entry));
  });
}

// ---------------------------------------------------------------------------------------
// HTTP API

/** GET an API URL and return the envelope's data; null for 404 (e.g. no reading yet). */
async function getData(url) {
  const sentAt = Date.now();
  const response = await authFetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (response.status === 404) return null;
  const envelope = await response.json();
  if (!response.ok || envelope.status !== "success") {
    throw new Error(`${url}: ${envelope.message || response.status}`);
  }
  updateClockOffset(envelope.timestamp, sentAt, Date.now());
  return envelope.data;
}

/** Estimate the server's clock from the envelope timestamp, taken halfway through the request. */
function updateClockOffset(serverTimestamp, sentAt, receivedAt) {
  const server = Date.parse(serverTimestamp);
  if (Number.isFinite(server)) page.clockOffsetMs = server - (sentAt + receivedAt) / 2;
}

/** Load the battery list, each newest reading and the chart history (also after a reconnect). */
async function refreshAll() {
  const list = (await getData(`${API}/bms`)) || [];
  for (const info of list) {
    ensureBattery(info.id, info);
    applyLink(info.id, info.link_state);
  }
  await Promise.all(list.map((info) => refreshBattery(info.id).catch(reportError)));
}

async function refreshBattery(id) {
  const entry = ensureBattery(id);
  const path = `${API}/bms/data/${encodeURIComponent(id)}`;
  // After a reconnect only the gap since the last plotted point is fetched.
  const lastPlotted = entry.points.t[entry.points.t.length - 1];
  const fromSeconds = lastPlotted ?? serverNow() / 1000 - CHART_WINDOW_S;
  const from = new Date(fromSeconds * 1000).toISOString();
  const historyUrl = `${path}/history?from=${encodeURIComponent(from)}&limit=${HISTORY_LIMIT}`;
  const [history, latest] = await Promise.all([getData(historyUrl), getData(path)]);
  if (history && history.length) addPoints(entry, history);
  if (latest) applyReading(latest);
}

function reportError(error) {
  console.warn(error);
}

// ---------------------------------------------------------------------------------------
// WebSocket stream with reconnect

function setLive(state) {
  // "true" only while the socket is open: tests and CSS key on it.
  document.body.dataset.live = state === "live" ? "true" : state === "reconnecting" ? "reconnecting" : "false";
  const labels = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…" };
  setText(document.querySelector('[data-field="live"]'), labels[state] || state);
}

function connectStream() {
  const protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${protocol}//${location.host}${API}/stream`);
  page.socket = socket;
  setLive(page.hasConnected ? "reconnecting" : "connecting");

  let opened = false;
  socket.addEventListener("open", () => {
    opened = true;
    page.reconnectAttempts = 0;
    setLive("live");
    // Readings sent while the socket was down are lost: fetch what was missed.
    if (page.hasConnected) refreshAll().catch(reportError);
    page.hasConnected = true;
  });
  socket.addEventListener("message", (event) => handleMessage(event.data));
  // "error" is always followed by "close", so reconnecting is handled there only.
  socket.addEventListener("close", () => {
    if (page.socket !== socket) return;
    // Refused before it opened: maybe the session ended. An API call renews it or goes to the login page.
    if (!opened) getData(`${API}/bms`).catch(reportError);
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  setLive("reconnecting");
  // Exponential backoff with jitter, so many open pages do not reconnect in lock-step.
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** page.reconnectAttempts);
  const delay = base / 2 + Math.random() * (base / 2);
  page.reconnectAttempts += 1;
  setTimeout(connectStream, delay);
}

function handleMessage(raw) {
  let message;
  try {
    message = JSON.parse(raw);
  } catch {
    console.warn("ignoring a stream message that is not JSON", raw);
    return;
  }
  if (message.type === "reading") applyReading(message.data);
  else if (message.type === "link" && message.data) applyLink(message.data.battery_id, message.data.link_state);
  // Other types are for newer pages; ignore them.
}

// ---------------------------------------------------------------------------------------
// Start

function start() {
  for (const card of document.querySelectorAll("article.battery[data-battery-id]")) {
    if (card.dataset.batteryId) registerCard(card);
  }
  setLive("connecting");
  loadUPlot();
  refreshAll().catch(reportError);
  connectStream();
  document.querySelector('[data-action="logout"]')?.addEventListener("click", logout);
  setInterval(tickAges, 1000);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", rebuildCharts);
}

start();
