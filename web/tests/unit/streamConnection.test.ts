import { describe, expect, it } from "vitest";
import {
  type ConnectionState,
  type SocketLike,
  StreamConnection,
} from "../../src/lib/streamConnection";

class FakeSocket implements SocketLike {
  sent: unknown[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {}

  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }
  close(): void {
    this.closed = true;
  }
  serverOpens(): void {
    this.onopen?.({});
  }
  serverSends(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  serverCloses(): void {
    this.onclose?.({});
  }
}

interface Scheduled {
  fn: () => void;
  delayMs: number;
  cancelled: boolean;
}

function setup(random = 0) {
  const sockets: FakeSocket[] = [];
  const scheduled: Scheduled[] = [];
  const states: ConnectionState[] = [];
  const connection = new StreamConnection("wss://exchange.test/stream", {
    open: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    schedule: (fn, delayMs) => {
      const entry = { fn, delayMs, cancelled: false };
      scheduled.push(entry);
      return () => {
        entry.cancelled = true;
      };
    },
    random: () => random,
  });
  connection.onStateChange((state) => states.push(state));
  const lastSocket = (): FakeSocket => {
    const socket = sockets[sockets.length - 1];
    if (socket === undefined) throw new Error("no socket opened");
    return socket;
  };
  const pending = (): Scheduled[] => scheduled.filter((s) => !s.cancelled);
  /** Runs the pending reconnect timer (the one that is not the stable-connection timer). */
  const fireReconnect = (): number => {
    const entry = pending().find((s) => s.delayMs !== 10_000);
    if (entry === undefined) throw new Error("no reconnect scheduled");
    entry.cancelled = true;
    entry.fn();
    return entry.delayMs;
  };
  return { connection, sockets, scheduled, states, lastSocket, pending, fireReconnect };
}

describe("StreamConnection subscriptions", () => {
  it("subscribes to every stream wanted before the socket opened, in one request", () => {
    const { connection, lastSocket } = setup();
    connection.on("btcusdt@depth", () => {});
    connection.on("btcusdt@trade", () => {});
    connection.connect();
    expect(lastSocket().url).toBe("wss://exchange.test/stream");
    expect(lastSocket().sent).toEqual([]);

    lastSocket().serverOpens();

    expect(lastSocket().sent).toEqual([
      { method: "SUBSCRIBE", params: ["btcusdt@depth", "btcusdt@trade"], id: 1 },
    ]);
  });

  it("subscribes and unsubscribes at once while open, only for the first and last handler", () => {
    const { connection, lastSocket } = setup();
    connection.connect();
    lastSocket().serverOpens();

    const removeFirst = connection.on("ethusdt@trade", () => {});
    const removeSecond = connection.on("ethusdt@trade", () => {});
    removeFirst();
    removeSecond();

    expect(lastSocket().sent).toEqual([
      { method: "SUBSCRIBE", params: ["ethusdt@trade"], id: 1 },
      { method: "UNSUBSCRIBE", params: ["ethusdt@trade"], id: 2 },
    ]);
    expect(connection.wantedStreams()).toEqual([]);
  });

  it("routes each message to the handlers of its stream only and ignores answers", () => {
    const { connection, lastSocket } = setup();
    const trades: unknown[] = [];
    const depth: unknown[] = [];
    connection.on("btcusdt@trade", (data) => trades.push(data));
    connection.on("btcusdt@depth", (data) => depth.push(data));
    connection.connect();
    lastSocket().serverOpens();

    lastSocket().serverSends({ result: null, id: 1 });
    lastSocket().serverSends({ stream: "btcusdt@trade", data: { p: "20000.01", q: "0.5" } });
    lastSocket().serverSends({ stream: "ethusdt@trade", data: { p: "1500.00" } });

    expect(trades).toEqual([{ p: "20000.01", q: "0.5" }]);
    expect(depth).toEqual([]);
  });

  it("stops delivering to a removed handler", () => {
    const { connection, lastSocket } = setup();
    const seen: unknown[] = [];
    const remove = connection.on("btcusdt@trade", (data) => seen.push(data));
    connection.connect();
    lastSocket().serverOpens();
    remove();
    lastSocket().serverSends({ stream: "btcusdt@trade", data: 1 });
    expect(seen).toEqual([]);
  });
});

describe("StreamConnection reconnects", () => {
  it("waits longer after each failed try, up to 30 s", () => {
    const { connection, lastSocket, fireReconnect } = setup();
    connection.connect();
    const delays: number[] = [];
    for (let i = 0; i < 9; i += 1) {
      lastSocket().serverCloses();
      delays.push(fireReconnect());
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("takes up to 20 % off each delay at random", () => {
    const { connection, lastSocket, fireReconnect } = setup(0.5);
    connection.connect();
    lastSocket().serverCloses();
    expect(fireReconnect()).toBe(450);
  });

  it("starts the backoff again after a connection stayed open 10 s", () => {
    const { connection, lastSocket, fireReconnect, pending } = setup();
    connection.connect();
    lastSocket().serverCloses();
    fireReconnect();
    lastSocket().serverCloses();
    expect(fireReconnect()).toBe(1000);

    lastSocket().serverOpens();
    const stable = pending().find((s) => s.delayMs === 10_000);
    stable?.fn();
    lastSocket().serverCloses();

    expect(stable).toBeDefined();
    expect(fireReconnect()).toBe(500);
  });

  it("keeps growing the delay when a connection drops before it was stable", () => {
    const { connection, lastSocket, fireReconnect } = setup();
    connection.connect();
    lastSocket().serverOpens();
    lastSocket().serverCloses();
    expect(fireReconnect()).toBe(500);
    lastSocket().serverOpens();
    lastSocket().serverCloses();
    expect(fireReconnect()).toBe(1000);
  });

  it("resubscribes to all wanted streams, including those changed while down", () => {
    const { connection, lastSocket, fireReconnect } = setup();
    connection.on("btcusdt@depth", () => {});
    const removeTrade = connection.on("btcusdt@trade", () => {});
    connection.connect();
    lastSocket().serverOpens();
    lastSocket().serverCloses();

    removeTrade();
    connection.on("ethusdt@kline_1m", () => {});
    fireReconnect();
    const reopened = lastSocket();
    reopened.serverOpens();

    expect(reopened.sent).toEqual([
      { method: "SUBSCRIBE", params: ["btcusdt@depth", "ethusdt@kline_1m"], id: 2 },
    ]);
  });

  it("notifies reopen listeners on every reopen but not on the first open", () => {
    const { connection, lastSocket, fireReconnect } = setup();
    let reopens = 0;
    connection.onReopen(() => {
      reopens += 1;
    });
    connection.connect();
    lastSocket().serverOpens();
    expect(reopens).toBe(0);

    lastSocket().serverCloses();
    fireReconnect();
    lastSocket().serverOpens();
    expect(reopens).toBe(1);
  });

  it("retries when opening the socket throws", () => {
    const scheduled: Scheduled[] = [];
    const failing = new StreamConnection("wss://bad", {
      open: () => {
        throw new Error("SecurityError");
      },
      schedule: (fn, delayMs) => {
        scheduled.push({ fn, delayMs, cancelled: false });
        return () => {};
      },
      random: () => 0,
    });
    failing.connect();
    expect(failing.state).toBe("reconnecting");
    expect(scheduled.map((s) => s.delayMs)).toEqual([500]);
  });
});

describe("StreamConnection close and states", () => {
  it("close() stops for good: socket closed, no reconnect, late events ignored", () => {
    const { connection, sockets, lastSocket, pending } = setup();
    const seen: unknown[] = [];
    connection.on("btcusdt@trade", (data) => seen.push(data));
    connection.connect();
    const socket = lastSocket();
    socket.serverOpens();

    connection.close();
    socket.serverCloses();
    socket.serverSends({ stream: "btcusdt@trade", data: 1 });

    expect(socket.closed).toBe(true);
    expect(connection.state).toBe("closed");
    expect(pending()).toEqual([]);
    expect(sockets).toHaveLength(1);
    expect(seen).toEqual([]);
  });

  it("close() while waiting to reconnect cancels the reconnect", () => {
    const { connection, lastSocket, pending } = setup();
    connection.connect();
    lastSocket().serverCloses();
    expect(pending()).toHaveLength(1);
    connection.close();
    expect(pending()).toEqual([]);
    expect(connection.state).toBe("closed");
  });

  it("goes connecting → open → reconnecting → open → closed", () => {
    const { connection, lastSocket, fireReconnect, states } = setup();
    connection.connect();
    lastSocket().serverOpens();
    lastSocket().serverCloses();
    fireReconnect();
    lastSocket().serverOpens();
    connection.close();
    expect(states).toEqual(["connecting", "open", "reconnecting", "open", "closed"]);
  });

  it("treats a socket error as a close of that socket", () => {
    const { connection, lastSocket, states } = setup();
    connection.connect();
    const socket = lastSocket();
    socket.serverOpens();
    socket.onerror?.({});
    expect(socket.closed).toBe(true);
    socket.serverCloses();
    expect(states).toEqual(["connecting", "open", "reconnecting"]);
  });
});
