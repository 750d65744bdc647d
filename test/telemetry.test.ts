/**
 * Traces and metrics: the spans of a throttled run in one trace, export over OTLP by the standard
 * OpenTelemetry variables, and how they and the `telemetry` section decide what is exported.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { assert, describe, it } from "@effect/vitest"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { emulatorScoped } from "../emulator/index.ts"
import { resolveTelemetry } from "../src/telemetry/settings.ts"
import { configFor, readLines, runCli, runInProcess, tempDir, writeJson } from "./support.ts"

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId
const idOf = (span: ReadableSpan) => span.spanContext().spanId

describe("traces of a collection run", () => {
  it.live("per-user over a throttled emulator: one trace, run → pages / users / mappings / batches / dead letters → IAM attempts with retries", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 10 })
      const denied = [...emulator.account.userNames()][5]!
      emulator.setFaults({ "*": { throttleRate: 0.2 }, ListMFADevices: { accessDenied: [denied] } })
      const dir = tempDir()
      const exporter = new InMemorySpanExporter()
      const { spans, summary } = yield* Effect.gen(function*() {
        const summary = yield* runInProcess(configFor(emulator, dir, { collection: { pageSize: 5, strategy: "per-user" } }))
        // Inside the layer's scope: releasing it shuts the exporter down, which forgets the spans.
        return { summary, spans: exporter.getFinishedSpans() }
      }).pipe(Effect.provide(NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) }))))

      const named = (name: string) => spans.filter((s) => s.name === name)
      const [run, ...otherRuns] = named("collection run")
      assert.isDefined(run)
      assert.deepStrictEqual(otherRuns, [])
      assert.isUndefined(parentOf(run!), "the run is a root span")
      const traceId = run!.spanContext().traceId
      assert.deepStrictEqual(new Set(spans.map((s) => s.spanContext().traceId)), new Set([traceId]))
      assert.strictEqual(run!.attributes["users.collected"], 11)
      assert.strictEqual(run!.attributes["users.failed"], 1)
      assert.strictEqual(summary.collected, 11)

      const byId = new Map(spans.map((s) => [idOf(s), s]))
      const childrenOfRun = (name: string) => {
        const found = named(name)
        for (const s of found) assert.strictEqual(parentOf(s), idOf(run!), `${name} is a child of the run`)
        return found
      }

      // 12 users in pages of 5: three pages, each over its own ListUsers attempts.
      const pages = childrenOfRun("ListUsers page")
      assert.strictEqual(pages.length, 3)
      assert.deepStrictEqual(pages.map((p) => p.attributes["page.users"]).sort(), [2, 5, 5])
      for (const attempt of named("IAM ListUsers")) {
        assert.strictEqual(byId.get(parentOf(attempt)!)?.name, "ListUsers page")
      }

      const users = childrenOfRun("enrichUser")
      assert.strictEqual(users.length, 12)
      const userOf = new Map(users.map((u) => [idOf(u), u.attributes["aws.iam.user"]]))
      // The account summary (the listings' bounds) is read once, by the run itself.
      const accountCalls = named("IAM GetAccountSummary")
      assert.isNotEmpty(accountCalls)
      for (const attempt of accountCalls) assert.strictEqual(parentOf(attempt), idOf(run!))
      const perUser = spans.filter((s) => s.name.startsWith("IAM ") && s.name !== "IAM ListUsers" && s.name !== "IAM GetAccountSummary")
      assert.isAbove(perUser.length, 12 * 7 - 1)
      for (const attempt of perUser) {
        assert.strictEqual(userOf.get(parentOf(attempt)!), attempt.attributes["aws.iam.user"], "an attempt is a child of its user")
      }

      // Retries are visible: a later attempt says which one it is and how long it waited, and an
      // earlier attempt of the same call under the same parent failed with AWS's throttling code.
      const retried = spans.filter((s) => s.name.startsWith("IAM ") && Number(s.attributes["retry.attempt"]) > 1)
      assert.isAbove(retried.length, 3)
      for (const attempt of retried) {
        assert.isAbove(Number(attempt.attributes["retry.backoff_ms"]), 0)
        const earlier = spans.filter((s) =>
          s.name === attempt.name && parentOf(s) === parentOf(attempt) &&
          s.attributes["aws.iam.user"] === attempt.attributes["aws.iam.user"] &&
          s.attributes["retry.attempt"] === Number(attempt.attributes["retry.attempt"]) - 1
        )
        assert.isNotEmpty(earlier)
        assert.isTrue(earlier.some((s) => s.attributes["aws.error.code"] === "Throttling"))
      }
      for (const first of spans.filter((s) => s.name.startsWith("IAM ") && s.attributes["retry.attempt"] === 1)) {
        assert.strictEqual(first.attributes["retry.backoff_ms"], 0)
      }
      const deniedCall = named("IAM ListMFADevices").find((s) => s.attributes["aws.iam.user"] === denied)
      assert.strictEqual(deniedCall?.attributes["aws.error.code"], "AccessDenied")

      const mappings = childrenOfRun("ocsf.map")
      assert.strictEqual(mappings.length, 11)
      assert.notInclude(mappings.map((m) => m.attributes["aws.iam.user"]), denied)

      const batches = childrenOfRun("sink.batch")
      assert.strictEqual(batches.reduce((n, b) => n + Number(b.attributes["events"]), 0), 11)
      for (const batch of batches) {
        assert.strictEqual(batch.attributes["sink"], "file")
        assert.strictEqual(batch.attributes["sink.outcome"], "delivered")
        assert.isAbove(Number(batch.attributes["sink.batch.bytes"]), 200 * Number(batch.attributes["events"]))
      }
      const eventBytes = readLines(path.join(dir, "events.ndjson")).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0)
      assert.strictEqual(batches.reduce((n, b) => n + Number(b.attributes["sink.batch.bytes"]), 0), eventBytes)

      const deadLetters = childrenOfRun("deadLetter.write")
      assert.strictEqual(deadLetters.length, 1)
    }))
})

interface Received {
  readonly path: string
  readonly body: any
}

/** An OTLP/HTTP (JSON) receiver on 127.0.0.1 that keeps every request. */
const startReceiver = (): Promise<{ url: string; received: Array<Received>; close: () => Promise<void> }> =>
  new Promise((resolve) => {
    const received: Array<Received> = []
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        received.push({ path: req.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString("utf8")) })
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        received,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      }))
  })

