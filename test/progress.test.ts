/**
 * How `run --once` shows its progress: a live line on a terminal (a pseudo-terminal from `script`),
 * with GetAccountSummary's estimate of the total; otherwise the log alone.
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { renderProgress } from "../src/cli/progress.ts"
import { formatSummary, pushback, type RunSummary } from "../src/run/RunStats.ts"
import { configFor, readLines, repoRoot, runCli, tempDir, writeJson } from "./support.ts"

const run = promisify(execFile)
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
const clearLine = "\r\x1b[2K"

describe("progress for people", () => {
  it("the live line: counts, rate, the estimate of the total and the time left", () => {
    const sinks = { a: { delivered: 180, retried: 0, deadLettered: 0 }, b: { delivered: 150, retried: 1, deadLettered: 0 } }
    const aws = { calls: 1_400, throttled: 0, retries: 0, rate: { mean: 350, peak: 400 } }
    const summary = { seen: 210, collected: 200, failed: 3, vanished: 0, sinks, accounts: [], aws, durationMs: 4_000, complete: false }
    expect(renderProgress(summary, 5_000)).toBe(
      "200 of ~5,000 users collected, 150 delivered, 3 failed, 50 users/s, ~1m 36s left"
    )
    expect(renderProgress({ ...summary, durationMs: 0 }, undefined)).toBe(
      "200 users collected, 150 delivered, 3 failed, 0 users/s"
    )
  })

  describe("the summary line", () => {
    const run = (aws: RunSummary["aws"], durationMs: number, collected = 1_000): RunSummary => ({
      accounts: [],
      seen: collected,
      collected,
      failed: 0,
      vanished: 0,
      sinks: { archive: { delivered: collected, retried: 0, deadLettered: 0 } },
      aws,
      durationMs,
      complete: true
    })

    it("counts AWS calls, throttled answers and retries, and gives rates with a decimal, never rounded to 0", () => {
      const slow = run({ calls: 7_010, throttled: 1_402, retries: 1_402, rate: { mean: 1.2, peak: 50 } }, 3_997_000)
      expect(formatSummary(slow)).toBe(
        "1000 users collected, 0 failed, 0 vanished in 3997.0s (0.25 users/s) | " +
          "AWS: 7010 calls, 1402 throttled (20.0%), 1402 retries, the account pushed back | archive: 1000 delivered"
      )
      const quick = run({ calls: 7_002, throttled: 0, retries: 0, rate: { mean: 1_500, peak: 2_000 } }, 3_100)
      expect(formatSummary(quick)).toBe(
        "1000 users collected, 0 failed, 0 vanished in 3.1s (322.6 users/s) | AWS: 7002 calls, 0 throttled (0.0%), 0 retries | archive: 1000 delivered"
      )
      expect(pushback(quick)).toBeUndefined()
    })

    it("says when the account pushed back: a high throttled share, or a learned rate far below its peak", () => {
      expect(pushback(run({ calls: 7_010, throttled: 1_402, retries: 1_402, rate: { mean: 400, peak: 500 } }, 20_000))).toBe(
        "the account pushed back: 20.0% of 7010 AWS calls were throttled"
      )
      expect(pushback(run({ calls: 7_010, throttled: 35, retries: 35, rate: { mean: 1.5, peak: 200 } }, 60_000))).toBe(
        "the account pushed back: the request rate it admits averaged 1.5/s, far below its peak of 200.0/s"
      )
      // A budget the run sat under, after slow start went past it: not a pushback.
      expect(pushback(run({ calls: 14_000, throttled: 90, retries: 90, rate: { mean: 95, peak: 250 } }, 140_000))).toBeUndefined()
    })
  })

  describe("iam-ocsf run --once", () => {
    let emulator: Emulator
    beforeAll(async () => {
      emulator = await startEmulator({ users: 60, faults: { "*": { latencyMs: 10 } } })
    })
    afterAll(() => emulator.close())

    const config = () => {
      const dir = tempDir()
      return {
        dir,
        file: writeJson(
          path.join(dir, "config.json"),
          configFor(emulator, dir, { collection: { strategy: "per-user", concurrency: 4 } })
        )
      }
    }

    it("on a terminal: a line redrawn in place, with GetAccountSummary's estimate of the total", async () => {
      const { dir, file } = config()
      emulator.resetCounters()
      // `script` gives the command a pseudo-terminal, as an operator's shell would.
      const command = [process.execPath, path.join(repoRoot, "src/main.ts"), "run", "--config", file, "--once"]
        .map(shellQuote).join(" ")
      const { stdout } = await run("script", ["-qefc", command, "/dev/null"], { cwd: repoRoot, env: process.env })
      const redraws = stdout.split(clearLine).slice(1).map((s) => s.split(/\r?\n/)[0]!)
      expect(redraws.length).toBeGreaterThan(1)
      expect(redraws.some((line) => /^\d+ of ~62 users collected, \d+ delivered, 0 failed, \d+ users\/s/.test(line)))
        .toBe(true)
      expect(stdout).toMatch(/collection finished: 62 users collected/)
      // Once by the start-up check, once for the listings' bounds, once for the estimate.
      expect(emulator.counters().byAction["GetAccountSummary"]?.ok).toBe(3)
      expect(readLines(path.join(dir, "events.ndjson"))).toHaveLength(62)
    })

    it("not a terminal: no live line, the run's summary line in the log", async () => {
      const { file } = config()
      emulator.resetCounters()
      const result = await runCli(["run", "--config", file, "--once"])
      expect(result.code).toBe(0)
      expect(result.stderr).not.toContain(clearLine)
      expect(result.stderr).toMatch(/"message":"collection finished: 62 users collected, 0 failed/)
      // By the start-up check and for the listings' bounds; no estimate.
      expect(emulator.counters().byAction["GetAccountSummary"]?.ok).toBe(2)
    })
  })
})
