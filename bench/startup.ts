/**
 * The `startup` section of `npm run bench`: what a command costs from its start to its exit, as
 * cron runs it. The compiled CLI as shipped (`bin/iam-ocsf`, which starts node with
 * `bin/node-flags`), each case in a process of its own, `runs` times after a warm-up run:
 *   --version                 targets: 0.1 s, 60 MB
 *   validate-config           config.example.json
 *   run --once, bulk          `users` users from the emulator (in its own process, `latencyMs`
 *                             per call, a credential report 10 minutes old, as an hourly cron job
 *                             finds it) to a file sink; target 0.6 s
 * For each: wall time (from spawning the launcher to the process's exit, seen from here), CPU
 * time and peak RSS of the CLI's process (reported by `startupProbe.ts`, preloaded through
 * NODE_OPTIONS), min / median / max, and the modules it loaded (counted in one more run).
 * Wall time is only worth comparing on a quiet machine: the load average is printed with it,
 * and CPU time, which the load inflates far less, beside it.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { startEmulatorProcess } from "./emulatorProcess.ts"
import type { ProbeReport } from "./startupProbe.ts"

export interface StartupBenchOptions {
  /** Measured runs of each case, after one warm-up run. */
  readonly runs: number
  /** Users of the emulated account the bulk run collects. */
  readonly users: number
  readonly latencyMs: number
  /** The checkout whose `bin/iam-ocsf` (and built `dist/`) is measured: default this one. */
  readonly root?: string
  /** Replace `bin/node-flags` (IAM_OCSF_NODE_FLAGS; "" = V8's defaults); default: as shipped. */
  readonly nodeFlags?: string
}

export const defaultStartupBench = { runs: 10, users: 1_000, latencyMs: 20 } as const

interface Target {
  readonly wallS?: number
  readonly rssMb?: number
}

interface Case {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly target: Target
  /** Throws when the run did not do its work. */
  readonly check: (run: { readonly code: number | null; readonly stdout: string }) => void
  /** Before each run (the bulk run starts from an empty events file). */
  readonly before?: () => void
}

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly wallS: number
  readonly probe: ProbeReport
}

const ext = path.extname(import.meta.filename)
/** bench/ in the sources, dist/bench/ when compiled. */
const ownRoot = path.resolve(import.meta.dirname, ext === ".ts" ? ".." : "../..")
const probeUrl = pathToFileURL(path.join(import.meta.dirname, `startupProbe${ext}`)).href