const attributes = (list: ReadonlyArray<{ key: string; value: Record<string, unknown> }>) =>
  Object.fromEntries(list.map((a) => [a.key, Object.values(a.value)[0]]))

describe("export by the standard OpenTelemetry variables", () => {
  it.live("OTEL_EXPORTER_OTLP_ENDPOINT: a receiver gets the run's spans and its metrics", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 10 })
      const receiver = yield* Effect.acquireRelease(Effect.promise(startReceiver), (r) => Effect.promise(r.close))
      const dir = tempDir()
      const config = writeJson(
        path.join(dir, "config.json"),
        configFor(emulator, dir, { collection: { strategy: "per-user" } })
      )
      const result = yield* Effect.promise(() =>
        runCli(["run", "--config", config, "--once"], {
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
            OTEL_SERVICE_NAME: "iam-ocsf-under-test",
            OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,team=identity%20platform",
            OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=collector-secret-value"
          }
        })
      )
      assert.strictEqual(result.code, 0, result.stderr)
      assert.notInclude(result.stderr, "collector-secret-value")

      const traces = receiver.received.filter((r) => r.path === "/v1/traces")
      assert.isNotEmpty(traces)
      const resourceSpans = traces.flatMap((t) => t.body.resourceSpans)
      for (const rs of resourceSpans) {
        assert.deepInclude(attributes(rs.resource.attributes), {
          "service.name": "iam-ocsf-under-test",
          "service.version": "0.1.0",
          "deployment.environment": "test",
          "team": "identity platform"
        })
      }
      const spans = resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans))
      const run = spans.filter((s: any) => s.name === "collection run")
      assert.strictEqual(run.length, 1)
      assert.deepStrictEqual(new Set(spans.map((s: any) => s.traceId)), new Set([run[0].traceId]))
      assert.strictEqual(spans.filter((s: any) => s.name === "enrichUser").length, 12)
      assert.isAbove(spans.filter((s: any) => s.name === "sink.batch").length, 0)

      // The last metrics are pushed when the process ends.
      const metrics = receiver.received.filter((r) => r.path === "/v1/metrics")
        .flatMap((m) => m.body.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics)))
      const collected = metrics.filter((m: any) => m.name === "iam_ocsf.users.collected")
      assert.isNotEmpty(collected)
      assert.strictEqual(Number(collected.at(-1).sum.dataPoints[0].asDouble ?? collected.at(-1).sum.dataPoints[0].asInt), 12)
      assert.isTrue(metrics.some((m: any) => m.name === "iam_ocsf.aws.calls"))
    }))
})

