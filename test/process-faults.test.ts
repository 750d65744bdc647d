/**
 * Fault injection on the process, through the real CLI in a child process: a stdout whose reader
 * goes away or whose disk is full, a file sink on a full disk (a file size limit makes the
 * kernel's writes fail part way, as a full disk does) and on a file a crash left half written,
 * SIGTERM/SIGINT during `run --once` with a sink that hangs, a dead-letter file that cannot be
 * written, a webhook asking for `Retry-After`, crashes, and the exit codes. Each test asserts what
 * the operator gets: no event lost or duplicated, the right dead-letter records, the right exit
 * code, and stdout holding events only.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import type { ConfigInput } from "../src/run/defaultConfig.ts"
import { type CliResult, configFor, expectedEvents, readLines, readNdjson, repoRoot, runCli, tempDir, writeJson } from "./support.ts"
import { startWebhook } from "./webhook.ts"

/**
 * `iam-ocsf ...` (or another script) in a child process, with its stdout on `stdout` (a pipe by
 * default), started through `prefix` when given (`prlimit ...`).
 */
const start = (
  args: ReadonlyArray<string>,
  options: { readonly stdout?: number; readonly prefix?: ReadonlyArray<string>; readonly script?: string } = {}
): { readonly child: ChildProcess; readonly done: Promise<CliResult> } => {
  const [command, ...argv] = [
    ...(options.prefix ?? []),
    process.execPath,
    options.script ?? path.join(repoRoot, "src/main.ts"),
    ...args
  ]
  const child = spawn(command!, argv, { cwd: repoRoot, stdio: ["ignore", options.stdout ?? "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout?.on("data", (d) => (stdout += d))
  child.stderr!.on("data", (d) => (stderr += d))
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { child, done }
}

const until = async (what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const logsOf = (stderr: string): Array<any> =>
  stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))

/** The summary line's counts of one sink. */
const sinkCounts = (stderr: string, sink: string) => {
  const line = logsOf(stderr).find((l) => /^collection (finished|stopped)/.test(l.message))?.message ?? ""
  const part = new RegExp(`${sink}: (\\d+) delivered(?:, \\d+ retries)?(?:, (\\d+) dead-lettered)?`).exec(line)
  return part === null ? undefined : { delivered: Number(part[1]), deadLettered: Number(part[2] ?? 0) }
}

/** Every line of stdout is a whole OCSF event. */
const eventsOnStdout = (stdout: string): Array<any> => {
  const lines = stdout.split("\n")
  expect(lines.pop()).toBe("")
  return lines.map((line) => {
    const event = JSON.parse(line)
    expect(event.class_uid).toBe(5003)
    return event
  })
}

const uids = (events: ReadonlyArray<any>): Array<string> => events.map((e) => e.user.uid).sort()

const deadLetteredBatches = (file: string, sink: string) => {
  const records = readNdjson(file)
  expect(records.every((r) => r.kind === "batch" && r.sink === sink)).toBe(true)
  return records
}

describe("sinks fail as sinks", () => {
  let emulator: Emulator
  beforeAll(async () => {
    // Enough events (about 400 KB) that stdout's pipe cannot take them all at once.
    emulator = await startEmulator({ users: 298 })
  })
  afterAll(() => emulator.close())

  const setup = (overrides: ConfigInput = {}) => {
    const dir = tempDir()
    const events = path.join(dir, "events.ndjson")
    const deadLetter = path.join(dir, "dead-letter.ndjson")
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
      collection: { strategy: "bulk" },
      sinks: [{ type: "stdout" }, { type: "file", path: events }],
      ...overrides
    }))
    return { dir, events, deadLetter, config }
  }

  it("stdout's reader goes away (EPIPE): its batches are dead-lettered, the file sink gets every event, exit 3", async () => {
    const { events, deadLetter, config } = setup()
    const run = start(["run", "--config", config, "--once"])
    let firstChunk = ""
    run.child.stdout!.once("data", (d) => {
      firstChunk = String(d)
      // `| head -1`: the reader has what it wanted and goes.
      run.child.stdout!.destroy()
    })
    const result = await run.done
    expect(result.stderr).not.toMatch(/Unhandled 'error' event|node:events/)
    expect(result.code).toBe(3)
    const all = uids(expectedEvents(emulator))
    expect(uids(readNdjson(events))).toEqual(all)
    const records = deadLetteredBatches(deadLetter, "stdout")
    expect(records.length).toBeGreaterThan(0)
    for (const record of records) expect(record.error).toEqual({ message: expect.stringMatching(/^stdout: write EPIPE/), retryable: false })
    const counts = sinkCounts(result.stderr, "stdout")!
    expect(counts.deadLettered).toBe(records.reduce((n, r) => n + r.count, 0))
    expect(counts.delivered + counts.deadLettered).toBe(all.length)
    // What was dead-lettered is exactly what was not counted delivered: no event twice in the file.
    expect(new Set(records.flatMap((r) => r.events.map((e: any) => e.user.uid))).size).toBe(counts.deadLettered)
    // What the reader did get before it went is events.
    expect(firstChunk).toMatch(/^\{"activity_id":2,/)
  })

  it("stdout on a full disk (/dev/full, ENOSPC): every stdout batch dead-lettered, the file sink gets every event, exit 3", async () => {
    const { events, deadLetter, config } = setup()
    const full = fs.openSync("/dev/full", "w")
    try {
      const result = await start(["run", "--config", config, "--once"], { stdout: full }).done
      expect(result.code).toBe(3)
      const all = uids(expectedEvents(emulator))
      expect(uids(readNdjson(events))).toEqual(all)
      const records = deadLetteredBatches(deadLetter, "stdout")
      for (const record of records) expect(record.error.message).toMatch(/^stdout: ENOSPC/)
      expect(uids(records.flatMap((r) => r.events))).toEqual(all)
      expect(sinkCounts(result.stderr, "stdout")).toEqual({ delivered: 0, deadLettered: all.length })
    } finally {
      fs.closeSync(full)
    }
  })
})

