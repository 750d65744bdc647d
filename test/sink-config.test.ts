/**
 * The config of the http and kafka sinks: the all-sinks example, each sink's defaults, problems
 * that name the sink's own fields, and secrets kept redacted.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { type AppConfig, loadConfig, parseConfig } from "../src/run/AppConfig.ts"
import { deliverySettings } from "../src/delivery/Delivery.ts"

const allSinksExample = fileURLToPath(new URL("../config.all-sinks.example.json", import.meta.url))

const parse = (text: string, env: Record<string, string> = {}) =>
  Effect.runPromise(parseConfig(text, "config.json", env))
const problems = (text: string) =>
  Effect.runPromise(parseConfig(text, "config.json", {}).pipe(Effect.flip, Effect.map((e) => e.problems)))
const sinkOf = (config: AppConfig, name: string): Record<string, unknown> =>
  config.sinks.find((s) => s.name === name) as unknown as Record<string, unknown>
const ms = (d: unknown) => Duration.toMillis(d as Duration.Duration)

describe("config of the http and kafka sinks", () => {
  it("config.all-sinks.example.json validates: four sinks, secrets redacted", async () => {
    const env = { IAM_OCSF_WEBHOOK_URL: "https://siem.example.test/ingest", IAM_OCSF_WEBHOOK_TOKEN: "tok-123" }
    const config = await Effect.runPromise(loadConfig(allSinksExample, env).pipe(Effect.provide(NodeFileSystem.layer)))
    expect(config.sinks.map((s) => [s.type, s.name])).toEqual([
      ["stdout", "stdout"],
      ["file", "archive"],
      ["http", "siem"],
      ["kafka", "kafka"]
    ])
    const siem = sinkOf(config, "siem")
    expect(siem["url"]).toBe("https://siem.example.test/ingest")
    const authorization = (siem["headers"] as Record<string, Redacted.Redacted<string>>)["Authorization"]!
    expect(Redacted.isRedacted(authorization)).toBe(true)
    expect(Redacted.value(authorization)).toBe("Bearer tok-123")
    expect(sinkOf(config, "kafka")["brokers"]).toEqual(["localhost:9092"])
    // The webhook has its own batch size and retry; the rest comes from `delivery`.
    const settings = deliverySettings(config.delivery, siem)
    expect(settings.batchSize).toBe(200)
    expect(settings.retry.maxAttempts).toBe(10)
    expect(settings.queueSize).toBe(config.delivery.queueSize)
    expect(ms(settings.batchWindow)).toBe(ms(config.delivery.batchWindow))

    const missing = await Effect.runPromise(
      loadConfig(allSinksExample, { IAM_OCSF_WEBHOOK_URL: "https://x.test/" }).pipe(Effect.provide(NodeFileSystem.layer), Effect.flip)
    )
    expect(missing.problems).toContain(
      "sinks[2].headers.Authorization: environment variable IAM_OCSF_WEBHOOK_TOKEN is not set (write ${IAM_OCSF_WEBHOOK_TOKEN:-default} to give a default)"
    )
  })

  it("defaults of an http sink", async () => {
    const config = await parse(`{ "sinks": [{ "type": "http", "url": "https://h.test/in" }] }`)
    const http = sinkOf(config, "http")
    expect({ ...http, timeout: ms(http["timeout"]), maxRetryAfter: ms(http["maxRetryAfter"]) }).toEqual({
      type: "http",
      name: "http",
      url: "https://h.test/in",
      format: "json",
      gzip: false,
      headers: {},
      timeout: 30_000,
      maxConcurrentRequests: 1,
      retryableStatuses: [408, 429, "5xx"],
      maxRetryAfter: 300_000
    })
  })

  it("defaults of a kafka sink", async () => {
    const config = await parse(`{ "sinks": [{ "type": "kafka", "brokers": ["k1:9092", "k2:9092"], "topic": "t" }] }`)
    const kafka = sinkOf(config, "kafka")
    expect({ ...kafka, connectTimeout: ms(kafka["connectTimeout"]), requestTimeout: ms(kafka["requestTimeout"]) }).toEqual({
      type: "kafka",
      name: "kafka",
      brokers: ["k1:9092", "k2:9092"],
      topic: "t",
      clientId: "iam-ocsf",
      acks: "all",
      idempotent: true,
      compression: "none",
      // A broker that accepts and never answers costs 10s per attempt (and 5s to find one that
      // does not accept), not 30s.
      connectTimeout: 5_000,
      requestTimeout: 10_000,
      mockCompatible: false
    })
  })

  it("problems name the sink's own fields", async () => {
    expect(await problems(`{ "sinks": [{ "type": "http" }] }`)).toEqual(["sinks[0].url: required, missing"])
    const all = await problems(`{ "sinks": [{ "type": "http", "url": "ftp://h.test/", "retryableStatuses": [503, 700, "6xx"],
      "headers": { "Bad Name": "x" }, "batchSize": 0 }] }`)
    expect(all).toEqual(expect.arrayContaining([
      `sinks[0].url: expected an http(s) URL like "https://siem.example.com/ingest"; found "ftp://h.test/"`,
      `sinks[0].batchSize: expected an integer between 1 and 100000; found 0`
    ]))
    expect(all.filter((p) => p.startsWith("sinks[0].headers"))).toEqual([expect.stringMatching(/an HTTP header name/)])
    expect(all.filter((p) => p.startsWith("sinks[0].retryableStatuses"))).toHaveLength(2)
    const bad = await problems(`{ "sinks": [{ "type": "http", "url": "https://h.test/", "retryableStatuses": [700, "6xx"] }] }`)
    expect(bad.some((p) => p.startsWith("sinks[0].retryableStatuses[0]"))).toBe(true)
    expect(bad.some((p) => p.startsWith("sinks[0].retryableStatuses[1]"))).toBe(true)
    expect(await problems(`{ "sinks": [{ "type": "kafka", "brokers": ["localhost"], "topic": "t", "acks": "leader" }] }`))
      .toEqual([
        `sinks[0].brokers[0]: expected a broker address like "kafka-1.example.com:9092"; found "localhost"`
      ])
    expect(await problems(`{ "sinks": [{ "type": "kafka", "brokers": ["k:9092"], "topic": "t", "acks": "leader" }] }`))
      .toEqual([
        `sinks[0]: an idempotent producer needs acks "all"; found acks "leader" (or set "idempotent": false)`
      ])
    expect(await problems(`{ "sinks": [{ "type": "kafka", "brokers": [], "topic": "t" }] }`)).toEqual([
      "sinks[0].brokers: expected a non-empty array; found an empty array"
    ])
  })

  it("kafka: timeouts bounded (a minute to connect, two for an answer), broker ports 1 to 65535", async () => {
    expect(await problems(`{ "sinks": [{ "type": "kafka", "brokers": ["k:9092"], "topic": "t",
      "connectTimeout": "61s", "requestTimeout": "10m" }] }`)).toEqual([
      `sinks[0].connectTimeout: expected a duration between 1ms and 1m; found "61s"`,
      `sinks[0].requestTimeout: expected a duration between 1ms and 2m; found "10m"`
    ])
    expect(await problems(`{ "sinks": [{ "type": "kafka", "brokers": ["k:0", "k:65536", "k:65535"], "topic": "t" }] }`)).toEqual([
      `sinks[0].brokers[0]: expected a broker address like "kafka-1.example.com:9092"; found "k:0"`,
      `sinks[0].brokers[1]: expected a broker address like "kafka-1.example.com:9092"; found "k:65536"`
    ])
  })

  it("http: the url holds no credentials and no port fetch refuses", async () => {
    expect(await problems(`{ "sinks": [{ "type": "http", "url": "https://svc:t0ken@h.test/in" }] }`)).toEqual([
      `sinks[0].url: expected a URL without a user name or password; found "https://<redacted>@h.test/in" (put the secret in a header: "headers": { "Authorization": "\${TOKEN}" })`
    ])
    expect(await problems(`{ "sinks": [{ "type": "http", "url": "https://h.test:6666/in" }] }`)).toEqual([
      `sinks[0].url: expected a URL on a port that fetch connects to; found "https://h.test:6666/in" (fetch refuses port 6666, one of the WHATWG "bad ports" such as 25, 6000 and 6665-6669)`
    ])
  })

  it("a kafka SASL password is a secret", async () => {
    const config = await parse(
      `{ "sinks": [{ "type": "kafka", "brokers": ["k:9093"], "topic": "t", "tls": true,
        "sasl": { "mechanism": "SCRAM-SHA-512", "username": "svc", "password": "\${KAFKA_PASSWORD}" } }] }`,
      { KAFKA_PASSWORD: "pw-456" }
    )
    const sasl = sinkOf(config, "kafka")["sasl"] as { password: Redacted.Redacted<string> }
    expect(Redacted.isRedacted(sasl.password)).toBe(true)
    expect(String(sasl.password)).not.toContain("pw-456")
  })
})
