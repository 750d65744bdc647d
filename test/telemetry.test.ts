/**
 * Traces and metrics: the spans of a throttled run in one trace, export over OTLP by the standard
 * OpenTelemetry variables, and how they and the `telemetry` section decide what is exported.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { assert, describe, it } from "@effect/vitest"
import { afterEach, vi } from "vitest"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { emulatorScoped } from "../emulator/index.ts"
import { noOtelVariables, otelEnvironment, resolveTelemetry } from "../src/telemetry/settings.ts"
import { processOtelEnv } from "../src/telemetry/otelEnv.ts"
import { type Answer, attributes, metricsOf, type Receiver, spansOf, startReceiver, sumValue } from "./otlpReceiver.ts"
import { configFor, readLines, runCli, runInProcess, tempDir, writeJson } from "./support.ts"

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId
const idOf = (span: ReadableSpan) => span.spanContext().spanId

/**
 * A run makes two traces: its start-up checks (a root span `check`, with their AWS calls) and the
 * collection run (a root span); every exported span belongs to one of them.
 */
const assertRunAndCheckTraces = (spans: ReadonlyArray<any>, run: any) => {
  assert.isNotOk(run.parentSpanId, "the run is a root span")
  const checks = spans.filter((s) => s.name === "check")
  assert.strictEqual(checks.length, 1)
  assert.isNotOk(checks[0].parentSpanId, "the start-up checks are a root span")
  assert.notStrictEqual(checks[0].traceId, run.traceId)
  assert.deepStrictEqual(new Set(spans.map((s) => s.traceId)), new Set([run.traceId, checks[0].traceId]))
  assert.isNotEmpty(spans.filter((s) => s.traceId === checks[0].traceId && s.name.startsWith("IAM ")))
}

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
      // Throttling may come first (the account's rate is checked before the user's permission);
      // the call ends with AccessDenied, never retried after it.
      const deniedCalls = named("IAM ListMFADevices").filter((s) => s.attributes["aws.iam.user"] === denied)
        .sort((a, b) => Number(a.attributes["retry.attempt"]) - Number(b.attributes["retry.attempt"]))
      assert.strictEqual(deniedCalls.at(-1)?.attributes["aws.error.code"], "AccessDenied")
      assert.strictEqual(deniedCalls.filter((s) => s.attributes["aws.error.code"] === "AccessDenied").length, 1)

      // A span per chunk of users, naming the users it mapped: every collected user once, the failed one never.
      const mapped = childrenOfRun("ocsf.map").flatMap((m) => {
        const names = m.attributes["aws.iam.users"] as ReadonlyArray<string>
        assert.strictEqual(m.attributes["ocsf.users"], names.length)
        return names
      })
      assert.strictEqual(mapped.length, 11)
      assert.strictEqual(new Set(mapped).size, 11)
      assert.notInclude(mapped, denied)

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

describe("traces of a run that keeps state", () => {
  it.live("bulk with change events: the state read a chunk of users at a time, in state.readAhead spans beside ocsf.map", () =>
    Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 40 })
      const dir = tempDir()
      const config = configFor(emulator, dir, {
        collection: { strategy: "bulk" },
        ocsf: { profile: "strict", emit: "both" },
        state: { path: path.join(dir, "state.sqlite") }
      })
      const exporter = new InMemorySpanExporter()
      const spans = yield* Effect.gen(function*() {
        // The baseline, then a run that finds every user in the state.
        yield* runInProcess(config)
        yield* runInProcess(config)
        return exporter.getFinishedSpans()
      }).pipe(Effect.provide(NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) }))))
      const [first, second] = spans.filter((s) => s.name === "collection run")
      const childrenOf = (run: ReadableSpan | undefined, name: string) =>
        spans.filter((s) => s.name === name && parentOf(s) === run!.spanContext().spanId)
      for (const run of [first, second]) {
        const reads = childrenOf(run, "state.readAhead")
        const mapped = childrenOf(run, "ocsf.map").reduce((n, m) => n + Number(m.attributes["ocsf.users"]), 0)
        // Every user read ahead once, those that needed calls (key listings) gathered with the
        // others: far fewer reads than users.
        assert.strictEqual(mapped, 42)
        assert.strictEqual(reads.reduce((n, r) => n + Number(r.attributes["state.users"]), 0), 42)
        assert.isBelow(reads.length, 42 / 2)
      }
      // Nothing changed between the runs: the second found each user in the state.
      assert.isEmpty(readLines(path.join(dir, "events.ndjson")).filter((l) => JSON.parse(l).class_uid === 3001))
    }))
})

const otlpTrafficOf = (receiver: Receiver) => {
  const spans = spansOf(receiver.received)
  const metrics = metricsOf(receiver.received)
  return { spans, metrics, metric: (name: string) => metrics.filter((m) => m.name === name) }
}

