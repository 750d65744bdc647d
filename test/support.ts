/**
 * What the test files share, so that each runs the product the same way: against the emulator, in
 * this process as `run --once` does, or as the real CLI in a child process.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import { inject } from "vitest"
import { type ConfigInput, defaultConfig } from "../src/run/defaultConfig.ts"
import type { Emulator, UserRecord } from "../emulator/index.ts"
import type { OcsfProfile } from "../src/ocsf/index.ts"
import { DeadLetter } from "../src/delivery/DeadLetter.ts"
import { deliverStream } from "../src/delivery/Delivery.ts"
import { runLayer, runOnce } from "../src/run/Runner.ts"
import { acquireSinks } from "../src/sinks/acquire.ts"
import { RunStats } from "../src/run/RunStats.ts"
import type { Envelope } from "../src/delivery/Sink.ts"
import { specEvent, strictCloudEvent, strictEvent, type StrictOptions } from "./expectedOcsf.ts"

export const repoRoot = path.resolve(import.meta.dirname, "..")

export const tempDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-test-"))

export const readLines = (file: string): Array<string> =>
  fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0) : []

export const readNdjson = (file: string): Array<any> => readLines(file).map((l) => JSON.parse(l))

/** Retries fast enough for tests, and generous enough that 20% throttling never exhausts them. */
export const fastRetry = { maxAttempts: 20, baseDelay: "1ms", maxDelay: "10ms" } as const

/** A config for the emulator, written as in a config file. */
export const configFor = (emulator: Emulator, dir: string, overrides: ConfigInput = {}): ConfigInput => ({
  ...overrides,
  aws: { endpoint: emulator.url, accessKeyId: "AKIATESTTESTTESTTEST", secretAccessKey: "test-secret", ...overrides.aws },
  // The per-user strategy: these tests count its calls and deny its actions. The bulk and auto
  // strategies have tests of their own (test/strategies.test.ts). The request rate is learned as
  // it ships, random throttling included.
  collection: { concurrency: 16, retry: fastRetry, strategy: "per-user", ...overrides.collection },
  delivery: { batchSize: 100, batchWindow: "50ms", retry: fastRetry, ...overrides.delivery },
  sinks: overrides.sinks ?? [{ type: "file", path: path.join(dir, "events.ndjson") }],
  deadLetter: { path: path.join(dir, "dead-letter.ndjson"), ...overrides.deadLetter }
})

/** One run in this process, as `iam-ocsf run --once` does it, returning the run's summary. */
export const runInProcess = (input: ConfigInput) => {
  const config = defaultConfig(input)
  return runOnce(config).pipe(Effect.provide(Layer.provideMerge(runLayer(config), NodeServices.layer)))
}

/** `events` into the config's sinks through the delivery machinery alone (no collection); the run's counters. */
export const deliverInProcess = (events: Stream.Stream<Envelope>, input: ConfigInput, dir: string) => {
  const deadLetter = path.join(dir, "dead-letter.ndjson")
  const config = defaultConfig({ ...input, deadLetter: { path: deadLetter } })
  return Effect.scoped(Effect.gen(function*() {
    const targets = yield* acquireSinks(config)
    const stats = new RunStats(targets.map((t) => t.sink.name))
    yield* deliverStream(events, targets, stats)
    return stats.summary()
  })).pipe(Effect.provide(Layer.provideMerge(DeadLetter.layer(deadLetter), NodeServices.layer)))
}

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * The real CLI in a child process: `node src/main.ts ...`, or with `installed` as users start it,
 * `bin/iam-ocsf ...` (the compiled CLI, which `npm test` builds first, with its Node flags).
 */
export const runCli = (
  args: ReadonlyArray<string>,
  options: {
    readonly env?: Record<string, string>
    readonly installed?: boolean
    readonly onSpawn?: (child: ReturnType<typeof spawn>) => void
  } = {}
): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const [command, first] = options.installed
      ? [path.join(repoRoot, "bin/iam-ocsf"), []]
      : [process.execPath, [path.join(repoRoot, "src/main.ts")]]
    const child = spawn(command, [...first, ...args], {
      cwd: repoRoot,
      // The launcher's `node` is this one (Node 24), as under `npm start`.
      env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
    options.onSpawn?.(child)
  })

export const writeJson = (file: string, value: unknown): string => {
  fs.writeFileSync(file, JSON.stringify(value, null, 2))
  return file
}

export const sortBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Array<A> =>
  [...items].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)

/** The Kafka mock's bootstrap address (started once per test run by `kafka-mock/setup.ts`), or why it is missing. */
export const kafkaBootstrap = (): string => {
  const mock = inject("kafkaMock")
  if ("error" in mock) throw new Error(`the Kafka mock did not start (see test/kafka-mock/): ${mock.error}`)
  return mock.bootstrap
}

/** The `user.uid` of each event, in order. */
export const uidsOf = (events: ReadonlyArray<any>): Array<string> => events.map((e) => e.user.uid)

/**
 * The events a complete, fault-free collection of the account must produce, by user.uid: the
 * emulator's users mapped by the test's own reading of the mapping (`expectedOcsf.ts`), never by
 * the product's mapper. `time` of the strict profiles is now (when collected); `options.bulk`: as
 * the bulk strategy collects them (with the credential report's password_last_changed).
 */
export const expectedEvents = (emulator: Emulator, profile: OcsfProfile = "spec", options: StrictOptions = {}): Array<any> => {
  const collectedAt = new Date()
  const account = emulator.account
  const event: Record<OcsfProfile, (u: UserRecord) => any> = {
    spec: specEvent,
    strict: (u) => strictEvent(u, collectedAt, account, options),
    "strict-cloud": (u) => strictCloudEvent(u, collectedAt, account, options)
  }
  return sortBy([...emulator.account.users()].map((u) => event[profile](u)), (e) => e.user.uid)
}
