/** The shared delivery machinery, observed from a real webhook: batches, backpressure, shutdown. */
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { afterAll, describe, expect, it } from "vitest"
import { ocsfEnvelopes } from "./events.ts"
import { deliverInProcess, readNdjson, tempDir, uidsOf } from "./support.ts"
import { type Answer, startWebhook, type Webhook } from "./webhook.ts"

const servers: Array<Webhook> = []
afterAll(() => Promise.all(servers.map((s) => s.close())))
const webhook = async (answer?: (n: number) => Answer) => {
  const server = await startWebhook(answer)
  servers.push(server)
  return server
}


// Few attempts, unlike support.fastRetry: these tests run out of them on purpose.
const fewRetries = { maxAttempts: 3, baseDelay: "1ms", maxDelay: "5ms" } as const

describe("the delivery machinery", () => {
  it("batches close at batchSize events and before batchBytes; nothing lost, order kept", async () => {
    const envelopes = ocsfEnvelopes(300)
    const server = await webhook()
    const limit = 8 * 1024
    const summary = await Effect.runPromise(deliverInProcess(Stream.fromIterable(envelopes), {
      delivery: { batchSize: 20, batchBytes: limit, batchWindow: "1s", retry: fewRetries },
      sinks: [{ type: "http", url: server.url, format: "ndjson" }]
    }, tempDir()))
    expect(summary.sinks["http"]).toEqual({ delivered: 300, retried: 0, deadLettered: 0 })
    expect(uidsOf(server.accepted())).toEqual(envelopes.map((e) => e.key))
    for (const r of server.received) {
      expect(r.events.length).toBeLessThanOrEqual(20)
      expect(r.bytes).toBeLessThanOrEqual(limit)
    }
    // The byte limit, not the count, closed most batches (these events are ~1 KB each).
    expect(server.received.filter((r) => r.events.length < 20).length).toBeGreaterThan(server.received.length / 2)
  })

  it("a batch closes batchWindow after its first event when the source is slow", async () => {
    const envelopes = ocsfEnvelopes(12)
    const server = await webhook()
    const slow = Stream.fromIterable(envelopes).pipe(Stream.tap(() => Effect.sleep("25 millis")))
    await Effect.runPromise(deliverInProcess(slow, {
      delivery: { batchSize: 1000, batchWindow: "60ms", retry: fewRetries },
      sinks: [{ type: "http", url: server.url }]
    }, tempDir()))
    expect(server.received.length).toBeGreaterThan(2)
    expect(uidsOf(server.accepted())).toEqual(envelopes.map((e) => e.key))
  })

  it("a slow sink with a full queue slows the source instead of dropping events", async () => {
    const envelopes = ocsfEnvelopes(120)
    let emitted = 0
    const aheadWhenAnswered: Array<number> = []
    const server = await webhook(() => {
      aheadWhenAnswered.push(emitted - server.received.reduce((n, r) => n + r.events.length, 0))
      return { status: 200, delayMs: 20 }
    })
    const source = Stream.fromIterable(envelopes).pipe(
      Stream.rechunk(1),
      Stream.tap(() => Effect.sync(() => void (emitted += 1)))
    )
    const summary = await Effect.runPromise(deliverInProcess(source, {
      delivery: { batchSize: 5, batchWindow: "5ms", queueSize: 10, retry: fewRetries },
      sinks: [{ type: "http", url: server.url }]
    }, tempDir()))
    expect(summary.sinks["http"]).toEqual({ delivered: 120, retried: 0, deadLettered: 0 })
    expect(uidsOf(server.accepted())).toEqual(envelopes.map((e) => e.key))
    // Ahead of the sink by at most: the queue, the batch in flight, one event being offered.
    expect(Math.max(...aheadWhenAnswered)).toBeLessThanOrEqual(10 + 5 + 1)
  })

  it("each sink has its own settings; a refused batch at one sink does not hold the others", async () => {
    const envelopes = ocsfEnvelopes(50)
    const good = await webhook()
    const refusing = await webhook(() => ({ status: 422 }))
    const dir = tempDir()
    const summary = await Effect.runPromise(deliverInProcess(Stream.fromIterable(envelopes), {
      delivery: { batchSize: 10, batchWindow: "10ms", retry: fewRetries },
      sinks: [
        { type: "http", name: "good", url: good.url, batchSize: 25 },
        { type: "http", name: "refusing", url: refusing.url }
      ]
    }, dir))
    expect(summary.sinks["good"]).toEqual({ delivered: 50, retried: 0, deadLettered: 0 })
    expect(summary.sinks["refusing"]).toEqual({ delivered: 0, retried: 0, deadLettered: 50 })
    expect(good.received.map((r) => r.events.length)).toEqual([25, 25])
    expect(refusing.received.map((r) => r.events.length)).toEqual([10, 10, 10, 10, 10])
    const records = readNdjson(path.join(dir, "dead-letter.ndjson"))
    expect(records.map((r) => r.sink)).toEqual(Array(5).fill("refusing"))
    expect(uidsOf(records.flatMap((r) => r.events))).toEqual(envelopes.map((e) => e.key))
  })

  it("a shutdown while a batch waits for its next attempt dead-letters the batch at once", async () => {
    const envelopes = ocsfEnvelopes(8)
    const server = await webhook(() => ({ status: 503 }))
    const dir = tempDir()
    await Effect.runPromise(Effect.gen(function*() {
      const run = yield* deliverInProcess(Stream.fromIterable(envelopes), {
        delivery: { batchSize: 100, batchWindow: "5ms", retry: { maxAttempts: 5, baseDelay: "30s", maxDelay: "30s" } },
        sinks: [{ type: "http", url: server.url }]
      }, dir).pipe(Effect.forkChild)
      while (server.received.length === 0) yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(run)
    }))
    expect(server.received).toHaveLength(1)
    const [record, ...rest] = readNdjson(path.join(dir, "dead-letter.ndjson"))
    expect(rest).toEqual([])
    expect(record).toMatchObject({ kind: "batch", sink: "http", count: 8 })
    expect(record.error.message).toMatch(/^cancelled at the shutdown deadline/)
    expect(uidsOf(record.events)).toEqual(envelopes.map((e) => e.key))
  })
})