/** stdout holds one OCSF event per line and nothing else. */
const assertOnlyEvents = (stdout: string, count: number) => {
  const lines = stdout.split("\n").filter((l) => l !== "")
  assert.strictEqual(lines.length, count, stdout.slice(0, 2000))
  for (const line of lines) assert.strictEqual(JSON.parse(line).class_uid, 5003, line)
}

describe("export by the standard OpenTelemetry variables", () => {
  for (const protocol of ["http/protobuf", "http/json"] as const) {
    it.live(`OTEL_EXPORTER_OTLP_ENDPOINT, ${protocol}: a receiver gets the run's spans and its metrics`, () =>
      Effect.gen(function*() {
        const emulator = yield* emulatorScoped({ users: 10 })
        const receiver = yield* Effect.acquireRelease(Effect.promise(() => startReceiver()), (r) => Effect.promise(r.close))
        const dir = tempDir()
        const config = writeJson(
          path.join(dir, "config.json"),
          configFor(emulator, dir, { collection: { strategy: "per-user" } })
        )
        const result = yield* Effect.promise(() =>
          runCli(["run", "--config", config, "--once"], {
            env: {
              OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
              OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
              OTEL_SERVICE_NAME: "iam-ocsf-under-test",
              OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,team=identity%20platform",
              OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=collector-secret-value"
            }
          })
        )
        assert.strictEqual(result.code, 0, result.stderr)
        assert.notInclude(result.stderr, "collector-secret-value")
        assert.include(result.stderr, `(${protocol})`)

        const contentType = protocol === "http/json" ? "application/json" : "application/x-protobuf"
        assert.isNotEmpty(receiver.received)
        for (const request of receiver.received) {
          assert.strictEqual(request.contentType, contentType)
          assert.strictEqual(request.headers["x-api-key"], "collector-secret-value")
          assert.notProperty(request.body, "undecodable")
        }
        const traces = receiver.received.filter((r) => r.path === "/v1/traces")
        assert.isNotEmpty(traces)
        for (const rs of traces.flatMap((t) => t.body.resourceSpans)) {
          assert.deepInclude(attributes(rs.resource.attributes), {
            "service.name": "iam-ocsf-under-test",
            "service.version": "0.1.0",
            "deployment.environment": "test",
            "team": "identity platform"
          })
        }
        const { metric, spans } = otlpTrafficOf(receiver)
        const run = spans.filter((s: any) => s.name === "collection run")
        assert.strictEqual(run.length, 1)
        assertRunAndCheckTraces(spans, run[0])
        const users = spans.filter((s: any) => s.name === "enrichUser")
        assert.strictEqual(users.length, 12)
        for (const user of users) assert.strictEqual(user.parentSpanId, run[0].spanId)
        assert.isAbove(spans.filter((s: any) => s.name === "sink.batch").length, 0)
        assert.strictEqual(Number(attributes(run[0].attributes)["users.collected"]), 12)

        // The last metrics are pushed when the process ends, once.
        const collected = metric("iam_ocsf.users.collected")
        assert.strictEqual(collected.length, 1)
        assert.strictEqual(sumValue(collected[0]), 12)
        assert.isNotEmpty(metric("iam_ocsf.aws.calls"))
      }))
  }

  it.live("`npm start` (bin/iam-ocsf demo, compiled) exports the run's spans and metrics", () =>
    Effect.gen(function*() {
      const receiver = yield* Effect.acquireRelease(Effect.promise(() => startReceiver()), (r) => Effect.promise(r.close))
      const result = yield* Effect.promise(() =>
        runCli(["demo", "--users", "4"], { installed: true, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } })
      )
      assert.strictEqual(result.code, 0, result.stderr)
      // The spec's two example users and four generated ones.
      assertOnlyEvents(result.stdout, 6)
      assert.include(result.stderr, "embedded IAM emulator listening")

      const { metric, spans } = otlpTrafficOf(receiver)
      const run = spans.filter((s: any) => s.name === "collection run")
      assert.strictEqual(run.length, 1)
      assertRunAndCheckTraces(spans, run[0])
      const childrenOfRun = (name: string) => spans.filter((s: any) => s.name === name && s.parentSpanId === run[0].spanId)
      assert.strictEqual(childrenOfRun("ocsf.map").reduce((n: number, m: any) => n + Number(attributes(m.attributes)["ocsf.users"]), 0), 6)
      assert.isNotEmpty(childrenOfRun("sink.batch"))
      assert.isNotEmpty(spans.filter((s: any) => s.name.startsWith("IAM ")))

      assert.strictEqual(sumValue(metric("iam_ocsf.users.collected").at(-1)), 6)
      assert.isNotEmpty(metric("iam_ocsf.runs"))
      assert.isNotEmpty(metric("iam_ocsf.events.delivered"))
      assert.isTrue(metricsOf(receiver.received).every((m) => m.name.startsWith("iam_ocsf.")))
    }))
})

