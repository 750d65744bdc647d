/**
 * Change events at account scale, through the whole run (collection, state, mapping, delivery),
 * against a plain snapshot run of the same account: figures, not assertions. The emulator runs in
 * a process of its own (bulk, no latency, no budget: the collector's own cost is what is measured)
 * and so does each run, compiled, as `bin/iam-ocsf run --once` runs it:
 *   1. a plain snapshot run (`emit: "snapshot"`, profile strict): the reference;
 *   2. the first `emit: "changes"` run: the baseline (the inventory is sent, every user stored);
 *   3. 1% of the users changed through the real SDK, as an administrator would (a tag, a managed
 *      policy attached, an inline policy, a move to another path, in turn);
 *   4. the second `changes` run: one event per change, nothing else.
 * For each run: wall time, peak RSS of its process, events emitted, and for the state runs the
 * commit's time (from the run's own log line) and the store's size on disk. Targets: the second
 * run within 1.2× the plain snapshot run, peak RSS under 250 MB.
 *
 * `npm run build && npx node $(cat bin/node-flags) dist/bench/changes.js [--users 100000]`
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { AttachUserPolicyCommand, IAMClient, PutUserPolicyCommand, TagUserCommand, UpdateUserCommand } from "@aws-sdk/client-iam"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { makeAccount } from "../emulator/account.ts"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { runLayer, runOnce } from "../src/run/Runner.ts"
import { runInChild, serveJob } from "./childJob.ts"
import { startEmulatorProcess } from "./emulatorProcess.ts"

export interface ChangesBenchOptions {
  /** Users of the account, the spec's two examples included. */
  readonly users: number
  /** Share of the users changed between the two `changes` runs. */
  readonly changedShare: number
}

export const defaultChangesBench: ChangesBenchOptions = { users: 100_000, changedShare: 0.01 }

interface Job {
  readonly url: string
  readonly emit: "snapshot" | "changes"
  /** Default strict (change events need a strict profile). */
  readonly profile?: "spec" | "strict"
  /** Where the run's events, dead letters and state go (the state lives across jobs). */
  readonly dir: string
}

export interface ChangesRun {
  readonly run: string
  readonly seconds: number
  /** The run's CPU time (user + system): the figure to compare on a busy machine. */
  readonly cpuSeconds: number
  readonly collected: number
  readonly eventsEmitted: number
  /** The state's commit (undefined: no state). */
  readonly commitSeconds: number | undefined
  readonly storeMb: number | undefined
  readonly peakRssMb: number
  /** The largest V8 heap in use seen (sampled every 50 ms): what of the peak RSS is live JavaScript. */
  readonly peakHeapMb: number
  /** The largest V8 heap reserved (in use or not) seen. */
  readonly peakHeapTotalMb: number
  /** The largest memory in ArrayBuffers (Buffers: answers, file writes) seen, outside the heap. */
  readonly peakBuffersMb: number
}

