/**
 * The daemon: its schedule and readiness under a TestClock, the operations endpoint over real HTTP,
 * and `iam-ocsf run` as a process: runs, /metrics, SIGHUP reloads and SIGTERM shutdowns.
 */
import { assert, describe, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, expect, it as vitestIt } from "vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import { TestClock } from "effect/testing"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { nextDelay, runLoop } from "../src/run/Daemon.ts"
import { makeStopper, StopSignal } from "../src/run/StopSignal.ts"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { DaemonHealth, readiness } from "../src/ops/health.ts"
import { opsServer } from "../src/ops/OpsServer.ts"
import type { RunSummary } from "../src/run/RunStats.ts"
import { configFor, readLines, readNdjson, runCli, tempDir, writeJson } from "./support.ts"
import { startWebhook } from "./webhook.ts"

const summary = (collected: number): RunSummary => ({
  accounts: [],
  seen: collected,
  collected,
  failed: 0,
  vanished: 0,
  sinks: {},
  aws: { calls: 7 * collected, throttled: 0, retries: 0, rate: { mean: 50, peak: 50 } },
  durationMs: 0,
  complete: true
})

describe("the daemon's schedule and readiness (TestClock)", () => {
  it("the wait is the interval times 1 ± jitter", () => {
    const interval = Duration.seconds(100)
    assert.strictEqual(Duration.toMillis(nextDelay(interval, 0.1, 0)), 90_000)
    assert.strictEqual(Duration.toMillis(nextDelay(interval, 0.1, 0.5)), 100_000)
    assert.strictEqual(Duration.toMillis(nextDelay(interval, 0.1, 0.9999)), 109_998)
    assert.strictEqual(Duration.toMillis(nextDelay(interval, 0, 0.9)), 100_000)
  })

  it.effect("first run at once; each next one an interval ± jitter after the previous ended; ready until two intervals pass", () =>
    Effect.gen(function*() {
      const config = defaultConfig({ schedule: { interval: "10s", jitter: 0.2 } })
      const starts: Array<number> = []
      const health = new DaemonHealth(config.schedule.interval)
      const stopper = yield* makeStopper
      // A run that takes one second of (test) clock time; the second one fails.
      const run = () =>
        Effect.gen(function*() {
          starts.push(yield* Clock.currentTimeMillis)
          const n = starts.length
          yield* Effect.sleep(Duration.seconds(1))
          if (n === 2) return yield* Effect.fail({ message: "ListUsers failed: AccessDenied" })
          return summary(n)
        })
      const loop = yield* runLoop({ current: yield* Ref.make(config), health, run }).pipe(
        Effect.provideService(StopSignal, stopper.signal),
        Effect.forkChild
      )

      yield* TestClock.adjust(Duration.millis(0))
      assert.deepStrictEqual(starts, [0])
      assert.isFalse(health.readiness(0).ready)
      assert.strictEqual(health.readiness(0).reason, "no run has ended yet")

      yield* TestClock.adjust(Duration.seconds(1))
      assert.isTrue(health.readiness(yield* Clock.currentTimeMillis).ready)
      // The earliest the next run may start is 1s + 8s.
      yield* TestClock.adjust(Duration.millis(7_999))
      assert.strictEqual(starts.length, 1)
      yield* TestClock.adjust(Duration.millis(4_001))
      assert.strictEqual(starts.length, 2)
      const firstWait = starts[1]! - 1_000
      assert.isAtLeast(firstWait, 8_000)
      assert.isAtMost(firstWait, 12_000)

      // The second run fails: not ready, however recent.
      yield* TestClock.adjust(Duration.seconds(1))
      const failed = health.readiness(yield* Clock.currentTimeMillis)
      assert.isFalse(failed.ready)
      assert.match(failed.reason, /the last run failed: ListUsers failed: AccessDenied/)

      // The third succeeds; then the loop stops and time passes: stale after two intervals.
      yield* TestClock.adjust(Duration.seconds(13))
      assert.strictEqual(starts.length, 3)
      const secondWait = starts[2]! - (starts[1]! + 1_000)
      assert.isAtLeast(secondWait, 8_000)
      assert.isAtMost(secondWait, 12_000)
      yield* TestClock.adjust(Duration.seconds(1))
      const endedAt = health.lastRun!.endedAt
      yield* stopper.request
      yield* Fiber.join(loop)
      assert.isTrue(readiness(health.lastRun, endedAt + 19_999, config.schedule.interval).ready)
      const stale = readiness(health.lastRun, endedAt + 20_000, config.schedule.interval)
      assert.isFalse(stale.ready)
      assert.match(stale.reason, /more than two intervals \(20s\)/)
      // Run ends are a wait plus a whole run apart: a run longer than the interval does not flap readiness.
      const long = { ...health.lastRun!, summary: { ...health.lastRun!.summary!, durationMs: 15_000 } }
      assert.isTrue(readiness(long, endedAt + 34_999, config.schedule.interval).ready)
      assert.isFalse(readiness(long, endedAt + 35_000, config.schedule.interval).ready)
      assert.strictEqual(starts.length, 3)
    }))
})