describe("telemetry never decides a run's outcome", () => {
  /** A closed port: connections are refused. */
  const downUrl = Effect.promise(async () => {
    const receiver = await startReceiver()
    await receiver.close()
    return receiver.url
  })

  const cases = [
    { name: "a collector answering 400", answer: 400 as Answer, reason: "HTTP 400 Bad Request" },
    { name: "a collector that never answers", answer: "never" as Answer, reason: "Request timed out" },
    { name: "a collector that is down", answer: undefined, reason: "ECONNREFUSED" }
  ]
  for (const { answer, name, reason } of cases) {
    it.live(`${name}: --once delivers everything, exits 0, warns on stderr; stdout holds only events`, () =>
      Effect.gen(function*() {
        const emulator = yield* emulatorScoped({ users: 10 })
        const receiver = answer === undefined
          ? undefined
          : yield* Effect.acquireRelease(Effect.promise(() => startReceiver(answer)), (r) => Effect.promise(r.close))
        const endpoint = receiver?.url ?? (yield* downUrl)
        const dir = tempDir()
        const config = writeJson(
          path.join(dir, "config.json"),
          // The export timeout bounds what a collector can cost: small here, for a fast test.
          configFor(emulator, dir, { sinks: [{ type: "stdout" }], telemetry: { timeout: "1s" } })
        )
        const result = yield* Effect.promise(() =>
          runCli(["run", "--config", config, "--once"], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } })
        )
        assert.strictEqual(result.code, 0, result.stderr)
        assertOnlyEvents(result.stdout, 12)
        const warnings = result.stderr.split("\n").filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l)).filter((l) => l.level === "warn").map((l) => l.message)
        for (const signal of ["traces", "metrics"]) {
          const warning = warnings.find((w) => w.startsWith(`telemetry: ${signal} to ${endpoint}/v1/${signal} not exported`))
          assert.isDefined(warning, `${signal}: ${JSON.stringify(warnings)}`)
          assert.include(warning, reason)
        }
        if (receiver !== undefined) {
          // The last metrics were attempted once: after a failed last export nothing is sent again at shutdown.
          assert.strictEqual(receiver.received.filter((r) => r.path === "/v1/metrics").length, 1)
          assert.isNotEmpty(receiver.received.filter((r) => r.path === "/v1/traces"))
        }
      }))
  }
})