/** In the child: one run, as `iam-ocsf run --once` does it; the commit time read from its log line. */
const runJob = async (job: Job): Promise<Omit<ChangesRun, "run">> => {
  const state = path.join(job.dir, "state.sqlite")
  const events = path.join(job.dir, `events-${job.emit}-${Date.now()}.ndjson`)
  const config = defaultConfig({
    aws: { endpoint: job.url, accessKeyId: "AKIABENCHBENCHBENCH0", secretAccessKey: "bench" },
    // no budget to learn: the emulator admits every call, so the run goes as fast as the collector can
    collection: { strategy: "bulk", minRequestsPerSecond: 10_000 },
    ocsf: { profile: job.profile ?? "strict", emit: job.emit },
    state: { path: state },
    sinks: [{ type: "file", path: events }],
    deadLetter: { path: path.join(job.dir, "dead-letter.ndjson") }
  })
  // The run's log: only its state line is read (the commit's time); warnings and errors are shown.
  let commitSeconds: number | undefined
  const logger = Logger.make(({ logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    const m = /state recorded in ([\d.]+)s/.exec(text)
    if (m !== null) commitSeconds = Number(m[1])
    else if (logLevel === "Warn" || logLevel === "Error" || logLevel === "Fatal") process.stderr.write(`${logLevel}: ${text}\n`)
  })
  let peakHeap = 0
  let peakBuffers = 0
  let peakHeapTotal = 0
  const sampler = setInterval(() => {
    const m = process.memoryUsage()
    peakHeap = Math.max(peakHeap, m.heapUsed)
    peakHeapTotal = Math.max(peakHeapTotal, m.heapTotal)
    peakBuffers = Math.max(peakBuffers, m.arrayBuffers)
  }, 50)
  const started = performance.now()
  const cpuBefore = process.cpuUsage()
  const summary = await Effect.runPromise(runOnce(config).pipe(
    Effect.provide(Layer.provideMerge(runLayer(config), NodeServices.layer)),
    Effect.provide(Logger.layer([logger]))
  ))
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  clearInterval(sampler)
  // kilobytes on Linux; read before the events are counted, which is the bench's work, not the run's
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024)
  if (!summary.complete) throw new Error(`incomplete run: ${summary.failed} users failed`)
  const lines = countLines(events)
  fs.rmSync(events)
  const size = ["", "-wal"].map((s) => fs.statSync(state + s, { throwIfNoEntry: false })?.size ?? 0).reduce((a, b) => a + b, 0)
  return {
    seconds: round(seconds),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6),
    collected: summary.collected,
    eventsEmitted: lines,
    commitSeconds,
    storeMb: job.emit === "snapshot" ? undefined : round(size / 1e6),
    peakRssMb,
    peakHeapMb: Math.round(peakHeap / 1024 / 1024),
    peakHeapTotalMb: Math.round(peakHeapTotal / 1024 / 1024),
    peakBuffersMb: Math.round(peakBuffers / 1024 / 1024)
  }
}

/**
 * The lines of `file`, read 64 KB at a time: read whole and split, 100,000 strict events (167 MB)
 * took some 300 MB, which `maxRSS` counted as the run's own peak.
 */
const countLines = (file: string): number => {
  const fd = fs.openSync(file, "r")
  try {
    const chunk = Buffer.alloc(64 * 1024)
    let lines = 0
    let last = 0x0a
    for (let n = fs.readSync(fd, chunk); n > 0; n = fs.readSync(fd, chunk)) {
      for (let i = chunk.indexOf(0x0a); i >= 0 && i < n; i = chunk.indexOf(0x0a, i + 1)) lines += 1
      last = chunk[n - 1]!
    }
    // a last line without its newline still counts (the sink ends each line with one)
    return last === 0x0a ? lines : lines + 1
  } finally {
    fs.closeSync(fd)
  }
}

