/**
 * The `collect` section of `npm run bench`: users/s, calls/s and peak RSS of a per-user collection
 * against the emulator, at a fixed latency per call and a given concurrency.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { runLayer, runOnce } from "../src/run/Runner.ts"
import { startEmulatorProcess, withPeakRss } from "./emulatorProcess.ts"

export interface CollectFigures {
  readonly users: number
  readonly concurrency: number
  readonly seconds: number
  readonly usersPerSecond: number
  readonly apiCalls: number
  readonly callsPerSecond: number
  readonly peakRssMb: number
}

/**
 * The per-user collection end to end (ListUsers, seven calls per user, mapping, the file sink)
 * against the emulator with a fixed latency per call.
 */
export const collectBench = async (options: {
  readonly users: number
  readonly latencyMs: number
  readonly concurrency: number
}): Promise<CollectFigures> => {
  const emulator = await startEmulatorProcess(["--users", String(options.users - 2), "--latency-ms", String(options.latencyMs)])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-"))
  try {
    const config = defaultConfig({
      aws: { endpoint: emulator.url, accessKeyId: "AKIABENCHBENCHBENCH0", secretAccessKey: "bench" },
      // per-user on purpose: this measures the seven-calls-per-user path (bulk has its own bench)
      collection: { strategy: "per-user", concurrency: options.concurrency, pageSize: 1000 },
      sinks: [{ type: "file", path: path.join(dir, "events.ndjson") }],
      deadLetter: { path: path.join(dir, "dead-letter.ndjson") }
    })
    const program = runOnce(config).pipe(
      Effect.map((summary) => ({ summary, calls: summary.aws.calls })),
      Effect.provide(Layer.provideMerge(runLayer(config), NodeServices.layer))
    )
    const started = performance.now()
    const { result, peakRssMb } = await withPeakRss(() => Effect.runPromise(program))
    const seconds = (performance.now() - started) / 1000
    if (result.summary.collected !== options.users) {
      throw new Error(`collected ${result.summary.collected} of ${options.users} users`)
    }
    return {
      users: options.users,
      concurrency: options.concurrency,
      seconds: round(seconds),
      usersPerSecond: Math.round(options.users / seconds),
      apiCalls: result.calls,
      callsPerSecond: Math.round(result.calls / seconds),
      peakRssMb
    }
  } finally {
    await emulator.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const round = (n: number) => Math.round(n * 100) / 100
