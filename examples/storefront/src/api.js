// The order API: every call sends the shopper's ID token, and a refusal becomes an Error with the API's message.

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export class OrdersApi {
  constructor(apiUrl, idToken) {
    this.apiUrl = apiUrl.replace(/\/$/, "");
    this.idToken = idToken;
  }

  products() {
    return this.call("GET", "/products", { signedIn: false });
  }

  // The Idempotency-Key belongs to one checkout: sending it again (after a network error, a 429 or a 503) can
  // never place a second order.
  placeOrder(order, idempotencyKey) {
    return this.call("POST", "/orders", { body: order, headers: { "Idempotency-Key": idempotencyKey } });
  }

  myOrders() {
    return this.call("GET", "/orders?limit=20");
  }

  order(orderId) {
    return this.call("GET", `/orders/${encodeURIComponent(orderId)}`);
  }

  cancel(orderId, reason) {
    return this.call("POST", `/orders/${encodeURIComponent(orderId)}/cancel`, { body: { reason } });
  }

  async call(method, path, { body, headers = {}, signedIn = true } = {}) {
    const allHeaders = { ...headers };
    if (signedIn) allHeaders.Authorization = await this.idToken();
    if (body !== undefined) allHeaders["Content-Type"] = "application/json";
    let answer;
    try {
      answer = await fetch(this.apiUrl + path, {
        method,
        headers: allHeaders,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "The shop cannot be reached right now. Please try again.");
    }
    const data = await answer.json().catch(() => null);
    if (answer.ok) return data;
    const message = data?.message ?? `The shop answered ${answer.status}.`;
    throw new ApiError(answer.status, message, Number(answer.headers.get("Retry-After")) || undefined);
  }
}