describe("the file sink holds whole lines only", () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ users: 30 })
  })
  afterAll(() => emulator.close())

  it("a disk that fills during a write (EFBIG at a file size limit): the half-written batch is cut back, retried, dead-lettered; exit 3", async () => {
    const dir = tempDir()
    const events = path.join(dir, "events.ndjson")
    const deadLetter = path.join(dir, "dead-letter.ndjson")
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
      delivery: { batchSize: 4, retry: { maxAttempts: 3, baseDelay: "1ms", maxDelay: "5ms" } },
      sinks: [{ type: "file", path: events }]
    }))
    const all = uids(expectedEvents(emulator))
    const bytes = JSON.stringify(expectedEvents(emulator)).length
    // Room for about two thirds of the events: the write that crosses the limit is cut short by
    // the kernel (as on a full disk), and the dead-letter file stays below the limit.
    const limit = Math.floor((bytes * 2) / 3)
    const result = await start(["run", "--config", config, "--once"], { prefix: ["prlimit", `--fsize=${limit}`, "--"] }).done
    expect(result.code).toBe(3)
    const content = fs.readFileSync(events, "utf8")
    expect(content.endsWith("\n")).toBe(true)
    const delivered = content.split("\n").slice(0, -1).map((line) => JSON.parse(line))
    const records = deadLetteredBatches(deadLetter, "file")
    expect(records.length).toBeGreaterThan(0)
    for (const record of records) expect(record.error.message).toMatch(/^cannot write .*: EFBIG/)
    // Each event once: in the file or in the dead-letter file.
    expect(uids([...delivered, ...records.flatMap((r) => r.events)])).toEqual(all)
    expect(sinkCounts(result.stderr, "file")).toEqual({ delivered: delivered.length, deadLettered: all.length - delivered.length })
    expect(result.stderr).toMatch(/attempt 1 of 3 failed, next attempt in/)
  })

  it("a file a crash left with half a line: the half line is cut before anything is appended; a whole JSON last line gets its newline", async () => {
    const dir = tempDir()
    const events = path.join(dir, "events.ndjson")
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, { sinks: [{ type: "file", path: events }] }))
    const [first, second] = expectedEvents(emulator).map((e) => JSON.stringify(e))
    fs.writeFileSync(events, `${first}\n${second!.slice(0, 300)}`)
    const cut = await runCli(["run", "--config", config, "--once"])
    expect(cut.code).toBe(0)
    expect(cut.stderr).toContain(`${events} ended in 300 bytes of a partial line (a write that failed, or a crash); they were cut back`)
    const lines = readLines(events)
    expect(lines).toHaveLength(1 + 32)
    expect(lines[0]).toBe(first)
    for (const line of lines) JSON.parse(line)

    fs.writeFileSync(events, `${first}\n${second}`)
    const ended = await runCli(["run", "--config", config, "--once"])
    expect(ended.code).toBe(0)
    expect(ended.stderr).toContain(`${events} ended in a JSON line without a newline; the newline was added`)
    const kept = readLines(events)
    expect(kept.slice(0, 2)).toEqual([first, second])
    expect(kept).toHaveLength(2 + 32)
    for (const line of kept) JSON.parse(line)
  })
})