/** One run of the launcher, its figures from the probe. */
const runOnce = (root: string, args: ReadonlyArray<string>, options: StartupBenchOptions, countModules: boolean) =>
  new Promise<Run>((resolve, reject) => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-probe-")), "probe.json")
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // The launcher's `node` is this one.
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env["PATH"] ?? ""}`,
      NODE_OPTIONS: `--import ${probeUrl}`,
      IAM_OCSF_PROBE_OUT: out,
      IAM_OCSF_PROBE_MODULES: countModules ? "1" : "0"
    }
    delete env["IAM_OCSF_NODE_FLAGS"]
    if (options.nodeFlags !== undefined) env["IAM_OCSF_NODE_FLAGS"] = options.nodeFlags
    const started = performance.now()
    const child = spawn(path.join(root, "bin/iam-ocsf"), args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)))
    child.on("error", reject)
    child.on("exit", (code) => {
      const wallS = (performance.now() - started) / 1000
      child.on("close", () => {
        try {
          const probe = JSON.parse(fs.readFileSync(out, "utf8")) as ProbeReport
          resolve({ code, stdout, wallS, probe })
        } catch (cause) {
          reject(new Error(`iam-ocsf ${args.join(" ")} exited with ${code} and no probe report: ${stderr}`, { cause }))
        } finally {
          fs.rmSync(path.dirname(out), { recursive: true, force: true })
        }
      })
    })
  })

const median = (sorted: ReadonlyArray<number>): number => {
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits

/** Where a module comes from, for the breakdown of the count. */
const origin = (url: string): string => {
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]
  if (pkg === undefined) return /\/dist\/emulator\//.test(url) ? "emulator" : "iam-ocsf"
  if (pkg === "effect" || pkg.startsWith("@effect/")) return "effect"
  if (pkg.startsWith("@aws-sdk/") || pkg.startsWith("@smithy/") || pkg.startsWith("@aws/")) return "aws-sdk"
  if (pkg.startsWith("@opentelemetry/")) return "opentelemetry"
  if (pkg === "@platformatic/kafka") return "kafka"
  return pkg
}

const breakdown = (modules: ReadonlyArray<string>): string => {
  const counts = new Map<string, number>()
  for (const url of modules) counts.set(origin(url), (counts.get(origin(url)) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(", ")
}

export interface StartupRow {
  readonly case: string
  readonly figure: string
  readonly min: number
  readonly median: number
  readonly max: number
  readonly target: number | string
  readonly "median/target": number | string
}

export interface StartupFigures {
  readonly rows: ReadonlyArray<StartupRow>
  /** Per case: the modules loaded, by where they come from. */
  readonly modules: ReadonlyArray<string>
  readonly loadBefore: ReadonlyArray<number>
  readonly loadAfter: ReadonlyArray<number>
}

const measure = async (root: string, c: Case, options: StartupBenchOptions) => {
  const one = async (countModules: boolean) => {
    c.before?.()
    const run = await runOnce(root, c.args, options, countModules)
    c.check(run)
    return run
  }
  await one(false)
  const runs: Array<Run> = []
  for (let i = 0; i < options.runs; i++) runs.push(await one(false))
  const counted = await one(true)
  const figure = (name: string, values: Array<number>, digits: number, target: number | undefined): StartupRow => {
    const sorted = values.sort((a, b) => a - b)
    const mid = median(sorted)
    return {
      case: c.name,
      figure: name,
      min: round(sorted[0]!, digits),
      median: round(mid, digits),
      max: round(sorted[sorted.length - 1]!, digits),
      target: target ?? "",
      "median/target": target === undefined ? "" : round(mid / target, 2)
    }
  }
  const moduleCount = counted.probe.modules.length
  return {
    rows: [
      figure("wall s", runs.map((r) => r.wallS), 3, c.target.wallS),
      figure("cpu s", runs.map((r) => r.probe.cpuMs / 1000), 3, undefined),
      figure("peak RSS MB", runs.map((r) => r.probe.maxRssKb / 1024), 1, c.target.rssMb),
      { case: c.name, figure: "modules", min: moduleCount, median: moduleCount, max: moduleCount, target: "", "median/target": "" }
    ],
    modules: `${c.name}: ${moduleCount} modules (${breakdown(counted.probe.modules)})`
  }
}

export const startupBench = async (options: StartupBenchOptions): Promise<StartupFigures> => {
  const root = options.root ?? ownRoot
  const loadBefore = os.loadavg()
  const rows: Array<StartupRow> = []
  const modules: Array<string> = []
  const add = (figures: { rows: ReadonlyArray<StartupRow>; modules: string }) => {
    rows.push(...figures.rows)
    modules.push(figures.modules)
  }
  const printed = (what: string) => (run: { readonly code: number | null; readonly stdout: string }) => {
    if (run.code !== 0 || run.stdout.trim() === "") throw new Error(`${what} exited with ${run.code}, printing ${JSON.stringify(run.stdout.slice(0, 200))}`)
  }

  add(await measure(root, { name: "--version", args: ["--version"], target: { wallS: 0.1, rssMb: 60 }, check: printed("--version") }, options))
  add(
    await measure(
      root,
      { name: "validate-config", args: ["validate-config", "config.example.json"], target: {}, check: printed("validate-config") },
      options
    )
  )

  const emulator = await startEmulatorProcess([
    "--users", String(options.users - 2),
    "--latency-ms", String(options.latencyMs),
    "--report-age", "10m"
  ])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-"))
  try {
    const events = path.join(dir, "events.ndjson")
    const config = path.join(dir, "config.json")
    fs.writeFileSync(
      config,
      JSON.stringify({
        aws: { endpoint: emulator.url, accessKeyId: "AKIABENCHBENCHBENCH0", secretAccessKey: "bench" },
        collection: { strategy: "bulk" },
        sinks: [{ type: "file", path: events }],
        deadLetter: { path: path.join(dir, "dead-letter.ndjson") }
      })
    )
    add(
      await measure(root, {
        name: `run --once, bulk ${options.users}`,
        args: ["run", "--config", config, "--once"],
        target: { wallS: 0.6 },
        before: () => fs.rmSync(events, { force: true }),
        check: (run) => {
          const delivered = fs.existsSync(events) ? fs.readFileSync(events, "utf8").split("\n").filter((l) => l !== "").length : 0
          if (run.code !== 0 || delivered !== options.users) {
            throw new Error(`run --once exited with ${run.code}, ${delivered} of ${options.users} events delivered`)
          }
        }
      }, options)
    )
  } finally {
    await emulator.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return { rows, modules, loadBefore, loadAfter: os.loadavg() }
}

export const printStartup = (figures: StartupFigures, options: StartupBenchOptions): void => {
  const load = (l: ReadonlyArray<number>) => l.map((n) => n.toFixed(2)).join(" ")
  const flags = options.nodeFlags === undefined
    ? "bin/node-flags"
    : `IAM_OCSF_NODE_FLAGS=${JSON.stringify(options.nodeFlags)}${options.nodeFlags === "" ? " (V8's defaults)" : ""}`
  console.log(
    `${options.runs} runs of each after a warm-up; Node flags: ${flags}; ${os.cpus().length} CPUs, ` +
      `load average ${load(figures.loadBefore)} before, ${load(figures.loadAfter)} after`
  )
  console.table(figures.rows)
  for (const line of figures.modules) console.log(line)
}
