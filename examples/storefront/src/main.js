// The sample storefront: sign in, browse the catalog, check out, and watch each order's status change live.
import { OrdersApi } from "./api.js";
import { Auth } from "./auth.js";
import { LiveStatus, OrderStatuses } from "./live.js";

const TERMINAL = new Set(["COMPLETED", "REJECTED", "PAYMENT_DECLINED", "OUT_OF_STOCK", "CANCELLED", "FAILED"]);
const SAMPLE_ADDRESS = {
  name: "Ada Lovelace",
  line1: "12 Analytical Row",
  city: "London",
  postalCode: "NW1 6XE",
  country: "GB",
};
const SAMPLE_PAYMENT_TOKEN = "tok_ok"; // the local payment simulator approves it; a real shop gets one from its PSP

const $ = (selector) => document.querySelector(selector);
const cart = new Map(); // sku -> quantity
let checkoutKey = null; // one Idempotency-Key per checkout, kept until that checkout succeeds
let statuses = new OrderStatuses();
let live = null;

const config = await fetch("config.json").then((answer) => answer.json());
const auth = new Auth(config);
const api = new OrdersApi(config.apiUrl, () => auth.idToken());

function show(message) {
  $("#message").textContent = message;
  $("#message").hidden = !message;
}

// Every failure reaches the shopper as one sentence: the API's or Cognito's message, never a stack trace.
function guarded(action) {
  return async (...args) => {
    try {
      show("");
      await action(...args);
    } catch (error) {
      const wait = error.retryAfter ? ` Please try again in ${error.retryAfter} s.` : "";
      show(`${error.message || "Something went wrong."}${wait}`);
    }
  };
}

function money(cents, currency) {
  return cents == null ? "" : `${(cents / 100).toFixed(2)} ${currency ?? ""}`.trim();
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

async function showCatalog() {
  const list = $("#catalog");
  list.replaceChildren();
  const products = await api.products();
  for (const product of products.sort((a, b) => a.name.localeCompare(b.name))) {
    const add = element("button", "Add to cart", { type: "button", "data-sku": product.sku });
    add.addEventListener("click", () => addToCart(product));
    const item = element("li");
    item.append(element("span", product.name), element("span", money(product.priceCents, product.currency)), add);
    list.append(item);
  }
}

function addToCart(product) {
  cart.set(product.sku, (cart.get(product.sku) ?? 0) + 1);
  checkoutKey = null; // another cart is another checkout
  showCart();
}

function showCart() {
  $("#cart").replaceChildren(...[...cart].map(([sku, quantity]) => element("li", `${quantity} × ${sku}`)));
  $("#checkout").disabled = cart.size === 0;
}

async function checkout() {
  checkoutKey ??= crypto.randomUUID();
  const items = [...cart].map(([sku, quantity]) => ({ sku, quantity }));
  const order = { items, paymentToken: SAMPLE_PAYMENT_TOKEN, shippingAddress: SAMPLE_ADDRESS };
  const accepted = await api.placeOrder(order, checkoutKey);
  cart.clear();
  checkoutKey = null;
  showCart();
  applyStatus({ orderId: accepted.orderId, status: accepted.status, sequence: 1 });
}

// An order as the API lists it: its timeline's length is the sequence of its current status.
function applyOrder(order) {
  applyStatus({ ...order, sequence: order.timeline?.length ?? 1 });
}

function applyStatus(event) {
  const { fresh, gap } = statuses.apply(event);
  if (fresh) showOrder(statuses.latest.get(event.orderId));
  if (gap) refreshOrder(event.orderId);
}

function showOrder(order) {
  let row = $(`#orders tr[data-order-id="${CSS.escape(order.orderId)}"]`);
  if (!row) {
    row = element("tr", undefined, { "data-order-id": order.orderId });
    row.append(element("td", order.orderId), element("td", "", { class: "status" }), element("td"), element("td"));
    $("#orders tbody").prepend(row);
  }
  const [, status, total, action] = row.children;
  status.textContent = order.status;
  if (order.totalCents != null) total.textContent = money(order.totalCents, order.currency);
  action.replaceChildren();
  if (order.status === "AWAITING_SHIPMENT") {
    const cancel = element("button", "Cancel", { type: "button" });
    cancel.addEventListener("click", guarded(() => cancelOrder(order.orderId, cancel)));
    action.append(cancel);
  }
}

async function cancelOrder(orderId, button) {
  button.disabled = true;
  try {
    await api.cancel(orderId, "cancelled by the shopper");
  } finally {
    button.disabled = false;
  }
}

const refreshOrder = guarded(async (orderId) => applyOrder(await api.order(orderId)));

// Each socket message is logged, so the shopper (and the browser test) sees what came over the socket.
function onEvent(event) {
  const line = `${event.orderId} ${event.previousStatus ?? "-"} → ${event.status} (#${event.sequence})`;
  const entry = element("li", line, { "data-order-id": event.orderId, "data-status": event.status });
  $("#events").prepend(entry);
  applyStatus(event);
}

// After a (re)connect, whatever changed while the socket was down is read from the API: its timeline is the truth.
function onConnected() {
  for (const order of statuses.latest.values()) {
    if (!TERMINAL.has(order.status)) refreshOrder(order.orderId);
  }
}

async function showSignedIn(email) {
  $("#who").textContent = email;
  $("#signed-in").hidden = false;
  $("#sign-in").hidden = true;
  $("#shop").hidden = false;
  live = new LiveStatus({
    websocketUrl: config.websocketUrl,
    idToken: () => auth.idToken(),
    onEvent,
    onConnected,
    onState: (state) => {
      $("#live").textContent = state;
    },
  });
  live.start();
  const page = await api.myOrders();
  for (const order of page.orders.toReversed()) applyOrder(order);
}

function showSignedOut() {
  live?.stop();
  live = null;
  statuses = new OrderStatuses();
  cart.clear();
  showCart();
  $("#orders tbody").replaceChildren();
  $("#events").replaceChildren();
  $("#who").textContent = "";
  $("#signed-in").hidden = true;
  $("#sign-in").hidden = false;
  $("#shop").hidden = true;
}

$("#sign-in").addEventListener(
  "submit",
  guarded(async (submit) => {
    submit.preventDefault();
    const email = $("#email").value.trim();
    await auth.signIn(email, $("#password").value);
    $("#password").value = "";
    await showSignedIn(email);
  }),
);
$("#sign-out").addEventListener(
  "click",
  guarded(async () => {
    showSignedOut();
    await auth.signOut();
  }),
);
$("#checkout").addEventListener("click", guarded(checkout));

showSignedOut();
await guarded(showCatalog)();
const email = await auth.currentEmail();
if (email) await guarded(showSignedIn)(email);