describe("run --once under a signal", () => {
  it("SIGTERM after the collection, a webhook hanging: cancelled at shutdownTimeout, everything dead-lettered once, summary, exit 3", async () => {
    const emulator = await startEmulator({ users: 30 })
    const webhook = await startWebhook(() => "hang")
    try {
      const dir = tempDir()
      const events = path.join(dir, "events.ndjson")
      const deadLetter = path.join(dir, "dead-letter.ndjson")
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        delivery: { batchSize: 10 },
        schedule: { shutdownTimeout: "1s" },
        sinks: [{ type: "stdout" }, { type: "http", url: webhook.url, timeout: "5m" }, { type: "file", path: events }]
      }))
      const run = start(["run", "--config", config, "--once"])
      // Every user collected (the file has them all) and a request hanging at the webhook.
      await until("every event in the file and a request at the webhook", () =>
        readLines(events).length === 32 && webhook.received.length > 0)
      run.child.kill("SIGTERM")
      const result = await run.done
      expect(result.code).toBe(3)
      const all = uids(expectedEvents(emulator))
      expect(uids(eventsOnStdout(result.stdout))).toEqual(all)
      expect(uids(readNdjson(events))).toEqual(all)
      const records = deadLetteredBatches(deadLetter, "http")
      expect(uids(records.flatMap((r) => r.events))).toEqual(all)
      expect(records.map((r) => r.error.message)).toContainEqual(expect.stringMatching(/^cancelled at the shutdown deadline/))
      expect(records.map((r) => r.error.message)).toContainEqual(expect.stringMatching(/^not sent before the shutdown deadline/))
      const messages = logsOf(result.stderr).map((l) => l.message)
      expect(messages).toContain("SIGTERM: stopping; delivering what was collected (at most 1s), then exiting")
      expect(messages).toContainEqual(expect.stringMatching(/^collection finished: 32 users collected, 0 failed/))
      expect(sinkCounts(result.stderr, "http")).toEqual({ delivered: 0, deadLettered: 32 })
    } finally {
      await webhook.close()
      await emulator.close()
    }
  })

  it("a second SIGTERM brings the deadline forward: a shutdownTimeout of an hour does not hold the stop up", async () => {
    const emulator = await startEmulator({ users: 8 })
    const webhook = await startWebhook(() => "hang")
    try {
      const dir = tempDir()
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        schedule: { shutdownTimeout: "1h" },
        sinks: [{ type: "http", url: webhook.url, timeout: "5m" }]
      }))
      const run = start(["run", "--config", config, "--once"])
      let stderr = ""
      run.child.stderr!.on("data", (d) => (stderr += d))
      await until("a request at the webhook", () => webhook.received.length > 0)
      run.child.kill("SIGTERM")
      await until("the stop to begin", () => stderr.includes("SIGTERM: stopping"))
      run.child.kill("SIGTERM")
      const result = await run.done
      // 3 when the collection had ended by the first signal, 143 when the signal cut it short.
      expect([3, 143]).toContain(result.code)
      const summary = logsOf(result.stderr).find((l) => /^collection (finished|stopped by SIGTERM)/.test(l.message))
      const collected = Number(/(\d+) users collected/.exec(summary.message)![1])
      const records = deadLetteredBatches(path.join(dir, "dead-letter.ndjson"), "http")
      const dead = uids(records.flatMap((r) => r.events))
      expect(dead).toHaveLength(collected)
      expect(new Set(dead).size).toBe(collected)
    } finally {
      await webhook.close()
      await emulator.close()
    }
  })

  it("SIGINT during the collection: no new user, every collected one delivered, the summary line, exit 130", async () => {
    const slow = await startEmulator({ users: 300, faults: { "*": { latencyMs: 20 } } })
    try {
      const dir = tempDir()
      const events = path.join(dir, "events.ndjson")
      const config = writeJson(path.join(dir, "config.json"), configFor(slow, dir, {
        collection: { strategy: "per-user", concurrency: 4 },
        // A batch would wait a minute for more events: only the stop can deliver it in time.
        delivery: { batchSize: 10_000, batchWindow: "60s" },
        schedule: { shutdownTimeout: "30s" },
        sinks: [{ type: "stdout" }, { type: "file", path: events }]
      }))
      const run = start(["run", "--config", config, "--once"])
      await until("20 users enriched", () => (slow.counters().byAction["ListUserTags"]?.ok ?? 0) >= 20)
      run.child.kill("SIGINT")
      const result = await run.done
      expect(result.code).toBe(130)
      const summary = logsOf(result.stderr).find((l) => /^collection stopped by SIGINT/.test(l.message))
      const collected = Number(/(\d+) users collected, 0 failed/.exec(summary.message)![1])
      expect(collected).toBeGreaterThan(0)
      expect(collected).toBeLessThan(302)
      const delivered = readNdjson(events)
      expect(delivered).toHaveLength(collected)
      expect(new Set(uids(delivered)).size).toBe(collected)
      expect(uids(eventsOnStdout(result.stdout))).toEqual(uids(delivered))
      expect(readLines(path.join(dir, "dead-letter.ndjson"))).toEqual([])
    } finally {
      await slow.close()
    }
  })
})

