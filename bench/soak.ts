/**
 * The `soak` section of `npm run bench`: the daemon's loop over many short runs, and whether the
 * memory of the process (RSS, live heap) grows from run to run.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Ref from "effect/Ref"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { lastingAccountRuns, runLoop } from "../src/run/Daemon.ts"
import { makeStopper, StopSignal } from "../src/run/StopSignal.ts"
import { DaemonHealth } from "../src/ops/health.ts"
import { noOtelVariables, resolveTelemetry } from "../src/telemetry/settings.ts"
import { Telemetry } from "../src/telemetry/Telemetry.ts"
import { startEmulatorProcess } from "./emulatorProcess.ts"

export interface SoakFigures {
  readonly runs: number
  readonly users: number
  readonly seconds: number
  /**
   * Resident set size at run 10, half way and at the last run, and the last over run 10: what
   * the daemon's memory did over its runs once warmed up (target: at most 1.05).
   */
  readonly rssMbAtRun10: number
  readonly rssMbHalfWay: number
  readonly rssMbAtEnd: number
  readonly rssRatio: number
  /** Live heap after a full garbage collection, at run 10 and at the last run. */
  readonly heapMbAtRun10: number
  readonly heapMbAtEnd: number
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

/** Memory after a full collection, so that the heap figure is live data, not garbage. */
const sample = () => {
  gc()
  return { rss: process.memoryUsage().rss, heap: v8.getHeapStatistics().used_heap_size }
}

/**
 * The daemon's loop and runs (`runLoop` and `lastingAccountRuns`, as `iam-ocsf run` uses them) for
 * `runs` short runs against the emulator, with the /metrics scrape reader on and scraped after every run, as Prometheus
 * would. Memory at run 10 (warmed up) and at the last run must be about the same: anything a
 * run leaves behind (spans, metric series, sockets, sinks) would show as growth.
 */
export const soakBench = async (options: { readonly runs: number; readonly users: number }): Promise<SoakFigures> => {
  const emulator = await startEmulatorProcess(["--users", String(Math.max(0, options.users - 2))])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-soak-"))
  try {
    const decoded = defaultConfig({
      aws: { endpoint: emulator.url, accessKeyId: "AKIASOAKSOAKSOAKSOAK", secretAccessKey: "soak" },
      delivery: { batchWindow: "10ms" },
      sinks: [{ type: "file", path: path.join(dir, "events.ndjson"), fsync: false }],
      deadLetter: { path: path.join(dir, "dead-letter.ndjson") }
    })
    // Below the file's 1s minimum: 200 runs should take seconds, not minutes.
    const config = { ...decoded, schedule: { ...decoded.schedule, interval: Duration.millis(20) } }
    const telemetry = resolveTelemetry(config.telemetry, { env: noOtelVariables, version: "soak", prometheus: true })

    let completed = 0
    let atRun10 = sample()
    let halfWay = atRun10
    let atEnd = atRun10
    const started = performance.now()
    const program = Effect.gen(function*() {
      const { scrape } = yield* Telemetry
      const stopper = yield* makeStopper
      const daemonRun = yield* lastingAccountRuns
      const run = (c: typeof config) =>
        daemonRun(c).pipe(
          Effect.tap((summary) =>
            Effect.gen(function*() {
              if (summary.collected !== options.users) {
                return yield* Effect.die(new Error(`run ${completed + 1} collected ${summary.collected} of ${options.users}`))
              }
              if (scrape !== undefined) yield* scrape
              completed += 1
              if (completed === 10) atRun10 = sample()
              if (completed === Math.ceil(options.runs / 2)) halfWay = sample()
              if (completed === options.runs) {
                atEnd = sample()
                yield* stopper.request
              }
            })
          )
        )
      const loop = yield* runLoop({ current: yield* Ref.make(config), health: new DaemonHealth(config.schedule.interval), run })
        .pipe(Effect.provideService(StopSignal, stopper.signal), Effect.forkChild)
      yield* Fiber.join(loop)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(Telemetry.layer(telemetry), Layer.succeed(References.MinimumLogLevel, "Warn"))),
      Effect.provide(NodeServices.layer)
    )
    await Effect.runPromise(program)
    return {
      runs: completed,
      users: options.users,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      rssMbAtRun10: mb(atRun10.rss),
      rssMbHalfWay: mb(halfWay.rss),
      rssMbAtEnd: mb(atEnd.rss),
      rssRatio: Math.round((atEnd.rss / atRun10.rss) * 1000) / 1000,
      heapMbAtRun10: mb(atRun10.heap),
      heapMbAtEnd: mb(atEnd.heap)
    }
  } finally {
    await emulator.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// `npx node bench/soak.ts [runs] [users]` on its own; `npm run bench` imports `soakBench`.
if (import.meta.main) {
  const [runs = "500", users = "50"] = process.argv.slice(2)
  console.table([await soakBench({ runs: Number(runs), users: Number(users) })])
}
