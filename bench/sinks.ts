/**
 * The `sinks` section of `npm run bench`: events per second into the file, the webhook (plain,
 * gzipped, four requests at once) and the Kafka mock (plain, lz4), delivery alone.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import type { SinkInput } from "../src/sinks/SinksConfig.ts"
import { DeadLetter } from "../src/delivery/DeadLetter.ts"
import { deliverStream } from "../src/delivery/Delivery.ts"
import { acquireSinks } from "../src/sinks/acquire.ts"
import { RunStats } from "../src/run/RunStats.ts"
import type { Envelope } from "../src/delivery/Sink.ts"
import { ocsfEnvelopes } from "../test/events.ts"
import { startKafkaMock } from "../test/kafka-mock/broker.ts"
import { stopChild } from "./emulatorProcess.ts"

export interface SinkFigures {
  readonly sink: string
  readonly events: number
  readonly seconds: number
  readonly eventsPerSecond: number
}

/**
 * Events per second into each sink through the shared delivery machinery (per-sink queue,
 * batching, retry policy) with the default delivery settings: pre-built OCSF events (the
 * emulator's generated users through the spec mapper, built before the clock starts) are fed
 * straight into `deliverStream`, so IAM collection is not part of the figures. The webhook
 * receiver and the Kafka mock run in their own processes.
 */
export const sinksBench = async (options: { readonly events: number }): Promise<ReadonlyArray<SinkFigures>> => {
  const envelopes = ocsfEnvelopes(options.events)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-sinks-"))
  const webhook = await startReceiver()
  const kafka = await startKafkaMock(["bench:4", "bench-lz4:4"])
  try {
    const cases: ReadonlyArray<readonly [string, SinkInput]> = [
      ["file", { type: "file", path: path.join(dir, "events.ndjson") }],
      ["http", { type: "http", url: webhook.url }],
      ["http gzip", { type: "http", url: webhook.url, gzip: true }],
      ["http 4 requests", { type: "http", url: webhook.url, maxConcurrentRequests: 4 }],
      ["kafka", { type: "kafka", brokers: [kafka.bootstrap], topic: "bench", mockCompatible: true }],
      ["kafka lz4", { type: "kafka", brokers: [kafka.bootstrap], topic: "bench-lz4", compression: "lz4", mockCompatible: true }]
    ]
    const rows: Array<SinkFigures> = []
    for (const [label, sink] of cases) rows.push(await measure(label, sink, envelopes, dir))
    return rows
  } finally {
    await kafka.stop()
    await webhook.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const measure = async (label: string, sink: SinkInput, envelopes: ReadonlyArray<Envelope>, dir: string) => {
  const deadLetter = path.join(dir, `dead-letter-${label.replace(/\W+/g, "-")}.ndjson`)
  const config = defaultConfig({ sinks: [sink], deadLetter: { path: deadLetter } })
  const program = Effect.scoped(Effect.gen(function*() {
    const targets = yield* acquireSinks(config)
    const stats = new RunStats(targets.map((t) => t.sink.name))
    const started = performance.now()
    yield* deliverStream(Stream.fromIterable(envelopes), targets, stats)
    const seconds = (performance.now() - started) / 1000
    return { counts: stats.sink(targets[0]!.sink.name), seconds }
  })).pipe(Effect.provide(Layer.provideMerge(DeadLetter.layer(deadLetter), NodeServices.layer)))
  const { counts, seconds } = await Effect.runPromise(program)
  if (counts.delivered !== envelopes.length) {
    throw new Error(`${label}: ${counts.delivered} of ${envelopes.length} events delivered (see ${deadLetter})`)
  }
  return { sink: label, events: envelopes.length, seconds: round(seconds), eventsPerSecond: Math.round(envelopes.length / seconds) }
}

const round = (n: number) => Math.round(n * 1000) / 1000

/** A webhook that reads each body to the end and answers 200, in a child process. */
const startReceiver = (): Promise<{ readonly url: string; readonly stop: () => Promise<void> }> =>
  new Promise((resolve, reject) => {
    const script = `
      const server = require("node:http").createServer((req, res) => {
        req.on("data", () => {}); req.on("end", () => res.end());
      });
      server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));`
    const child: ChildProcess = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] })
    child.stdout!.once("data", (data) => {
      const port = /port (\d+)/.exec(String(data))?.[1]
      if (port === undefined) return reject(new Error(`webhook receiver: ${data}`))
      resolve({
        url: `http://127.0.0.1:${port}/ingest`,
        stop: () => stopChild(child)
      })
    })
    child.once("exit", (code) => reject(new Error(`webhook receiver exited with ${code}`)))
  })
