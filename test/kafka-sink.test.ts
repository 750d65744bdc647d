/**
 * The kafka sink against the mock broker: every event once, keyed by user.uid, on the partition
 * Java's partitioner picks; lz4; a run that exits, never hangs, whether or not a broker answers.
 */
import type { ChildProcess } from "node:child_process"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { murmur2 } from "@platformatic/kafka"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { SinkInput } from "../src/sinks/SinksConfig.ts"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import type { Envelope } from "../src/delivery/Sink.ts"
import { ocsfEnvelopes } from "./events.ts"
import { readTopic } from "./kafka-mock/broker.ts"
import { testTopics } from "./kafka-mock/topics.ts"
import { configFor, deliverInProcess, readNdjson, runCli, tempDir, writeJson, kafkaBootstrap as bootstrap } from "./support.ts"
import { freePort } from "./webhook.ts"


/** Bounds a CLI run: a hang is killed, and the test fails on the run's `signal`. */
const killAfter = (ms: number) => (child: ChildProcess) => {
  const timer = setTimeout(() => child.kill("SIGKILL"), ms)
  child.on("close", () => clearTimeout(timer))
}

/** Envelopes straight into the delivery machinery, to `sinks`; the run's counters. */
const deliver = (envelopes: ReadonlyArray<Envelope>, sinks: ReadonlyArray<SinkInput>, dir: string) =>
  Effect.runPromise(deliverInProcess(Stream.fromIterable(envelopes), {
    delivery: { batchSize: 500, retry: { maxAttempts: 3, baseDelay: "1ms", maxDelay: "10ms" } },
    sinks
  }, dir))

describe("the kafka sink", () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ users: 30 })
  })
  afterAll(() => emulator.close())

  it("10,000 events produced and read back: every user.uid exactly once, keyed by it", async () => {
    const topic = testTopics.produced.name
    const envelopes = ocsfEnvelopes(10_000)
    const summary = await deliver(envelopes, [{ type: "kafka", brokers: [bootstrap()], topic, mockCompatible: true }], tempDir())
    expect(summary.sinks["kafka"]).toEqual({ delivered: 10_000, retried: 0, deadLettered: 0 })

    const records = await readTopic(bootstrap(), topic)
    expect(records).toHaveLength(10_000)
    for (const record of records) expect(record.key).toBe(JSON.parse(record.value).user.uid)
    const keys = records.map((r) => r.key!)
    expect(new Set(keys).size).toBe(10_000)
    expect(new Set(keys)).toEqual(new Set(envelopes.map((e) => e.key)))
    // Keys spread over the topic's partitions, each key on one.
    expect(new Set(records.map((r) => r.partition)).size).toBeGreaterThan(1)
  })

  it("each key lands on the partition Java's default partitioner picks: murmur2(key) & 0x7fffffff, modulo the count", async () => {
    const topic = testTopics.threePartitions.name
    const envelopes = ocsfEnvelopes(200, 3)
    await deliver(envelopes, [{ type: "kafka", brokers: [bootstrap()], topic, mockCompatible: true }], tempDir())
    const records = await readTopic(bootstrap(), topic)
    expect(records).toHaveLength(200)
    for (const record of records) {
      expect(record.partition).toBe((murmur2(Buffer.from(record.key!)) & 0x7fffffff) % 3)
    }
    expect(new Set(records.map((r) => r.partition))).toEqual(new Set([0, 1, 2]))
  })

  it("compressed (lz4, not idempotent, acks leader): the same events read back", async () => {
    const topic = testTopics.compressed.name
    const envelopes = ocsfEnvelopes(600, 7)
    const summary = await deliver(envelopes, [{
      type: "kafka",
      brokers: [bootstrap()],
      topic,
      compression: "lz4",
      idempotent: false,
      acks: "leader"
    }], tempDir())
    expect(summary.sinks["kafka"]!.delivered).toBe(600)
    const records = await readTopic(bootstrap(), topic)
    expect(records.map((r) => r.value).sort()).toEqual(envelopes.map((e) => e.json).sort())
  })

  it("a run to a live broker exits 0 once delivered: the producer is closed, nothing holds the process", async () => {
    const dir = tempDir()
    const topic = testTopics.cli.name
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
      sinks: [{ type: "kafka", brokers: [bootstrap()], topic, mockCompatible: true }]
    }))
    const result = await runCli(["run", "--config", config, "--once"], { onSpawn: killAfter(20_000) })
    expect(result.signal).toBeNull()
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/kafka: 32 delivered/)
    expect((await readTopic(bootstrap(), topic)).map((r) => r.key).sort()).toEqual([...emulator.account.userNames()].map(
      (name) => emulator.account.user(name)!.UserId
    ).sort())
  })

  it("a broker where nothing listens: the batches are retried, dead-lettered, and the run exits 3 without hanging", async () => {
    const dir = tempDir()
    const port = await freePort()
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
      delivery: { retry: { maxAttempts: 3, baseDelay: "10ms", maxDelay: "50ms" } },
      sinks: [
        { type: "file", path: path.join(dir, "events.ndjson") },
        { type: "kafka", brokers: [`127.0.0.1:${port}`], topic: "nowhere", connectTimeout: "1s", requestTimeout: "2s" }
      ]
    }))
    const result = await runCli(["run", "--config", config, "--once"], { onSpawn: killAfter(30_000) })
    expect(result.signal).toBeNull()
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/kafka: 0 delivered, \d+ retries, 32 dead-lettered/)
    const records = readNdjson(path.join(dir, "dead-letter.ndjson"))
    expect(records.every((r) => r.kind === "batch" && r.sink === "kafka")).toBe(true)
    expect(records[0].error.message).toMatch(/Cannot connect to any broker/)
    const dead = records.flatMap((r) => r.events).map((e: any) => e.user.uid).sort()
    expect(dead).toEqual(readNdjson(path.join(dir, "events.ndjson")).map((e) => e.user.uid).sort())
  })
})
