/**
 * Trace context leaves with the deliveries: every webhook request and every Kafka record carries a
 * `traceparent` of the run's trace, under the span of the batch that sent it.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { readTopic } from "./kafka-mock/broker.ts"
import { testTopics } from "./kafka-mock/topics.ts"
import { configFor, runInProcess, tempDir, kafkaBootstrap as bootstrap } from "./support.ts"
import { startWebhook, type Webhook } from "./webhook.ts"


const traceparent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/

describe("trace context goes out with the deliveries", () => {
  let emulator: Emulator
  let webhook: Webhook
  beforeAll(async () => {
    emulator = await startEmulator({ users: 20 })
    webhook = await startWebhook()
  })
  afterAll(async () => {
    await webhook.close()
    await emulator.close()
  })

  it("the webhook sees a traceparent of the run's trace in every request, and every Kafka record carries one", async () => {
    const topic = testTopics.traceparent.name
    const exporter = new InMemorySpanExporter()
    const spans = await Effect.runPromise(
      Effect.gen(function*() {
        const dir = tempDir()
        yield* runInProcess(configFor(emulator, dir, {
          delivery: { batchSize: 10, batchWindow: "20ms" },
          sinks: [
            { type: "http", url: webhook.url },
            { type: "kafka", brokers: [bootstrap()], topic, mockCompatible: true }
          ]
        }))
        return exporter.getFinishedSpans()
      }).pipe(Effect.provide(NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) }))))
    )
    const run = spans.find((s) => s.name === "collection run")!
    const traceId = run.spanContext().traceId
    const spanIds = new Map(spans.map((s) => [s.spanContext().spanId, s]))
    const batchOf = (sink: string) =>
      new Set(spans.filter((s) => s.name === "sink.batch" && s.attributes["sink"] === sink).map((s) => s.spanContext().spanId))

    // HTTP: effect/http's client sends its own span's context; that span sits under the batch's.
    expect(webhook.received.length).toBeGreaterThan(1)
    const httpBatches = batchOf("http")
    for (const request of webhook.received) {
      const [, trace, parent] = traceparent.exec(String(request.headers["traceparent"]))!
      expect(trace).toBe(traceId)
      const client = spanIds.get(parent!)!
      expect(httpBatches.has(client.parentSpanContext!.spanId)).toBe(true)
    }
    expect(webhook.accepted()).toHaveLength(22)

    // Kafka: each record carries the context of the batch it was sent in.
    const records = await readTopic(bootstrap(), topic)
    expect(records).toHaveLength(22)
    const kafkaBatches = batchOf("kafka")
    for (const record of records) {
      const [, trace, parent] = traceparent.exec(record.headers["traceparent"] ?? "")!
      expect(trace).toBe(traceId)
      expect(kafkaBatches.has(parent!)).toBe(true)
    }
  })
})
