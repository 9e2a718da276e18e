// Tally dashboard: reads the stats API (/_tally/api/), draws with plain DOM and SVG.
// No cookies, no storage, no third-party requests. Values from the site (paths, referrers,
// campaigns) are only ever set as text, never as HTML.
"use strict";

const API = "/_tally/api/";
const LIVE_EVERY_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";

// A token given as #token=… (when the API requires one) goes in the Authorization header.
const token = new URLSearchParams(location.hash.slice(1)).get("token");

async function api(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const response = await fetch(API + path, { headers, cache: "no-store", credentials: "omit" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(path + ": " + (body.error || response.status));
  }
  return body;
}

const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n || 0).toLocaleString("en-US");

function showError(e) {
  const el = $("error");
  el.textContent = String(e.message || e);
  el.hidden = false;
}

function utcDay(d) {
  return d.toISOString().slice(0, 10);
}

function setRange(days) {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86400000);
  $("from").value = utcDay(from);
  $("to").value = utcDay(to);
}

function days(from, to) {
  const out = [];
  for (let t = Date.parse(from + "T00:00:00Z"); t <= Date.parse(to + "T00:00:00Z"); t += 86400000) {
    out.push(utcDay(new Date(t)));
  }
  return out;
}

function fillTable(id, rows, columns) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = body.insertRow();
    tr.className = "empty";
    const td = tr.insertCell();
    td.colSpan = columns.length;
    td.textContent = "no data";
    return;
  }
  for (const row of rows) {
    const tr = body.insertRow();
    tr.dataset.key = String(row[columns[0]]);
    columns.forEach((c, i) => {
      const td = tr.insertCell();
      td.textContent = i === 0 ? String(row[c]) : fmt(row[c]);
      if (i > 0) td.className = "n";
    });
  }
}

// Sums `views` by `key` over rows, largest first.
function sumBy(rows, key) {
  const sums = new Map();
  for (const r of rows) sums.set(r[key], (sums.get(r[key]) || 0) + Number(r.views || 0));
  return [...sums].map(([k, views]) => ({ [key]: k, views }))
    .sort((a, b) => b.views - a.views || String(a[key]).localeCompare(String(b[key])));
}

function bars(svgId, series, labels) {
  const svg = $(svgId);
  svg.replaceChildren();
  const [w, h] = [600, svg.viewBox.baseVal.height];
  const n = labels.length;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const slot = w / Math.max(n, 1);
  const gap = Math.min(2, slot * 0.1);
  const width = (slot - gap) / series.length;
  series.forEach((s, si) => {
    s.values.forEach((v, i) => {
      const rect = document.createElementNS(SVG, "rect");
      const height = (v / max) * (h - 14);
      rect.setAttribute("x", String(i * slot + si * width));
      rect.setAttribute("y", String(h - 12 - height));
      rect.setAttribute("width", String(Math.max(width, 0.5)));
      rect.setAttribute("height", String(height));
      rect.setAttribute("class", s.cls);
      const title = document.createElementNS(SVG, "title");
      title.textContent = labels[i] + ": " + fmt(v) + " " + s.name;
      rect.appendChild(title);
      svg.appendChild(rect);
    });
  });
  const step = Math.ceil(n / 8);
  labels.forEach((label, i) => {
    if (i % step !== 0) return;
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("x", String(i * slot));
    text.setAttribute("y", String(h - 1));
    text.textContent = label;
    svg.appendChild(text);
  });
}

async function loadHistory() {
  const from = $("from").value;
  const to = $("to").value;
  const q = "?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to);
  const [daily, pages, referrers, campaigns, countries, devices, hours] = await Promise.all(
    ["daily_visitors", "top_pages", "referrers", "campaigns", "countries", "devices", "hours"]
      .map((name) => api("query/" + name + q).then((r) => r.rows)),
  );
  $("views").textContent = fmt(daily.reduce((s, r) => s + Number(r.views || 0), 0));
  $("visitors").textContent = fmt(daily.reduce((s, r) => s + Number(r.visitors || 0), 0));
  const byDay = new Map(daily.map((r) => [r.day, r]));
  const labels = days(from, to);
  bars("chart-days", [
    { name: "views", cls: "views", values: labels.map((d) => Number(byDay.get(d)?.views || 0)) },
    { name: "visitors", cls: "visitors", values: labels.map((d) => Number(byDay.get(d)?.visitors || 0)) },
  ], labels.map((d) => d.slice(5)));
  fillTable("t-pages", pages, ["page", "views", "visitors"]);
  fillTable("t-referrers", referrers, ["referrer", "views"]);
  fillTable("t-campaigns", sumBy(campaigns, "campaign"), ["campaign", "views"]);
  fillTable("t-countries", countries, ["country", "views"]);
  fillTable("t-devices", sumBy(devices, "device"), ["device", "views"]);
  fillTable("t-browsers", sumBy(devices, "browser"), ["browser", "views"]);
  const perHour = Array.from({ length: 24 }, (_, h) => Number(hours.find((r) => Number(r.hour) === h)?.views || 0));
  const hourLabels = perHour.map((_, h) => String(h).padStart(2, "0"));
  bars("chart-hours", [{ name: "views", cls: "views", values: perHour }], hourLabels);
  const body = $("t-hours").tBodies[0];
  body.replaceChildren();
  const head = body.insertRow();
  const vals = body.insertRow();
  perHour.forEach((v, h) => {
    head.insertCell().textContent = hourLabels[h];
    const td = vals.insertCell();
    td.textContent = fmt(v);
    td.dataset.hour = hourLabels[h];
  });
}

async function loadLive() {
  const live = await api("live");
  const total = $("live-total");
  total.textContent = fmt(live.total);
  total.dataset.updates = String(Number(total.dataset.updates || 0) + 1);
  $("live-updated").textContent = new Date().toISOString().slice(11, 19) + " UTC";
  bars("chart-live", [{ name: "views", cls: "views", values: live.minutes.map((m) => m.count) }],
    live.minutes.map((m) => m.minute.slice(11, 16)));
}

async function refresh() {
  $("error").hidden = true;
  document.body.dataset.state = "loading";
  try {
    await Promise.all([loadHistory(), loadLive()]);
    document.body.dataset.state = "ready";
  } catch (e) {
    document.body.dataset.state = "error";
    showError(e);
  }
}

function start() {
  setRange(7);
  api("status").then((s) => { $("site").textContent = s.site; }).catch(showError);
  $("range").addEventListener("submit", (e) => {
    e.preventDefault();
    refresh();
  });
  for (const b of document.querySelectorAll("button[data-days]")) {
    b.addEventListener("click", () => {
      setRange(Number(b.dataset.days));
      refresh();
    });
  }
  refresh();
  setInterval(() => loadLive().catch(showError), LIVE_EVERY_MS);
}

document.addEventListener("DOMContentLoaded", start);