describe("the operations endpoint", () => {
  it.live("healthz, readyz (503 then 200), metrics, 404 and 405, over real HTTP", () =>
    Effect.gen(function*() {
      const health = new DaemonHealth(Duration.minutes(1))
      const server = yield* opsServer({
        host: "127.0.0.1",
        port: 0,
        health,
        metrics: Effect.succeed("# TYPE iam_ocsf_runs_total counter\niam_ocsf_runs_total 1\n")
      })
      const get = (p: string, init?: RequestInit) => Effect.promise(() => fetch(server.url + p, init))
      const healthz = yield* get("/healthz")
      assert.strictEqual(healthz.status, 200)
      assert.strictEqual(yield* Effect.promise(() => healthz.text()), "ok\n")

      const notYet = yield* get("/readyz")
      assert.strictEqual(notYet.status, 503)
      assert.deepStrictEqual(yield* Effect.promise(() => notYet.json()), { ready: false, reason: "no run has ended yet" })
      health.lastRun = { endedAt: Date.now(), ok: true, message: "5 users collected" }
      const ready = yield* get("/readyz")
      assert.strictEqual(ready.status, 200)
      assert.include(yield* Effect.promise(() => ready.json()), { ready: true })

      const metrics = yield* get("/metrics")
      assert.strictEqual(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
      assert.include(yield* Effect.promise(() => metrics.text()), "iam_ocsf_runs_total 1")
      assert.strictEqual((yield* get("/nope")).status, 404)
      assert.strictEqual((yield* get("/healthz", { method: "POST" })).status, 405)
      const head = yield* get("/readyz", { method: "HEAD" })
      assert.strictEqual(head.status, 200)
      assert.strictEqual(yield* Effect.promise(() => head.text()), "")
    }))

  it.live("a port in use is a typed error naming it", () =>
    Effect.gen(function*() {
      const first = yield* opsServer({ host: "127.0.0.1", port: 0, health: new DaemonHealth(Duration.minutes(1)), metrics: Effect.succeed("") })
      const error = yield* opsServer({
        host: "127.0.0.1",
        port: first.port,
        health: new DaemonHealth(Duration.minutes(1)),
        metrics: Effect.succeed("")
      }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "OpsServerError")
      assert.include(error.message, `cannot listen on 127.0.0.1:${first.port}: listen EADDRINUSE`)
    }))
})

/** A daemon in a child process, with its stderr readable while it runs. */
const startDaemon = (config: string, env: Record<string, string> = {}) => {
  let child: ChildProcess | undefined
  let stderr = ""
  const done = runCli(["run", "--config", config], {
    env,
    onSpawn: (c) => {
      child = c
      c.stderr!.on("data", (d) => (stderr += d))
    }
  })
  const until = async <A>(what: string, probe: () => A | undefined | Promise<A | undefined>, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = await probe()
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr so far:\n${stderr}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const logLines = () => stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
  return {
    done,
    until,
    logs: logLines,
    stderr: () => stderr,
    signal: (name: NodeJS.Signals) => {
      child!.kill(name)
      // A daemon that does not stop is killed: the test then fails on `signal`, not on a timeout.
      if (name === "SIGTERM") {
        const timer = setTimeout(() => child!.kill("SIGKILL"), 30_000)
        child!.once("close", () => clearTimeout(timer))
      }
    },
    url: () => until("the operations endpoint", () => /listening on (http:\/\/\S+)/.exec(stderr)?.[1])
  }
}

const runsFinished = (logs: ReadonlyArray<any>) => logs.filter((l) => /^collection finished/.test(l.message)).length

/** The value of one series of the Prometheus text, or undefined. */
const series = (text: string, name: string, labels = ""): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels === "" ? " " : `{${labels}} `}`))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

describe("iam-ocsf run as a daemon", () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ users: 30 })
  })
  afterAll(() => emulator.close())

  vitestIt("runs twice, turns ready, counts in /metrics; SIGHUP swaps the file sink (an invalid file is kept out); SIGTERM exits 0", async () => {
    const dir = tempDir()
    const [first, second] = [path.join(dir, "first.ndjson"), path.join(dir, "second.ndjson")]
    const file = path.join(dir, "config.json")
    const base = configFor(emulator, dir, {
      collection: { callTimeout: "1s" },
      schedule: { interval: "1s" },
      server: { port: 0, host: "127.0.0.1" }
    })
    writeJson(file, { ...base, sinks: [{ type: "file", name: "first", path: first }] })
    // ListUsers gets no answer (each attempt times out after a second) until the readiness
    // before the first run has been seen.
    emulator.setFaults({ ListUsers: { latencyMs: 3_600_000 } })
    const startedAt = Date.now()
    const daemon = startDaemon(file)
    let early: Response
    try {
      early = await fetch(`${await daemon.url()}/readyz`)
    } finally {
      emulator.setFaults({})
    }
    const url = await daemon.url()
    expect(early.status).toBe(503)
    expect(await early.json()).toEqual({ ready: false, reason: "no run has ended yet" })
    expect((await fetch(`${url}/healthz`)).status).toBe(200)

    await daemon.until("two runs", () => (runsFinished(daemon.logs()) >= 2 ? true : undefined))
    const ready = await fetch(`${url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ ready: true, lastRun: { ok: true, summary: { collected: 32 } } })

    const metrics = await (await fetch(`${url}/metrics`)).text()
    const scrapedAt = Date.now()
    expect(series(metrics, "iam_ocsf_users_collected_total")).toBeGreaterThanOrEqual(64)
    expect(series(metrics, "iam_ocsf_users_failed_total")).toBe(0)
    expect(series(metrics, "iam_ocsf_runs_total", `outcome="complete"`)).toBeGreaterThanOrEqual(2)
    expect(series(metrics, "iam_ocsf_events_delivered_total", `sink="first"`)).toBeGreaterThanOrEqual(64)
    expect(series(metrics, "iam_ocsf_events_dead_lettered_total", `sink="first"`)).toBe(0)
    expect(metrics).toMatch(/^iam_ocsf_aws_calls_total\{action="[A-Za-z]+",outcome="ok"\} \d+$/m)
    expect(metrics).toMatch(/^iam_ocsf_run_duration_seconds_count\{outcome="complete"\} \d+$/m)
    expect(metrics).toMatch(/^iam_ocsf_sink_batch_duration_seconds_bucket\{sink="first",outcome="delivered",le="\+Inf"\} \d+$/m)
    // The end of a run of this daemon: after it started, before the scrape (whatever the machine's speed).
    const lastSuccess = series(metrics, "iam_ocsf_run_last_success_timestamp_seconds")!
    expect(lastSuccess).toBeGreaterThanOrEqual(startedAt / 1000)
    expect(lastSuccess).toBeLessThanOrEqual(scrapedAt / 1000)
    expect(metrics).toContain(`service_name="iam-ocsf"`)

    // SIGHUP: the next run writes to the second file only.
    writeJson(file, { ...base, sinks: [{ type: "file", name: "second", path: second }] })
    daemon.signal("SIGHUP")
    await daemon.until("the reload", () => daemon.logs().find((l) => /reloaded/.test(l.message)))
    await daemon.until("a run into the second file", () => (readLines(second).length >= 32 ? true : undefined))
    const firstAfterSwap = readLines(first).length

    // An invalid file: said so, the running config stays, runs go on into the second file.
    fs.writeFileSync(file, JSON.stringify({ ...base, sinks: [{ type: "file", name: "second" }] }))
    daemon.signal("SIGHUP")
    await daemon.until("the refusal", () => daemon.logs().find((l) => /not reloaded/.test(l.message)))
    const secondBefore = readLines(second).length
    await daemon.until("another run into the second file", () =>
      (readLines(second).length >= secondBefore + 32 ? true : undefined))

    daemon.signal("SIGTERM")
    const result = await daemon.done
    expect(result.code).toBe(0)
    const logs = daemon.logs()
    expect(logs.find((l) => /reloaded/.test(l.message)).message).toContain("sinks added: second; sinks removed: first")
    expect(logs.find((l) => /not reloaded/.test(l.message))).toMatchObject({ level: "error" })
    expect(logs.find((l) => /not reloaded/.test(l.message)).message).toContain("sinks[0].path: required, missing")
    expect(readLines(first).length).toBe(firstAfterSwap)
    // Whole snapshots only, in either file.
    expect(readLines(first).length % 32).toBe(0)
    expect(readLines(second).length % 32).toBe(0)
    expect(readLines(path.join(dir, "dead-letter.ndjson"))).toEqual([])
    for (const entry of logs) expect(entry).toMatchObject({ time: expect.any(String), level: expect.any(String) })
  })

  vitestIt("SIGTERM during a run: no new user is taken, every event already made is delivered, exit 0", async () => {
    const slow = await startEmulator({ users: 300, faults: { "*": { latencyMs: 20 } } })
    try {
      const dir = tempDir()
      const events = path.join(dir, "events.ndjson")
      const file = writeJson(path.join(dir, "config.json"), configFor(slow, dir, {
        collection: { strategy: "per-user", concurrency: 4 },
        // A batch would wait 60s for more events: only the shutdown's flush can deliver it in time.
        delivery: { batchSize: 10_000, batchWindow: "60s" },
        schedule: { interval: "1h", shutdownTimeout: "15s" },
        server: { port: 0, host: "127.0.0.1" },
        sinks: [{ type: "file", path: events }]
      }))
      const daemon = startDaemon(file)
      const url = await daemon.url()
      await daemon.until("20 users collected", async () => {
        const value = series(await (await fetch(`${url}/metrics`)).text(), "iam_ocsf_users_collected_total")
        return value !== undefined && value >= 20 ? value : undefined
      })
      expect(readLines(events)).toEqual([])
      daemon.signal("SIGTERM")
      const result = await daemon.done
      expect(result.signal).toBeNull()
      expect(result.code).toBe(0)
      const finished = daemon.logs().find((l) => /^collection stopped by SIGTERM/.test(l.message))
      const collected = Number(/^collection stopped by SIGTERM: (\d+) users collected/.exec(finished.message)![1])
      expect(collected).toBeGreaterThanOrEqual(20)
      expect(collected).toBeLessThan(302)
      const delivered = readNdjson(events)
      expect(delivered).toHaveLength(collected)
      expect(new Set(delivered.map((e) => e.user.uid)).size).toBe(collected)
      expect(readLines(path.join(dir, "dead-letter.ndjson"))).toEqual([])
      expect(daemon.logs().map((l) => l.message)).toContain("stopped: everything collected was delivered or dead-lettered")
    } finally {
      await slow.close()
    }
  })

  vitestIt("SIGTERM while a sink hangs: at schedule.shutdownTimeout the request is cancelled, the batch dead-lettered, exit 0", async () => {
    const webhook = await startWebhook(() => "hang")
    try {
      const dir = tempDir()
      const file = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        schedule: { interval: "1h", shutdownTimeout: "2s" },
        server: { port: 0, host: "127.0.0.1" },
        sinks: [{ type: "http", url: webhook.url, timeout: "5m" }]
      }))
      const daemon = startDaemon(file)
      await daemon.url()
      await daemon.until("a request to the webhook", () => (webhook.received.length > 0 ? true : undefined))
      daemon.signal("SIGTERM")
      const result = await daemon.done
      expect(result.code).toBe(0)
      const messages = daemon.logs().map((l) => l.message)
      const said = (pattern: RegExp) => messages.findIndex((m) => pattern.test(m))
      expect(said(/^SIGTERM: stopping/)).toBeGreaterThanOrEqual(0)
      expect(said(/^stopping: not delivered within 2s \(schedule\.shutdownTimeout\); cancelling/)).toBeGreaterThan(said(/^SIGTERM: stopping/))
      expect(said(/^collection stopped by SIGTERM: \d+ users collected/)).toBeGreaterThan(said(/^stopping: not delivered/))
      // Every event collected is in the dead-letter file, once: the hung request's batch and the rest.
      const collected = Number(/^collection stopped by SIGTERM: (\d+) users/.exec(messages[said(/^collection stopped/)]!)![1])
      const records = readNdjson(path.join(dir, "dead-letter.ndjson"))
      expect(records.every((r) => r.kind === "batch" && r.sink === "http")).toBe(true)
      expect(records.map((r) => r.error.message)).toContainEqual(expect.stringMatching(/^cancelled at the shutdown deadline/))
      const uids = records.flatMap((r) => r.events.map((e: any) => e.user.uid))
      expect(uids).toHaveLength(collected)
      expect(new Set(uids).size).toBe(collected)
    } finally {
      await webhook.close()
    }
  })
})
