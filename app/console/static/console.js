// The Alien Server console (docs/behaviour.md §12): plain JavaScript, no library, nothing
// fetched from elsewhere. It polls the server's reads at most once a second, one at a time,
// sending back each read's ETag (a 304 costs no body and no redraw). The token lives in
// sessionStorage and travels only in the Authorization header. Data is put in the page as text,
// never as HTML: names and errors are whatever clients sent.
"use strict";

const KEY = "alien-console-token";
const PERIOD_MS = 1000;
const JOURNAL_KEPT = 100; // entries shown
const JOURNAL_PAGE = 1000; // the most GET /_test/requests gives at once
const JOURNAL_PAGES = 5;
const PHASES = {
  pending: ["pending", "update-pending"],
  working: ["initial-setup", "provisioning", "updating"],
  running: ["running"],
  failed: ["initial-setup-failed", "provisioning-failed", "refresh-failed", "update-failed",
           "delete-failed"],
  deleting: ["delete-pending", "deleting", "deleted"],
};
const STATUSES = Object.values(PHASES).flat();

const $ = (id) => document.getElementById(id);
const seen = {}; // "state", "history" -> {path, etag, body}: the last answer of each read
let state = null;
let selected = null; // the deployment whose history is shown
let clockOffsetMs = 0; // the server's clock minus this browser's
let journal = { on: false, since: 0, items: [], note: "" };
let timer = null;
let generation = 0; // a restart begins a new loop; the one before stops at its next step