describe("telemetry settings", () => {
  const config = defaultConfig().telemetry
  const resolve = (env: Record<string, string>, file = config, prometheus = false) =>
    resolveTelemetry(file, { env, version: "9.9.9", prometheus })

  it("nothing is exported when no variable and no telemetry section says so", () => {
    const settings = resolve({})
    assert.isUndefined(settings.traces)
    assert.isUndefined(settings.metrics)
    assert.isFalse(settings.prometheus)
    assert.strictEqual(settings.resource.serviceName, "iam-ocsf")
    assert.deepStrictEqual(settings.warnings, [])
  })

  it("an endpoint turns both signals on; a variable wins over the file, per signal too", () => {
    const file = defaultConfig({ telemetry: { endpoint: "http://file:4318", serviceName: "from-file", headers: { a: "1" } } })
      .telemetry
    const fromFile = resolve({}, file)
    assert.strictEqual(fromFile.traces?.url, "http://file:4318/v1/traces")
    assert.strictEqual(fromFile.metrics?.url, "http://file:4318/v1/metrics")
    assert.strictEqual(fromFile.resource.serviceName, "from-file")
    assert.strictEqual(Duration.toMillis(fromFile.metrics!.interval), 60_000)

    const fromEnv = resolve({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://env:4318/",
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://metrics:9999/custom",
      OTEL_SERVICE_NAME: "from-env",
      OTEL_METRIC_EXPORT_INTERVAL: "5000",
      OTEL_EXPORTER_OTLP_HEADERS: "a=2,b=x%3Dy"
    }, file)
    assert.strictEqual(fromEnv.traces?.url, "http://env:4318/v1/traces")
    assert.strictEqual(fromEnv.metrics?.url, "http://metrics:9999/custom")
    assert.strictEqual(fromEnv.resource.serviceName, "from-env")
    assert.strictEqual(Duration.toMillis(fromEnv.metrics!.interval), 5000)
    const headers = fromEnv.traces!.headers
    assert.deepStrictEqual(Object.keys(headers).sort(), ["a", "b"])
    assert.strictEqual(Redacted.value(headers["a"]!), "2")
    assert.strictEqual(Redacted.value(headers["b"]!), "x=y")
    assert.notInclude(JSON.stringify(fromEnv), "x=y")
  })

  it("OTEL_*_EXPORTER=none, OTEL_SDK_DISABLED and unsupported exporters", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    const noTraces = resolve({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })
    assert.isUndefined(noTraces.traces)
    assert.isDefined(noTraces.metrics)
    assert.isUndefined(resolve({ ...endpoint, OTEL_METRICS_EXPORTER: "prometheus" }).metrics)
    const disabled = resolve({ ...endpoint, OTEL_SDK_DISABLED: "true" }, config, true)
    assert.isUndefined(disabled.traces)
    assert.isUndefined(disabled.metrics)
    assert.isTrue(disabled.prometheus, "the /metrics endpoint is ours, not the SDK's export")
    // "otlp" alone, without an endpoint: the specification's default receiver.
    assert.strictEqual(resolve({ OTEL_TRACES_EXPORTER: "otlp" }).traces?.url, "http://localhost:4318/v1/traces")
    const zipkin = resolve({ ...endpoint, OTEL_TRACES_EXPORTER: "zipkin", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })
    assert.isUndefined(zipkin.traces)
    assert.deepStrictEqual(zipkin.warnings, [
      "OTEL_EXPORTER_OTLP_PROTOCOL=grpc not supported; OTLP is sent as http/json",
      "OTEL_TRACES_EXPORTER: zipkin not supported; only otlp and none are"
    ])
    // Empty means unset.
    assert.isUndefined(resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: "" }).traces)
  })

  it("resource attributes: the file's, then OTEL_RESOURCE_ATTRIBUTES' (percent-decoded) over them", () => {
    const file = defaultConfig({ telemetry: { resourceAttributes: { "deployment.environment": "prod", team: "iam" } } })
      .telemetry
    assert.deepStrictEqual(
      resolve({ OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=staging, region = eu%2Dwest ,broken" }, file)
        .resource.attributes,
      { "deployment.environment": "staging", team: "iam", region: "eu-west" }
    )
  })
})
