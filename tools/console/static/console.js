// The ops console's pages: the executions list and one execution's detail. Both poll the console's JSON API and
// update in place; the graph arrives as SVG drawn by the server.
"use strict";

const EXECUTION_STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
const ORDER_STATUSES = ["RECEIVED", "VALIDATED", "AUTHORIZED", "AWAITING_SHIPMENT", "SHIPPED", "COMPLETED",
  "REJECTED", "PAYMENT_DECLINED", "OUT_OF_STOCK", "CANCELLED", "FAILED"];
const LIST_REFRESH_MS = 3000;
const DETAIL_REFRESH_MS = 1000;
// A child execution's events may reach its log group after the parent has ended: keep polling this long for them.
const LATE_LOGS_MS = 60000;

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (body && body.message) || response.statusText;
    throw Object.assign(new Error(message), { status: response.status, body });
  }
  return body;
}

// Actions carry this session's CSRF token, which only a page of the console can read. A console restarted since
// the token was read refuses it as "csrf": read a new one and send the action once more.
let csrfToken = null;

function sessionToken(renew = false) {
  if (renew || !csrfToken) {
    csrfToken = api("/api/session").then((session) => session.csrfToken);
    csrfToken.catch(() => { csrfToken = null; });
  }
  return csrfToken;
}

async function post(path, body) {
  for (const renew of [false, true]) {
    try {
      return await api(path, { method: "POST", body: JSON.stringify(body || {}),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": await sessionToken(renew) } });
    } catch (error) {
      if (renew || error.status !== 403 || !error.body || error.body.error !== "csrf") throw error;
    }
  }
}

function statusPill(status, extraClass = "") {
  return element("span", { className: `pill ${extraClass} s-${(status || "none").toLowerCase()}`,
    text: status || "—" });
}

function time(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false });
}

function clock(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleTimeString(undefined, { hour12: false }) + "." + String(date.getMilliseconds()).padStart(3, "0");
}

function duration(startIso, stopIso) {
  if (!startIso) return "—";
  const ms = (stopIso ? new Date(stopIso) : new Date()) - new Date(startIso);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function money(cents, currency) {
  if (cents === null || cents === undefined) return "—";
  return `${(cents / 100).toFixed(2)} ${currency || ""}`.trim();
}

// Causes nest JSON inside JSON strings (a Lambda error inside a Step Functions cause): unfold every level.
function unfold(value) {
  if (typeof value === "string" && /^\s*[[{]/.test(value)) {
    try {
      return unfold(JSON.parse(value));
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map(unfold);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, unfold(item)]));
  }
  return value;
}

function pretty(text) {
  if (text === null || text === undefined) return "—";
  const value = unfold(text);
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// The human sentence inside a cause, wherever the layers put it.
function message(cause) {
  const value = unfold(cause);
  if (!value || typeof value !== "object") return value || "";
  if (typeof value.errorMessage === "string") return value.errorMessage;
  for (const item of Object.values(value)) {
    const found = message(item);
    if (found) return found;
  }
  return "";
}

function showLive(ok) {
  const live = $("live");
  live.classList.toggle("stale", !ok);
  live.textContent = ok ? "● live" : "● reconnecting…";
}

// ---- the executions list -------------------------------------------------------------------------------------

const list = { pages: [null], page: 0, next: null, timer: null, request: 0 };

function listFilters() {
  const params = new URLSearchParams(location.search);
  return { status: params.get("status") || "", orderStatus: params.get("orderStatus") || "", q: params.get("q") || "" };
}

function setListFilters(changes) {
  const params = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value) params.set(name, value);
    else params.delete(name);
  }
  history.replaceState(null, "", `/?${params}`);
  list.pages = [null];
  list.page = 0;
  refreshList();
}

function renderChips(counts) {
  const filters = listFilters();
  const chips = $("status-chips");
  chips.replaceChildren();
  const total = EXECUTION_STATUSES.reduce((sum, status) => sum + (counts.counts[status] || 0), 0);
  const entries = [["", "All", total], ...EXECUTION_STATUSES.map((s) => [s, s.replace("_", " "), counts.counts[s]])];
  for (const [status, label, count] of entries) {
    const capped = counts.capped.includes(status) ? "+" : "";
    const chip = element("button", { type: "button", className: `chip s-${(status || "all").toLowerCase()}`,
      "data-status": status || "ALL", "aria-pressed": String(filters.status === status) },
      label, element("span", { className: "count", text: `${count ?? "…"}${capped}` }));
    chip.addEventListener("click", () => setListFilters({ status }));
    chips.append(chip);
  }
}