function phase(status) {
  return Object.keys(PHASES).find((p) => PHASES[p].includes(status)) || "pending";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function rows(tbody, items, render) {
  tbody.replaceChildren(...items.map(render));
}

function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, Math.round((Date.now() + clockOffsetMs - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function short(id) {
  return id ? el("code", { title: id }, id.length > 14 ? id.slice(0, 13) + "…" : id) : "";
}

// -- talking to the server ---------------------------------------------------------------

class Refused extends Error {}

async function read(path, kind) {
  const token = sessionStorage.getItem(KEY);
  const headers = { Authorization: `Bearer ${token}` };
  const last = kind && seen[kind] && seen[kind].path === path ? seen[kind] : null;
  if (last) headers["If-None-Match"] = last.etag;
  const response = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
  const now = response.headers.get("X-Console-Now");
  if (now) clockOffsetMs = Date.parse(now) - Date.now();
  if (response.status === 304) return { body: last.body, changed: false };
  const body = await response.json().catch(() => null);
  if (response.status === 401) throw new Refused((body && body.message) || "token refused");
  if (!response.ok) {
    const error = new Error((body && body.message) || `${path}: ${response.status}`);
    error.status = response.status;
    throw error;
  }
  if (kind) seen[kind] = { path, etag: response.headers.get("ETag"), body };
  return { body, changed: true };
}

function statePath() {
  const query = new URLSearchParams();
  for (const name of ["group", "status", "platform"]) {
    const value = $(`filter-${name}`).value;
    if (value) query.set(name, value);
  }
  const text = query.toString();
  return "/console/api/state" + (text ? "?" + text : "");
}

async function refresh() {
  const got = await read(statePath(), "state");
  state = got.body;
  if (got.changed) drawState();
  drawLeaseAges();
  if (selected) {
    try {
      const path = `/console/api/history?deployment=${encodeURIComponent(selected)}`;
      const history = await read(path, "history");
      if (history.changed) drawHistory(history.body);
    } catch (error) {
      if (error.status !== 404) throw error;
      selected = null; // the deployment is gone
      $("history").hidden = true;
    }
  }
  journal.on = state.testMode && state.caller.kind === "admin";
  if (journal.on) await refreshJournal();
  $("journal").hidden = !journal.on;
  $("live").textContent = `live, ${new Date().toLocaleTimeString()}`;
}

async function refreshJournal() {
  if (journal.note) return; // the server has no journal: asked once
  // The journal comes oldest first, after a sequence number: pages of the most it gives, until
  // the newest (a few pages at most per round, so a long journal is caught up over rounds).
  for (let page = 0; page < JOURNAL_PAGES; page += 1) {
    const query = new URLSearchParams({ since: String(journal.since), limit: String(JOURNAL_PAGE) });
    let body;
    try {
      ({ body } = await read(`/_test/requests?${query}`));
    } catch (error) {
      if (error instanceof Refused) throw error;
      journal.note = `No request journal on this server (${error.message}).`;
      $("journal-note").textContent = journal.note;
      return;
    }
    const items = (body && body.items) || [];
    const fresh = items.filter((e) => e.sequence > journal.since);
    if (!fresh.length) break;
    journal.since = Math.max(...fresh.map((e) => e.sequence));
    // The console's own reads are left out: they would fill it once a second.
    const shown = fresh.filter((e) => !String(e.path).startsWith("/console/"));
    journal.items = [...shown.reverse(), ...journal.items].slice(0, JOURNAL_KEPT);
    if (items.length < JOURNAL_PAGE) break;
  }
  drawJournal();
}

// -- drawing -------------------------------------------------------------------------------

function drawState() {
  const s = state;
  $("who").textContent = s.caller.kind === "admin" ? "admin: everything"
    : `${s.caller.kind} token: group ${s.caller.deploymentGroupId}`;
  rows($("groups").tBodies[0], s.groups, (g) => el("tr", {},
    el("td", {}, g.name), el("td", {}, short(g.id)),
    el("td", {}, el("meter", { min: 0, max: g.maxDeployments, value: g.deploymentCount }),
       ` ${g.deploymentCount} / ${g.maxDeployments}`)));
  fillSelect("filter-group", s.groups.map((g) => [g.id, g.name]));
  const statuses = STATUSES.filter((st) => s.counts[st] || st === s.filters.status);
  fillSelect("filter-status", statuses.map((st) => [st, st]));
  fillSelect("filter-platform", s.platforms.map((p) => [p, p]));
  drawChart(s.counts);
  const total = Object.values(s.counts).reduce((a, b) => a + b, 0);
  const more = total > s.deployments.length && !s.filters.status
    ? ` (newest ${s.deployments.length} of ${total})` : "";
  $("deployment-count").textContent = more;
  const groupNames = Object.fromEntries(s.groups.map((g) => [g.id, g.name]));
  rows($("deployments").tBodies[0], s.deployments, (d) => el("tr",
    { "data-id": d.id, class: d.id === selected ? "selected" : null },
    el("td", {}, el("a", { href: "#", "data-id": d.id, title: d.id }, d.name)),
    el("td", {}, groupNames[d.deploymentGroupId] || short(d.deploymentGroupId)),
    el("td", {}, d.platform),
    el("td", {}, el("span", { class: `status ${phase(d.status)}` }, d.status)),
    el("td", {}, short(d.currentReleaseId)), el("td", {}, short(d.desiredReleaseId)),
    el("td", { class: "lease" }, lease(d.lease)),
    el("td", { "data-at": d.updatedAt || d.createdAt, class: "age" }, ""),
    el("td", { class: "error" }, d.error ? (d.error.message || d.error.code || "error") : "")));
  rows($("releases").tBodies[0], s.releases, (r) => el("tr", {},
    el("td", {}, short(r.id)), el("td", {}, new Date(r.createdAt).toLocaleString()),
    el("td", {}, r.platforms.join(", "))));
}

function lease(held) {
  if (!held) return "";
  return el("span", { class: held.stale ? "stale" : null, "data-at": held.lockedAt },
    el("code", {}, held.session), " ", el("span", { class: "age" }, ""),
    held.stale ? el("strong", {}, " stale") : null);
}

function drawLeaseAges() {
  for (const node of document.querySelectorAll("[data-at]")) {
    const target = node.classList.contains("age") ? node : node.querySelector(".age");
    if (target) target.textContent = ago(node.getAttribute("data-at"));
  }
}

function fillSelect(id, options) {
  const select = $(id);
  const chosen = select.value;
  const wanted = [["", "all"], ...options];
  if (chosen && !options.some(([value]) => value === chosen)) wanted.push([chosen, chosen]);
  select.replaceChildren(...wanted.map(([value, label]) => el("option", { value }, label)));
  select.value = chosen;
}

function drawChart(counts) {
  const most = Math.max(1, ...Object.values(counts));
  $("chart").replaceChildren(...STATUSES.filter((st) => counts[st]).map((st) => el("div",
    { class: "bar-row" }, el("span", { class: "bar-label" }, st),
    el("span", { class: `bar ${phase(st)}`, "data-width": String(counts[st] / most) }),
    el("span", { class: "bar-count" }, counts[st]))));
  // Widths set through the DOM, not a style attribute: the page's policy allows no inline style.
  for (const bar of $("chart").querySelectorAll(".bar")) {
    bar.style.width = `${Math.max(2, 60 * Number(bar.getAttribute("data-width")))}%`;
  }
}

function drawHistory(body) {
  const shown = state && state.deployments.find((d) => d.id === body.deploymentId);
  $("history-name").textContent = shown ? shown.name : body.deploymentId;
  $("history").hidden = false;
  rows($("history").querySelector("tbody"), body.changes, (c) => el("tr", {},
    el("td", {}, new Date(c.at).toLocaleString()),
    el("td", {}, c.from ? el("span", { class: `status ${phase(c.from)}` }, c.from) : "(created)"),
    el("td", {}, el("span", { class: `status ${phase(c.to)}` }, c.to)),
    el("td", {}, c.by.session !== undefined ? el("span", {}, "session ", el("code", {}, c.by.session))
      : `${c.by.call} (${c.by.caller} token)`)));
}

function drawJournal() {
  rows($("journal").querySelector("tbody"), journal.items, (e) => el("tr", {},
    el("td", {}, e.sequence), el("td", {}, e.time ? new Date(e.time).toLocaleTimeString() : ""),
    el("td", {}, el("code", {}, `${e.method} ${e.path}${e.query ? "?" + e.query : ""}`)),
    el("td", {}, e.operationId || ""),
    el("td", {}, e.response && e.response.status !== undefined ? e.response.status : e.status),
    el("td", {}, e.answered || ""), el("td", {}, e.durationMs)));
}

// -- signing in and the loop ------------------------------------------------------------------

function show(signedIn, problem) {
  $("sign-in").hidden = signedIn;
  $("board").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  $("problem").hidden = !problem;
  $("problem").textContent = problem || "";
}

async function tick(loop) {
  if (loop !== generation || !sessionStorage.getItem(KEY)) return;
  try {
    if (!document.hidden) await refresh();
    if (loop === generation) show(true, "");
  } catch (error) {
    if (loop !== generation) return;
    if (error instanceof Refused) {
      signOut(`Signed out: ${error.message}`);
      return;
    }
    show(true, `Not updated: ${error.message}`);
  }
  // One read at a time, at most one round a second.
  if (loop === generation) timer = setTimeout(() => tick(loop), PERIOD_MS);
}

function restart() {
  generation += 1;
  clearTimeout(timer);
  tick(generation);
}

function signOut(problem) {
  generation += 1;
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  for (const kind of Object.keys(seen)) delete seen[kind];
  state = null;
  selected = null;
  journal = { on: false, since: 0, items: [], note: "" };
  show(false, problem || "");
}

function start() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search); // out of the address bar
  }
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    restart();
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  for (const name of ["group", "status", "platform"]) {
    $(`filter-${name}`).addEventListener("change", restart);
  }
  $("deployments").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-id]");
    if (!link) return;
    event.preventDefault();
    selected = link.getAttribute("data-id");
    for (const row of $("deployments").tBodies[0].rows) {
      row.classList.toggle("selected", row.getAttribute("data-id") === selected);
    }
    restart();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) restart(); });
  if (sessionStorage.getItem(KEY)) restart(); else show(false, "");
}

start();
