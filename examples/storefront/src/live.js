// Live order status over the WebSocket API: every message is the detail of one OrderStatusChanged event.

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 30_000;

// Keeps the newest status of each order: events may repeat or arrive out of order, and `sequence` says which is
// newer. A skipped sequence means an event was missed.
export class OrderStatuses {
  constructor() {
    this.latest = new Map();
  }

  // True when `event` is newer than what is known of its order; `gap` when sequences were skipped.
  apply(event) {
    const known = this.latest.get(event.orderId);
    if (known && known.sequence >= event.sequence) return { fresh: false, gap: false };
    this.latest.set(event.orderId, event);
    return { fresh: true, gap: known !== undefined && event.sequence > known.sequence + 1 };
  }
}

// Connects with the ID token in the query string (a browser cannot set headers on a WebSocket), and reconnects
// with exponential backoff and jitter for as long as it is started.
export class LiveStatus {
  constructor({ websocketUrl, idToken, onEvent, onConnected, onState }) {
    Object.assign(this, { websocketUrl, idToken, onEvent, onConnected, onState });
    this.socket = null;
    this.failures = 0;
    this.running = false;
  }

  start() {
    this.running = true;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.retry);
    this.socket?.close(1000, "signed out");
    this.socket = null;
    this.onState("offline");
  }

  async connect() {
    let token;
    try {
      token = await this.idToken();
    } catch {
      this.reconnectLater();
      return;
    }
    if (!this.running) return;
    this.onState("connecting");
    const socket = new WebSocket(`${this.websocketUrl}?token=${encodeURIComponent(token)}`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.failures = 0;
      this.onState("live");
      this.onConnected();
    });
    socket.addEventListener("message", (message) => {
      try {
        this.onEvent(JSON.parse(message.data));
      } catch {
        // Not an order event (the API's short error answer, say): nothing to show.
      }
    });
    socket.addEventListener("close", () => {
      if (this.socket === socket) this.reconnectLater();
    });
  }

  reconnectLater() {
    if (!this.running) return;
    this.onState("reconnecting");
    const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.failures);
    this.failures += 1;
    this.retry = setTimeout(() => this.connect(), ceiling / 2 + Math.random() * (ceiling / 2));
  }
}