function renderRows(page) {
  const rows = $("execution-rows");
  rows.replaceChildren();
  for (const execution of page.executions) {
    const link = element("a", { href: `/executions/${encodeURIComponent(execution.name)}`, text: execution.name });
    rows.append(element("tr", { "data-order-id": execution.name, "data-status": execution.status },
      element("td", { className: "mono" }, link),
      element("td", {}, statusPill(execution.status)),
      element("td", {}, statusPill(execution.orderStatus, "order")),
      element("td", { className: "customer" }, ...customer(execution.customerId, execution.customerEmail)),
      element("td", { className: "num", text: money(execution.totalCents, execution.currency) }),
      element("td", { text: time(execution.startDate) }),
      element("td", { className: "num", text: duration(execution.startDate, execution.stopDate) })));
  }
  $("no-executions").hidden = page.executions.length > 0;
  list.next = page.next;
  $("older").disabled = !page.next;
  $("newer").disabled = list.page === 0;
  $("page-number").textContent = `page ${list.page + 1}`;
}

// A refresh already in flight when the filters change must not render its stale answer over the new one, so
// only the newest request renders and schedules the next refresh.
async function refreshList() {
  clearTimeout(list.timer);
  const request = ++list.request;
  const filters = listFilters();
  const query = new URLSearchParams();
  if (filters.status) query.set("status", filters.status);
  if (filters.orderStatus) query.set("orderStatus", filters.orderStatus);
  if (filters.q) query.set("q", filters.q);
  if (list.pages[list.page]) query.set("page", list.pages[list.page]);
  try {
    const [page, counts] = await Promise.all([api(`/api/executions?${query}`), api("/api/counts")]);
    if (request !== list.request) return;
    renderChips(counts);
    renderRows(page);
    showLive(true);
  } catch (error) {
    if (request !== list.request) return;
    showLive(false);
  }
  list.timer = setTimeout(refreshList, LIST_REFRESH_MS);
}

function startList() {
  $("list-page").hidden = false;
  const filters = listFilters();
  const select = $("order-status");
  for (const status of ORDER_STATUSES) select.append(element("option", { value: status, text: status }));
  select.value = filters.orderStatus;
  select.addEventListener("change", () => setListFilters({ orderStatus: select.value }));
  $("search").value = filters.q;
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setListFilters({ q: $("search").value.trim() });
  });
  $("search").addEventListener("search", () => setListFilters({ q: $("search").value.trim() }));
  $("older").addEventListener("click", () => {
    list.pages[list.page + 1] = list.next;
    list.page += 1;
    refreshList();
  });
  $("newer").addEventListener("click", () => {
    list.page = Math.max(0, list.page - 1);
    refreshList();
  });
  refreshList();
}

// ---- one execution --------------------------------------------------------------------------------------------

const detail = { name: null, data: null, svg: null, selected: null, timer: null, request: 0 };

function renderSummary(data) {
  const execution = data.execution;
  $("order-id").textContent = execution.name;
  document.title = `${execution.name} · Orders console`;
  const pill = $("execution-status");
  pill.className = `pill s-${execution.status.toLowerCase()}`;
  pill.textContent = execution.status;
  const orderStatus = data.order ? data.order.status : null;
  const orderPill = $("order-status-pill");
  orderPill.className = `pill order s-${(orderStatus || "none").toLowerCase()}`;
  orderPill.textContent = orderStatus ? `order ${orderStatus}` : "no order record";
  $("execution-times").textContent =
    `started ${time(execution.startDate)} · ${execution.stopDate ? "took" : "running for"} ` +
    duration(execution.startDate, execution.stopDate);
  const canShip = data.actions.shipment;
  for (const id of ["tracking-number", "action-ship", "failure-reason", "action-fail", "action-cancel"]) {
    $(id).hidden = !canShip;
  }
  $("action-stop").hidden = !data.actions.stop;
  const banner = $("execution-error");
  banner.hidden = !execution.error;
  if (execution.error) {
    banner.replaceChildren(
      element("strong", { text: `${execution.status}: ${execution.error}` }),
      element("span", { className: "cause", text: message(execution.cause) }),
      element("details", {}, element("summary", { text: "Cause" }), element("pre", { text: pretty(execution.cause) })));
  }
}

function renderGraph(data) {
  if (data.graphSvg !== detail.svg) {
    $("graph").innerHTML = data.graphSvg;
    detail.svg = data.graphSvg;
  }
  for (const node of $("graph").querySelectorAll("[data-state]")) {
    node.classList.toggle("selected", node.dataset.state === detail.selected);
  }
}

// A customer as the e-mail the user pool has for it (when the console could look it up) beside the token's sub.
function customer(sub, email) {
  if (!sub) return ["—"];
  return [email ? element("span", { className: "email", text: email }) : null,
    element("span", { className: "sub mono", text: sub })];
}