describe("telemetry settings", () => {
  const config = defaultConfig().telemetry
  /** Settings from the file and these OTEL_* variables alone, read from the process's environment by @opentelemetry/core. */
  const resolve = (env: Record<string, string>, file = config, prometheus = false) => {
    vi.unstubAllEnvs()
    for (const name of Object.keys(process.env)) if (name.startsWith("OTEL_")) vi.stubEnv(name, undefined)
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value)
    return resolveTelemetry(file, { env: processOtelEnv, version: "9.9.9", prometheus })
  }
  afterEach(() => void vi.unstubAllEnvs())

  it("nothing is exported when no variable and no telemetry section says so", () => {
    const settings = resolve({})
    assert.isUndefined(settings.traces)
    assert.isUndefined(settings.metrics)
    assert.isFalse(settings.prometheus)
    assert.strictEqual(settings.resource.serviceName, "iam-ocsf")
    assert.deepStrictEqual(settings.warnings, [])
  })

  it("without any OTEL_* variable set, they are not read (nor @opentelemetry/core loaded)", async () => {
    resolve({ OTEL_SERVICE_NAME: " " })
    assert.strictEqual(await Effect.runPromise(otelEnvironment), noOtelVariables)
    vi.stubEnv("OTEL_SERVICE_NAME", "x")
    assert.strictEqual(await Effect.runPromise(otelEnvironment), processOtelEnv)
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
      OTEL_SERVICE_NAME: " from-env ",
      OTEL_METRIC_EXPORT_INTERVAL: "5000",
      OTEL_EXPORTER_OTLP_HEADERS: "a=2,b=x%3Dy",
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: "b=only-metrics"
    }, file)
    assert.strictEqual(fromEnv.traces?.url, "http://env:4318/v1/traces")
    assert.strictEqual(fromEnv.metrics?.url, "http://metrics:9999/custom")
    assert.strictEqual(fromEnv.resource.serviceName, "from-env")
    assert.strictEqual(Duration.toMillis(fromEnv.metrics!.interval), 5000)
    const headers = fromEnv.traces!.headers
    assert.deepStrictEqual(Object.keys(headers).sort(), ["a", "b"])
    assert.strictEqual(Redacted.value(headers["a"]!), "2")
    assert.strictEqual(Redacted.value(headers["b"]!), "x=y")
    assert.strictEqual(Redacted.value(fromEnv.metrics!.headers["b"]!), "only-metrics")
    assert.notInclude(JSON.stringify(fromEnv), "x=y")
  })

  it("OTEL_*_EXPORTER=none, OTEL_SDK_DISABLED, unsupported exporters and endpoints that are not URLs", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    const noTraces = resolve({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })
    assert.isUndefined(noTraces.traces)
    assert.isDefined(noTraces.metrics)
    assert.isUndefined(resolve({ ...endpoint, OTEL_METRICS_EXPORTER: "prometheus" }).metrics)
    const disabled = resolve({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" }, config, true)
    assert.isUndefined(disabled.traces)
    assert.isUndefined(disabled.metrics)
    assert.isTrue(disabled.prometheus, "the /metrics endpoint is ours, not the SDK's export")
    // "otlp" alone, without an endpoint: the specification's default receiver.
    assert.strictEqual(resolve({ OTEL_TRACES_EXPORTER: " OTLP " }).traces?.url, "http://localhost:4318/v1/traces")
    const zipkin = resolve({ ...endpoint, OTEL_TRACES_EXPORTER: "zipkin" })
    assert.isUndefined(zipkin.traces)
    assert.deepStrictEqual(zipkin.warnings, ["OTEL_TRACES_EXPORTER: zipkin not supported; only otlp and none are"])
    // Empty means unset.
    assert.isUndefined(resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: " " }).traces)
    const notUrl = resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318", OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://m:1/x" })
    assert.isUndefined(notUrl.traces)
    assert.strictEqual(notUrl.metrics?.url, "http://m:1/x")
    assert.deepStrictEqual(notUrl.warnings, ["OTEL_EXPORTER_OTLP_ENDPOINT is not an http(s) URL; traces are not exported"])
  })

  it("protocol: http/protobuf by default; the file's, then OTEL_EXPORTER_OTLP_PROTOCOL, then its per-signal form", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    const byDefault = resolve(endpoint)
    assert.strictEqual(byDefault.traces?.protocol, "http/protobuf")
    assert.strictEqual(byDefault.metrics?.protocol, "http/protobuf")
    const json = defaultConfig({ telemetry: { protocol: "http/json" } }).telemetry
    assert.strictEqual(resolve(endpoint, json).traces?.protocol, "http/json")
    const mixed = resolve({
      ...endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json"
    }, json)
    assert.strictEqual(mixed.traces?.protocol, "http/protobuf")
    assert.strictEqual(mixed.metrics?.protocol, "http/json")
    assert.deepStrictEqual(mixed.warnings, [])
  })

  it("protocol grpc is refused: the signal is not exported, and a warning says what to set", () => {
    const grpc = resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })
    assert.isUndefined(grpc.traces)
    assert.isUndefined(grpc.metrics)
    assert.deepStrictEqual(grpc.warnings, ["traces", "metrics"].map((signal) =>
      "OTEL_EXPORTER_OTLP_PROTOCOL=grpc not supported: OTLP is exported over HTTP only (http/protobuf or http/json, " +
      `a collector's port 4318); ${signal} are not exported`
    ))
    const tracesOnly = resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc" })
    assert.isUndefined(tracesOnly.traces)
    assert.strictEqual(tracesOnly.metrics?.protocol, "http/protobuf")
    // In the file, grpc is not a value: the config is refused.
    assert.throws(() => defaultConfig({ telemetry: { protocol: "grpc" as any } }), /telemetry\.protocol/)
  })

  it("export timeout: 10s by default; the file's, then OTEL_EXPORTER_OTLP_TIMEOUT, then its per-signal form", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    assert.strictEqual(Duration.toMillis(resolve(endpoint).traces!.timeout), 10_000)
    const file = defaultConfig({ telemetry: { timeout: "3s" } }).telemetry
    assert.strictEqual(Duration.toMillis(resolve(endpoint, file).metrics!.timeout), 3000)
    const fromEnv = resolve({ ...endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: "2500", OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "700" }, file)
    assert.strictEqual(Duration.toMillis(fromEnv.traces!.timeout), 2500)
    assert.strictEqual(Duration.toMillis(fromEnv.metrics!.timeout), 700)
    const invalid = resolve({ ...endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: "-1" }, file)
    assert.strictEqual(Duration.toMillis(invalid.traces!.timeout), 3000)
    assert.deepStrictEqual(invalid.warnings, ["OTEL_EXPORTER_OTLP_TIMEOUT=-1 ignored: expected milliseconds above 0"])
    assert.throws(() => defaultConfig({ telemetry: { timeout: "1h" } }), /telemetry\.timeout: expected a duration between 100ms and 1m; found "1h"/)
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
