import { describe, expect, it } from "vitest";
import { type AppConfig, apiUrl, loadConfig, parseConfig, streamUrl } from "../../src/lib/config";

const LOCAL_PAGE = "http://localhost:8000";
const AWS_PAGE = "https://app.example.com";

describe("parseConfig", () => {
  it("defaults to the page's origin, with ws for http and wss for https", () => {
    expect(parseConfig({}, LOCAL_PAGE)).toEqual({
      apiBaseUrl: "http://localhost:8000",
      wsBaseUrl: "ws://localhost:8000",
      environment: "unknown",
    });
    expect(parseConfig({}, AWS_PAGE).wsBaseUrl).toBe("wss://app.example.com");
  });

  it("takes absolute URLs and trims their trailing slashes", () => {
    const config = parseConfig({
      apiBaseUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
      wsBaseUrl: "wss://streams.example.com//",
      environment: "prod",
    }, AWS_PAGE);
    expect(config).toEqual({
      apiBaseUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
      wsBaseUrl: "wss://streams.example.com",
      environment: "prod",
    });
  });

  it("resolves relative URLs against the page's origin", () => {
    const config = parseConfig({ apiBaseUrl: "/api/", wsBaseUrl: "/ws" }, "https://app.example.com/trade/BTCUSDT");
    expect(config.apiBaseUrl).toBe("https://app.example.com/api");
    expect(config.wsBaseUrl).toBe("wss://app.example.com/ws");
  });

  it("names the key that is not a string", () => {
    expect(() => parseConfig({ apiBaseUrl: 8080 }, LOCAL_PAGE)).toThrow(/"apiBaseUrl" must be a string/);
    expect(() => parseConfig({ environment: true }, LOCAL_PAGE)).toThrow(/"environment" must be a string/);
  });

  it("refuses a URL of the wrong scheme, naming the key", () => {
    expect(() => parseConfig({ apiBaseUrl: "ftp://files.example.com" }, LOCAL_PAGE)).toThrow(/"apiBaseUrl" must be a http:\/https: URL/);
    expect(() => parseConfig({ wsBaseUrl: "https://streams.example.com" }, AWS_PAGE)).toThrow(/"wsBaseUrl" must be a ws:\/wss: URL/);
  });

  it("refuses an insecure URL for an https page, which the browser would block", () => {
    expect(() => parseConfig({ apiBaseUrl: "http://api.example.com" }, AWS_PAGE)).toThrow(/"apiBaseUrl" is insecure/);
    expect(() => parseConfig({ wsBaseUrl: "ws://streams.example.com" }, AWS_PAGE)).toThrow(/"wsBaseUrl" is insecure/);
  });

  it("refuses an empty URL, a query in a base URL and a misspelt key", () => {
    expect(() => parseConfig({ apiBaseUrl: "  " }, LOCAL_PAGE)).toThrow(/"apiBaseUrl" must not be empty/);
    expect(() => parseConfig({ apiBaseUrl: "https://api.example.com/?v=1" }, LOCAL_PAGE)).toThrow(/"apiBaseUrl" must not have a query/);
    expect(() => parseConfig({ apiBaseURL: "https://api.example.com" }, LOCAL_PAGE)).toThrow(/"apiBaseURL" is not a known key/);
  });

  it("refuses a config.json that is not an object", () => {
    expect(() => parseConfig(["https://api.example.com"], LOCAL_PAGE)).toThrow(/JSON object/);
    expect(() => parseConfig("https://api.example.com", LOCAL_PAGE)).toThrow(/JSON object/);
  });
});

describe("loadConfig", () => {
  it("fetches config.json next to index.html", async () => {
    const asked: string[] = [];
    const config = await loadConfig(async (path) => {
      asked.push(path);
      return { apiBaseUrl: "https://api.example.com", environment: "staging" };
    }, AWS_PAGE);
    expect(asked).toEqual(["config.json"]);
    expect(config.apiBaseUrl).toBe("https://api.example.com");
    expect(config.environment).toBe("staging");
  });

  it("falls back to the page's origin when config.json is missing", async () => {
    const notFound = await loadConfig(async () => null, LOCAL_PAGE);
    const failed = await loadConfig(async () => { throw new Error("HTTP 404"); }, LOCAL_PAGE);
    expect(notFound.apiBaseUrl).toBe("http://localhost:8000");
    expect(failed.wsBaseUrl).toBe("ws://localhost:8000");
  });

  it("fails on a config.json that is there but wrong", async () => {
    await expect(loadConfig(async () => ({ wsBaseUrl: 1 }), LOCAL_PAGE)).rejects.toThrow(/"wsBaseUrl"/);
  });
});

const CONFIG: AppConfig = {
  apiBaseUrl: "https://api.example.com/prod",
  wsBaseUrl: "wss://streams.example.com",
  environment: "prod",
};

describe("apiUrl", () => {
  it("joins the base and the path", () => {
    expect(apiUrl(CONFIG, "/api/v3/exchangeInfo")).toBe("https://api.example.com/prod/api/v3/exchangeInfo");
  });

  it("encodes the query in order and leaves out undefined values", () => {
    expect(apiUrl(CONFIG, "/api/v3/depth", { symbol: "BTCUSDT", limit: 100, fromId: undefined }))
      .toBe("https://api.example.com/prod/api/v3/depth?symbol=BTCUSDT&limit=100");
    expect(apiUrl(CONFIG, "/v1/ledger", { asset: "A&B", note: "x y" }))
      .toBe("https://api.example.com/prod/v1/ledger?asset=A%26B&note=x+y");
  });

  it("keeps amounts exactly as the decimal strings given", () => {
    expect(apiUrl(CONFIG, "/api/v3/order/test", { price: "0.00000010", quantity: "12345678901234567890.5" }))
      .toBe("https://api.example.com/prod/api/v3/order/test?price=0.00000010&quantity=12345678901234567890.5");
  });

  it("refuses a path without its leading slash", () => {
    expect(() => apiUrl(CONFIG, "api/v3/time")).toThrow(/must start with "\/"/);
  });
});

describe("streamUrl", () => {
  it("names the streams of a combined stream", () => {
    expect(streamUrl(CONFIG, ["btcusdt@trade", "btcusdt@depth@100ms"]))
      .toBe("wss://streams.example.com?combined=true&streams=btcusdt@trade/btcusdt@depth@100ms");
  });

  it("opens the bare combined stream when no stream is named yet", () => {
    expect(streamUrl(CONFIG, [])).toBe("wss://streams.example.com?combined=true");
  });

  it("refuses a name that would break the query", () => {
    expect(() => streamUrl(CONFIG, ["btcusdt@trade&x=1"])).toThrow(/not a stream name/);
    expect(() => streamUrl(CONFIG, ["a/b"])).toThrow(/not a stream name/);
  });
});