function field(label, value, className = "") {
  return [element("dt", { text: label }), element("dd", { className, text: value })];
}

// The child execution a selected state belongs to (a state inside a task's group), or that a task ran.
function childOf(data, name) {
  const task = name.includes("/") ? name.slice(0, name.indexOf("/")) : name;
  return (data.children || []).find((child) => child.task === task) || null;
}

function childFacts(child) {
  if (!child) return [];
  const source = child.source === "logs" ? `its log group ${child.logGroup}`
    : child.source === "history" ? "GetExecutionHistory" : "nowhere";
  const parts = [element("h3", { text: "Child execution" }), element("dl", { className: "facts" },
    ...field("Execution", child.executionArn, "mono"),
    ...field("Status", child.status + (child.complete ? "" : " (events still arriving)")),
    ...field("Events", `${child.events} from ${source}`))];
  if (child.note) parts.push(element("p", { className: "muted", text: child.note }));
  return parts;
}

function renderState(data) {
  const target = $("state-details");
  const run = detail.selected ? data.states[detail.selected] : null;
  if (!detail.selected) {
    $("state-hint").textContent = "none selected";
    target.replaceChildren(element("p", { className: "muted", text: "Click a state in the graph." }));
    return;
  }
  $("state-hint").textContent = detail.selected;
  const child = childOf(data, detail.selected);
  if (!run) {
    target.replaceChildren(element("p", { className: "muted", text: `${detail.selected} has not run.` }),
      ...childFacts(child));
    return;
  }
  const facts = element("dl", { className: "facts" },
    ...field("Status", run.status, `status-text ${run.status}`),
    ...field("Attempts", run.attempts ? `${run.attempts} (${run.retries} ${run.retries === 1 ? "retry" : "retries"})`
      : "—"),
    ...field("Entered", clock(run.enteredAt)),
    ...field("Exited", clock(run.exitedAt)));
  const parts = [facts];
  if (run.error) {
    parts.push(element("div", { className: "state-error" }, element("strong", { text: run.error }),
      element("div", { text: message(run.cause) }),
      element("details", {}, element("summary", { text: "Cause" }), element("pre", { text: pretty(run.cause) }))));
  }
  parts.push(element("h3", { text: "Input" }), element("pre", { className: "json", text: pretty(run.input) }));
  parts.push(element("h3", { text: "Output" }), element("pre", { className: "json", text: pretty(run.output) }));
  target.replaceChildren(...parts, ...childFacts(child));
}

function orderEvents(events) {
  if (events === null || events === undefined) {
    return [element("h3", { text: "Events" }),
      element("p", { className: "muted", text: "No queue subscribed to the orders bus (--events-queue-url)." })];
  }
  const rows = events.map((event) => element("li", { className: `s-${event.status.toLowerCase()}` },
    element("span", { className: "when", text: `#${event.sequence}` }),
    element("span", { text: `${event.previousStatus || "—"} → ${event.status}` }),
    element("span", { className: "muted", text: clock(event.at) })));
  const list = rows.length ? element("ol", { className: "timeline order-events" }, ...rows)
    : element("p", { className: "muted", text: "No OrderStatusChanged event received yet." });
  return [element("h3", { text: `Events on the orders bus (${events.length})` }), list];
}

function renderOrder(data) {
  const order = data.order;
  const target = $("order-details");
  if (!order) {
    target.replaceChildren(element("p", { className: "muted", text: "No record in the orders table." }));
    return;
  }
  const facts = element("dl", { className: "facts" },
    ...field("Status", order.status, "strong"),
    element("dt", { text: "Customer" }),
    element("dd", { className: "customer" }, ...customer(order.customerId, data.customerEmail)),
    ...field("Total", money(order.totalCents, order.currency)),
    ...field("Tracking", order.trackingNumber || "—"));
  const timeline = element("ol", { className: "timeline" },
    ...(order.timeline || []).map((entry) => element("li", { className: `s-${entry.status.toLowerCase()}` },
      element("span", { className: "when", text: clock(entry.at) }), element("span", { text: entry.status }))));
  const parts = [facts, element("h3", { text: "Timeline" }), timeline, ...orderEvents(data.orderEvents)];
  if (order.failure) {
    parts.push(element("h3", { text: "Failure" }),
      element("div", { className: "state-error" }, element("strong", { text: order.failure.error || "—" }),
        element("div", { text: message(order.failure.cause || order.failure.details) })));
  }
  if (order.compensations) {
    parts.push(element("h3", { text: "Compensations" }), element("pre", { className: "json",
      text: pretty(order.compensations) }));
  }
  const raw = element("details", {}, element("summary", { text: "Whole record" }),
    element("pre", { className: "json", text: pretty(order) }));
  parts.push(raw);
  target.replaceChildren(...parts);
}