/** 1% (`share`) of the account's users changed through the SDK, one write each, in four kinds in turn. */
const changeUsers = async (url: string, users: number, share: number): Promise<number> => {
  const client = new IAMClient({ endpoint: url, region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "bench" } })
  const account = makeAccount({ users: users - 2 })
  const every = Math.max(1, Math.round(1 / share))
  const picked: Array<{ readonly name: string; readonly policy: string }> = []
  let i = 0
  for (const u of account.users()) {
    if (i++ % every !== every - 1) continue
    // a managed policy the user does not have yet, so that attaching it is a change
    const policy = account.policies.find((p) => !u.AttachedPolicies.some((a) => a.PolicyArn === p.PolicyArn))!.PolicyArn
    picked.push({ name: u.UserName, policy })
  }
  const change = ({ name, policy }: (typeof picked)[number], k: number) => {
    switch (k % 4) {
      case 0:
        return client.send(new TagUserCommand({ UserName: name, Tags: [{ Key: "Bench", Value: String(k) }] }))
      case 1:
        return client.send(new AttachUserPolicyCommand({ UserName: name, PolicyArn: policy }))
      case 2:
        return client.send(new PutUserPolicyCommand({ UserName: name, PolicyName: "BenchInline", PolicyDocument: "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }))
      default:
        return client.send(new UpdateUserCommand({ UserName: name, NewPath: "/bench-moved/" }))
    }
  }
  for (let at = 0; at < picked.length; at += 32) {
    await Promise.all(picked.slice(at, at + 32).map((user, j) => change(user, at + j)))
  }
  client.destroy()
  return picked.length
}

export interface ChangesFigures {
  readonly options: ChangesBenchOptions
  readonly runs: ReadonlyArray<ChangesRun>
  readonly usersChanged: number
  /** The second `changes` run's time ÷ the plain snapshot runs' mean (target ≤ 1.2). */
  readonly ratio: number
  /** The same with CPU times. */
  readonly cpuRatio: number
}

export const changesBench = async (options: ChangesBenchOptions = defaultChangesBench): Promise<ChangesFigures> => {
  const emulator = await startEmulatorProcess(["--users", String(options.users - 2)])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-changes-"))
  try {
    const run = async (name: string, emit: Job["emit"]): Promise<ChangesRun> => ({
      run: name,
      ...(await runInChild<Job, Omit<ChangesRun, "run">>(import.meta.filename, { url: emulator.url, emit, dir }))
    })
    // The first run generates the credential report; every later one reuses it (younger than 4 h).
    const runs = [await run("plain snapshot", "snapshot"), await run("changes: baseline", "changes")]
    const usersChanged = await changeUsers(emulator.url, options.users, options.changedShare)
    runs.push(await run(`changes: ${usersChanged} users changed`, "changes"))
    runs.push(await run("plain snapshot, again", "snapshot"))
    const plain = (pick: (r: ChangesRun) => number) => (pick(runs[0]!) + pick(runs[3]!)) / 2
    return {
      options,
      runs,
      usersChanged,
      ratio: round(runs[2]!.seconds / plain((r) => r.seconds)),
      cpuRatio: round(runs[2]!.cpuSeconds / plain((r) => r.cpuSeconds))
    }
  } finally {
    await emulator.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const printChanges = (f: ChangesFigures): void => {
  console.log(
    `## change events: ${f.options.users} users, bulk, profile strict, file sink, no latency; ${f.usersChanged} users changed between the two changes runs`
  )
  console.table(f.runs)
  const second = f.runs[2]!
  console.log(
    `second changes run: ${f.ratio}x the plain snapshot runs' time (mean of the two; target ≤ 1.2), ${f.cpuRatio}x their CPU time, peak RSS ${second.peakRssMb} MB (target < 250), ` +
      `${second.eventsEmitted} events for ${f.usersChanged} changed users, commit ${second.commitSeconds}s, store ${second.storeMb} MB`
  )
}

const round = (n: number) => Math.round(n * 100) / 100

if (import.meta.main) {
  await serveJob(runJob)
  const probe = process.argv.indexOf("--probe")
  if (probe >= 0) {
    // one plain snapshot run per profile (`--probe spec,strict`), to tell where a peak RSS comes from
    const users = Number(process.argv[process.argv.indexOf("--users") + 1] ?? 30_000)
    const emulator = await startEmulatorProcess(["--users", String(users - 2)])
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-bench-changes-"))
    try {
      for (const profile of process.argv[probe + 1]!.split(",") as Array<"spec" | "strict">) {
        console.log(profile, JSON.stringify(await runInChild<Job, Omit<ChangesRun, "run">>(import.meta.filename, { url: emulator.url, emit: "snapshot", profile, dir })))
      }
    } finally {
      await emulator.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
    process.exit(0)
  }
  const at = process.argv.indexOf("--users")
  printChanges(await changesBench({ ...defaultChangesBench, ...(at < 0 ? {} : { users: Number(process.argv[at + 1]) }) }))
}
