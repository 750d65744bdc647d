/**
 * The http sink against a real webhook on 127.0.0.1: retries, Retry-After, dead letters and their
 * replay, gzip and NDJSON, timeouts, redirects, concurrent requests. Its secret headers are in
 * `secrets.test.ts`.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { afterAll, beforeAll, describe, expect } from "vitest"
import type { ConfigInput } from "../src/run/defaultConfig.ts"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { writeWithRetry } from "../src/delivery/Delivery.ts"
import httpSink, { parseRetryAfter } from "../src/sinks/http.ts"
import { ocsfEnvelopes } from "./events.ts"
import { configFor, deliverInProcess, readNdjson, runCli, runInProcess, tempDir, uidsOf, writeJson } from "./support.ts"
import { type Answer, freePort, startWebhook, type Webhook } from "./webhook.ts"

const uids = (events: ReadonlyArray<any>): Array<string> => uidsOf(events).sort()

describe("the http sink", () => {
  let emulator: Emulator
  const servers: Array<Webhook> = []
  beforeAll(async () => {
    emulator = await startEmulator({ users: 30 })
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
    await emulator.close()
  })

  const webhook = async (answer?: (n: number) => Answer, port?: number) => {
    const server = await startWebhook(answer, port === undefined ? {} : { port })
    servers.push(server)
    return server
  }

  /** A run with the file sink as the reference for what was sent, and in which order. */
  const run = (dir: string, http: Record<string, unknown>, overrides: ConfigInput = {}) =>
    Effect.runPromise(runInProcess(configFor(emulator, dir, {
      delivery: { batchSize: 10, batchWindow: "20ms", retry: { maxAttempts: 5, baseDelay: "1ms", maxDelay: "5ms" } },
      ...overrides,
      sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }, { type: "http", ...http } as any]
    })))

  it("503 twice, then 200: every event delivered once, batches in the order they were made", async () => {
    const server = await webhook((n) => ({ status: n < 2 ? 503 : 200 }))
    const dir = tempDir()
    const summary = await run(dir, { url: server.url })
    expect(summary.sinks["http"]).toEqual({ delivered: 32, retried: 2, deadLettered: 0 })
    expect(server.received.map((r) => r.status).slice(0, 3)).toEqual([503, 503, 200])
    // The same batch, three times: a retry resends the batch, not something else.
    expect(server.received[1]!.events).toEqual(server.received[0]!.events)
    expect(server.received[2]!.events).toEqual(server.received[0]!.events)
    expect(server.accepted()).toEqual(readNdjson(path.join(dir, "events.ndjson")))
    expect(server.received.every((r) => r.headers["content-type"] === "application/json")).toBe(true)
  })

  it("429 with Retry-After: 1: the batch is sent again, then delivered", async () => {
    const server = await webhook((n) => (n === 0 ? { status: 429, headers: { "Retry-After": "1" } } : { status: 200 }))
    const dir = tempDir()
    const summary = await run(dir, { url: server.url })
    expect(summary.sinks["http"]).toEqual({ delivered: 32, retried: 1, deadLettered: 0 })
    const [first, second] = server.received
    expect(second!.events).toEqual(first!.events)
    expect(uids(server.accepted())).toEqual(uids(readNdjson(path.join(dir, "events.ndjson"))))
  })

  it.effect("429 with Retry-After: 120: the batch goes again 120 s later on the clock, not after the 1 ms backoff (TestClock)", () =>
    Effect.gen(function*() {
      const clock = yield* Clock.clockWith(Effect.succeed)
      // When each request reached the webhook, on the test's clock.
      const arrivals: Array<number> = []
      const server = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startWebhook((n) => {
            arrivals.push(clock.currentTimeMillisUnsafe())
            return n === 0 ? { status: 429, headers: { "Retry-After": "120" } } : { status: 200 }
          })
        ),
        (s) => Effect.promise(s.close)
      )
      // A timeout far beyond the wait, so that no other timer is due while the clock moves.
      const config = Schema.decodeUnknownSync(httpSink.config)({ type: "http", url: server.url, timeout: "10m" })
      const sink = yield* httpSink.make(config, "http").pipe(Effect.provide(NodeServices.layer))
      let failures = 0
      const observed = { ...sink, write: (b: Parameters<typeof sink.write>[0]) => sink.write(b).pipe(Effect.tapError(() => Effect.sync(() => void (failures += 1)))) }
      const live = (ms: number) => TestClock.withLive(Effect.sleep(Duration.millis(ms)))
      const until = Effect.fnUntraced(function*(what: string, done: () => boolean) {
        for (let i = 0; !done(); i++) {
          if (i === 1_000) return yield* Effect.die(new Error(`gave up waiting for ${what}`))
          yield* live(10)
        }
      })

      const write = yield* writeWithRetry(observed, ocsfEnvelopes(3), { maxAttempts: 3, baseDelay: Duration.millis(1), maxDelay: Duration.millis(5) })
        .pipe(Effect.forkChild)
      yield* until("the 429", () => failures === 1)
      // Between the failed attempt and the wait before the next one there is no I/O: a moment
      // of real time and the retry is asleep on the test clock.
      yield* live(20)
      yield* TestClock.adjust(Duration.millis(119_999))
      // A retry sent before its time would reach the webhook now.
      yield* live(100)
      assert.deepStrictEqual(arrivals, [0])
      yield* TestClock.adjust(Duration.millis(1))
      yield* until("the second attempt", () => arrivals.length === 2)
      yield* Fiber.join(write)
      assert.deepStrictEqual(arrivals, [0, 120_000])
    }))

  it("Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-11-25T10:00:00Z")
    expect(Duration.toMillis(parseRetryAfter("120", now)!)).toBe(120_000)
    expect(Duration.toMillis(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now)!)).toBe(30_000)
    expect(Duration.toMillis(parseRetryAfter("Wed, 25 Nov 2026 09:00:00 GMT", now)!)).toBe(0)
    expect(parseRetryAfter("soon", now)).toBeUndefined()
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
  })

  it("400: dead-lettered at once (run exits 3 with per-sink counts); replay to a healthy server empties those records", async () => {
    const refusing = await webhook(() => ({ status: 400, body: "schema mismatch" }))
    const dir = tempDir()
    const deadLetterFile = path.join(dir, "dead-letter.ndjson")
    const denied = [...emulator.account.userNames()][3]!
    emulator.setFaults({ ListMFADevices: { accessDenied: [denied] } })
    try {
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        delivery: { batchSize: 10, batchWindow: "20ms" },
        sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }, { type: "http", url: refusing.url }]
      }))
      const result = await runCli(["run", "--config", config, "--once"])
      expect(result.code).toBe(3)
      expect(result.stderr).toMatch(/http: 0 delivered, 31 dead-lettered/)
      expect(result.stderr).toMatch(/file: 31 delivered/)
    } finally {
      emulator.setFaults({})
    }
    const records = readNdjson(deadLetterFile)
    const batches = records.filter((r) => r.kind === "batch")
    // At once: each batch was POSTed exactly once.
    expect(refusing.received).toHaveLength(batches.length)
    for (const b of batches) {
      expect(b).toMatchObject({ sink: "http", error: { retryable: false } })
      expect(b.error.message).toMatch(/answered 400: schema mismatch/)
      expect(Date.parse(b.time)).not.toBeNaN()
    }
    expect(uids(batches.flatMap((b) => b.events))).toEqual(uids(readNdjson(path.join(dir, "events.ndjson"))))
    expect(records.filter((r) => r.kind === "user").map((r) => r.user.UserName)).toEqual([denied])

    const healthy = await webhook()
    const replayConfig = writeJson(path.join(dir, "replay.json"), configFor(emulator, dir, {
      sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }, { type: "http", url: healthy.url }]
    }))
    const replayed = await runCli(["replay", "--config", replayConfig, "--dead-letter", deadLetterFile])
    expect(replayed.stderr).toMatch(/replay finished: http: \d+ batches \(31 events\) delivered/)
    expect(replayed.code).toBe(0)
    expect(uids(healthy.accepted())).toEqual(uids(batches.flatMap((b) => b.events)))
    // Only the user record is left: it is a user to collect again, not an event to resend.
    expect(readNdjson(deadLetterFile)).toEqual(records.filter((r) => r.kind === "user"))
  })

  it("a server that is down for the first seconds of a run: nothing lost", async () => {
    const port = await freePort()
    const dir = tempDir()
    const late = new Promise<Webhook>((resolve) => setTimeout(() => resolve(webhook(undefined, port)), 1500))
    const summary = await run(dir, { url: `http://127.0.0.1:${port}/ingest` }, {
      delivery: { batchSize: 10, batchWindow: "20ms", retry: { maxAttempts: 40, baseDelay: "50ms", maxDelay: "200ms" } }
    })
    const server = await late
    expect(summary.complete).toBe(true)
    expect(summary.sinks["http"]!.delivered).toBe(32)
    expect(summary.sinks["http"]!.retried).toBeGreaterThan(0)
    expect(uids(server.accepted())).toEqual(uids(readNdjson(path.join(dir, "events.ndjson"))))
    expect(fs.existsSync(path.join(dir, "dead-letter.ndjson"))).toBe(false)
  })

  it("gzip and NDJSON: the body decodes to the same events, smaller", async () => {
    const server = await webhook()
    const dir = tempDir()
    await run(dir, { url: server.url, gzip: true, format: "ndjson" })
    expect(server.received.every((r) => r.headers["content-encoding"] === "gzip")).toBe(true)
    expect(server.received.every((r) => r.headers["content-type"] === "application/x-ndjson")).toBe(true)
    expect(server.accepted()).toEqual(readNdjson(path.join(dir, "events.ndjson")))
    const sent = server.received.reduce((n, r) => n + r.bytes, 0)
    const plain = fs.statSync(path.join(dir, "events.ndjson")).size
    expect(sent).toBeLessThan(plain / 1.5)
  })

  it("no answer within the timeout: the attempt is abandoned and retried", async () => {
    const server = await webhook((n) => (n === 0 ? "hang" : { status: 200 }))
    const dir = tempDir()
    const summary = await run(dir, { url: server.url, timeout: "300ms" })
    expect(summary.sinks["http"]).toEqual({ delivered: 32, retried: 1, deadLettered: 0 })
    expect(server.received[1]!.events).toEqual(server.received[0]!.events)
    expect(uids(server.accepted())).toEqual(uids(readNdjson(path.join(dir, "events.ndjson"))))
  })

  it("a redirect is not followed (fetch would turn the POST into a GET): dead-lettered", async () => {
    const server = await webhook(() => ({ status: 302, headers: { Location: "/elsewhere" } }))
    const dir = tempDir()
    const summary = await run(dir, { url: server.url })
    expect(summary.sinks["http"]).toEqual({ delivered: 0, retried: 0, deadLettered: 32 })
    expect(server.received.every((r) => r.status === 302)).toBe(true)
  })

  it("maxConcurrentRequests bounds the requests in flight; every event arrives once", async () => {
    const server = await webhook(() => ({ status: 200, delayMs: 300 }))
    // Events ready at once (not as fast as a collection happens to go): eight batches wait for
    // the three request slots.
    const envelopes = ocsfEnvelopes(32)
    const summary = await Effect.runPromise(deliverInProcess(Stream.fromIterable(envelopes), {
      delivery: { batchSize: 4, batchWindow: "20ms" },
      sinks: [{ type: "http", url: server.url, maxConcurrentRequests: 3 }]
    }, tempDir()))
    expect(summary.sinks["http"]).toEqual({ delivered: 32, retried: 0, deadLettered: 0 })
    expect(server.mostInFlight()).toBe(3)
    expect(uids(server.accepted())).toEqual(envelopes.map((e) => e.key).sort())
  })
})