describe("start-up checks and exit codes", () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ users: 10 })
  })
  afterAll(() => emulator.close())

  it("a dead-letter file that cannot be written fails the run before any AWS call, exit 1, whether --once or daemon", async () => {
    const dir = tempDir()
    // A folder where the file should be: as unwritable as a read-only disk, for root too.
    const deadLetter = path.join(dir, "dead-letter.ndjson")
    fs.mkdirSync(deadLetter)
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, { sinks: [{ type: "stdout" }] }))
    emulator.resetCounters()
    for (const args of [["run", "--config", config, "--once"], ["run", "--config", config]]) {
      const result = await runCli(args)
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`the dead-letter file ${deadLetter} cannot be written: EISDIR`)
      expect(result.stderr).not.toMatch(/\n\s+at /)
      expect(result.stdout).toBe("")
      expect(emulator.counters().total).toBe(0)
    }
  })

  it("a webhook's Retry-After is waited for, capped at maxRetryAfter, and the wait is logged with its length", async () => {
    const webhook = await startWebhook((n) => (n === 0 ? { status: 429, headers: { "retry-after": "3600" } } : { status: 200 }))
    try {
      const dir = tempDir()
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        sinks: [{ type: "http", url: webhook.url, maxRetryAfter: "1s" }]
      }))
      const result = await runCli(["run", "--config", config, "--once"])
      expect(result.code).toBe(0)
      expect(uids(webhook.accepted())).toEqual(uids(expectedEvents(emulator)))
      const wait = logsOf(result.stderr).find((l) => /attempt 1 of \d+ failed/.test(l.message))
      expect(wait.message).toMatch(/^sink http: attempt 1 of 20 failed, next attempt in 1s \(the destination asked to wait 1s\): POST .* answered 429/)
      expect(wait.message).toContain("Retry-After: 3600, cut to 1s by maxRetryAfter")
      expect(wait.delayMs).toBe(1000)
    } finally {
      await webhook.close()
    }
  })

  it("an unreachable webhook: its batches are dead-lettered, the other sink delivers, exit 3 as --help says", async () => {
    const closed = await startWebhook()
    await closed.close()
    const dir = tempDir()
    const events = path.join(dir, "events.ndjson")
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
      delivery: { retry: { maxAttempts: 2, baseDelay: "1ms", maxDelay: "1ms" } },
      sinks: [{ type: "http", url: closed.url }, { type: "file", path: events }]
    }))
    const result = await runCli(["run", "--config", config, "--once"])
    expect(result.code).toBe(3)
    expect(uids(readNdjson(events))).toEqual(uids(expectedEvents(emulator)))
    const records = deadLetteredBatches(path.join(dir, "dead-letter.ndjson"), "http")
    expect(uids(records.flatMap((r) => r.events))).toEqual(uids(expectedEvents(emulator)))
    const help = await runCli(["run", "--help"])
    expect(help.stdout.replace(/\s+/g, " ")).toContain(
      "3 finished, but some users or batches were dead-lettered (a sink unreachable or refusing them"
    )
  })
})

describe("stdout carries events only", () => {
  it("demo --users -5: one line on stderr, nothing on stdout, exit 2", async () => {
    const result = await runCli(["demo", "--users", "-5"])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe("--users: expected an integer between 0 and 1000000000; found -5\n")
  })

  it("a command line the parser refuses: help and errors on stderr, nothing on stdout, exit 2", async () => {
    const result = await runCli(["run", "--config", "x.json", "--no-such-flag"])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr).toMatch(/Unrecognized flag: --no-such-flag/)
  })

  it("a defect, in the main fiber or in a fiber it waits for: the stack trace on stderr, nothing on stdout, exit 1", async () => {
    for (const kind of ["defect", "fiber"]) {
      const result = await start([kind], { script: path.join(repoRoot, "test/fixtures/crash.ts") }).done
      expect(result.code).toBe(1)
      expect(result.stdout).toBe("")
      expect(result.stderr).toMatch(/RangeError: Invalid code point \(a defect in (the main|a child) fiber\)\n\s+at /)
    }
  })
})
