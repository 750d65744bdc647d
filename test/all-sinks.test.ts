/** All four sinks in one `run --once` over 5,000 users: each receives every user exactly once. */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { readTopic } from "./kafka-mock/broker.ts"
import { testTopics } from "./kafka-mock/topics.ts"
import { configFor, kafkaBootstrap, readNdjson, runCli, tempDir, uidsOf, writeJson } from "./support.ts"
import { startWebhook, type Webhook } from "./webhook.ts"


describe("all four sinks at once", () => {
  let emulator: Emulator
  let webhook: Webhook
  beforeAll(async () => {
    emulator = await startEmulator({ users: 4_998 })
    webhook = await startWebhook()
  })
  afterAll(async () => {
    await webhook.close()
    await emulator.close()
  })

  it("5,000 users: stdout, file, webhook and Kafka each receive all 5,000", async () => {
    const brokers = kafkaBootstrap()
    const dir = tempDir()
    const topic = testTopics.allSinks.name
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
      // The default strategy (bulk here), not the per-user one `configFor` picks for counting calls.
      collection: { strategy: "auto", concurrency: 32, pageSize: 1000 },
      delivery: { batchSize: 500, batchWindow: "200ms" },
      sinks: [
        { type: "stdout" },
        { type: "file", path: path.join(dir, "events.ndjson") },
        { type: "http", url: webhook.url, gzip: true },
        { type: "kafka", brokers: [brokers], topic, mockCompatible: true }
      ]
    }))
    const result = await runCli(["run", "--config", config, "--once"])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/stdout: 5000 delivered; file: 5000 delivered; http: 5000 delivered; kafka: 5000 delivered/)

    // every user of the account, each exactly once, in every sink
    const expected = new Set([...emulator.account.users()].map((u) => u.UserId))
    expect(expected.size).toBe(5_000)
    const fromFile = uidsOf(readNdjson(path.join(dir, "events.ndjson")))
    const fromStdout = uidsOf(result.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l)))
    const fromWebhook = uidsOf(webhook.accepted())
    const fromKafka = (await readTopic(brokers, topic)).map((r) => r.key)
    for (const uids of [fromFile, fromStdout, fromWebhook, fromKafka]) {
      expect(uids).toHaveLength(5_000)
      expect(new Set(uids)).toEqual(expected)
    }
  }, 120_000)
})