function renderEvents(data) {
  $("event-count").textContent = `${data.events.length} events`;
  const rows = $("event-rows");
  if (rows.childElementCount === data.events.length) return;
  // A child execution's events carry the task that ran it, and number themselves from 1 again.
  rows.replaceChildren(...data.events.map((event) => element("tr",
    { className: [/Failed|TimedOut|Aborted/.test(event.type) ? "bad" : "", event.execution ? "child" : ""].join(" ")
      .trim(), "data-execution": event.execution || null,
      title: event.execution ? `an event of the child execution ${event.execution} started` : null },
    element("td", { className: "num", text: event.execution ? `↳ ${event.id}` : event.id }),
    element("td", { text: event.type }),
    element("td", { className: "mono", text: event.state || "" }),
    element("td", { className: "mono", text: clock(event.timestamp) }),
    element("td", { className: "num", text: event.elapsedMs === null ? "" : `+${(event.elapsedMs / 1000).toFixed(3)} s` }),
    element("td", { className: "error-cell", text: event.error || "" }))));
}

function renderDetail(data) {
  detail.data = data;
  renderSummary(data);
  renderGraph(data);
  renderState(data);
  renderOrder(data);
  renderEvents(data);
}

// An ended parent whose child's events are still arriving (from a log group, best-effort) is polled a little longer.
function awaitingLogs(data) {
  const stopped = data.execution.stopDate ? new Date(data.execution.stopDate) : null;
  return Boolean(stopped) && Date.now() - stopped < LATE_LOGS_MS
    && (data.children || []).some((child) => child.source === "logs" && !child.complete);
}

async function refreshDetail() {
  clearTimeout(detail.timer);
  const request = ++detail.request;
  try {
    const data = await api(`/api/executions/${encodeURIComponent(detail.name)}`);
    if (request !== detail.request) return;
    renderDetail(data);
    showLive(true);
    if (data.execution.status === "RUNNING" || awaitingLogs(data)) {
      detail.timer = setTimeout(refreshDetail, DETAIL_REFRESH_MS);
    } else {
      $("live").textContent = "● final";
    }
  } catch (error) {
    if (request !== detail.request) return;
    if (error.status === 404) {
      $("order-id").textContent = detail.name;
      $("live").textContent = "● not found";
      $("detail-body").hidden = true;
      for (const id of ["execution-status", "order-status-pill"]) $(id).hidden = true;
      $("execution-error").hidden = false;
      $("execution-error").textContent = `${error.message}: no such order id in this state machine's executions.`;
      return;
    }
    showLive(false);
    detail.timer = setTimeout(refreshDetail, DETAIL_REFRESH_MS * 3);
  }
}

async function act(description, path, body) {
  const notice = $("action-result");
  notice.hidden = false;
  notice.className = "notice";
  notice.textContent = `${description}…`;
  try {
    await post(path, body);
    notice.textContent = `${description}: accepted.`;
  } catch (error) {
    notice.className = "notice bad";
    notice.textContent = `${description}: ${error.message}`;
  }
  refreshDetail();
}

function startDetail(name) {
  detail.name = name;
  $("detail-page").hidden = false;
  sessionToken().catch(() => {}); // early, so that the first action does not wait for it
  $("graph").addEventListener("click", (event) => {
    const node = event.target.closest("[data-state]");
    if (!node) return;
    detail.selected = node.dataset.state;
    renderGraph(detail.data);
    renderState(detail.data);
  });
  const order = `/api/orders/${encodeURIComponent(name)}`;
  $("action-ship").addEventListener("click", () => act("Confirm shipment", `${order}/shipment`,
    { outcome: "SHIPPED", trackingNumber: $("tracking-number").value.trim() }));
  $("action-fail").addEventListener("click", () => act("Fail shipment", `${order}/shipment`,
    { outcome: "FAILED", reason: $("failure-reason").value.trim() }));
  $("action-cancel").addEventListener("click", () => {
    if (confirm(`Cancel order ${name}?`)) act("Cancel order", `${order}/cancel`, { reason: "cancelled in the ops console" });
  });
  $("action-stop").addEventListener("click", () => {
    if (confirm(`Stop execution ${name}? The order keeps its current status.`)) {
      act("Stop execution", `/api/executions/${encodeURIComponent(name)}/stop`);
    }
  });
  refreshDetail();
}

const match = location.pathname.match(/^\/executions\/([^/]+)\/?$/);
if (match) startDetail(decodeURIComponent(match[1]));
else startList();
