/**
 * The `iam-ocsf` command as people run it, in a child process: the launcher and its Node flags,
 * `demo`, `run --once` and the daemon with their exit codes, `validate-config` and `--help`.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { configFor, expectedEvents, readLines, readNdjson, repoRoot, runCli, sortBy, tempDir, writeJson } from "./support.ts"

describe("the iam-ocsf command", () => {
  let emulator: Emulator
  beforeAll(async () => {
    emulator = await startEmulator({ users: 30 })
  })
  afterAll(() => emulator.close())

  it("demo (npm start: the compiled CLI through bin/iam-ocsf) prints the events of the embedded emulator on stdout, logs on stderr", async () => {
    const result = await runCli(["demo"], { installed: true })
    expect(result.code).toBe(0)
    const events = result.stdout.trim().split("\n").map((l) => JSON.parse(l))
    expect(events).toHaveLength(10)
    expect(new Set(events.map((e) => e.class_uid))).toEqual(new Set([5003]))
    expect(events.map((e) => e.user.name)).toContain("aws-developer-team")
    expect(result.stderr).toMatch(/collection finished: 10 users collected, 0 failed/)
  })

  it("bin/iam-ocsf hands its Node flags to node; IAM_OCSF_NODE_FLAGS replaces them", async () => {
    const replaced = await runCli(["--version"], { installed: true, env: { IAM_OCSF_NODE_FLAGS: "--max-semi-space-size=8 --no-such-flag" } })
    expect(replaced.code).toBe(9)
    expect(replaced.stderr).toMatch(/bad option: --no-such-flag/)
    const version = await runCli(["--version"], { installed: true })
    expect(version.code).toBe(0)
    expect(version.stdout).toMatch(/^iam-ocsf v\d+\.\d+\.\d+/)
  })


  it("--version and -v, answered before the command line loads, print effect/cli's own line, colours included", async () => {
    // `--log-level info --version` is not a bare `--version`: effect/cli answers it.
    const terminals: Array<Record<string, string>> = [
      {},
      { FORCE_COLOR: "1" },
      { FORCE_COLOR: "true" },
      { FORCE_COLOR: "0" },
      { FORCE_COLOR: "False" },
      { FORCE_COLOR: "1", NO_COLOR: "1" },
      { FORCE_COLOR: "1", TERM: "dumb" }
    ]
    const coloured: Array<boolean> = []
    for (const terminal of terminals) {
      const env = { NO_COLOR: "", FORCE_COLOR: "", TERM: "xterm", ...terminal }
      const [version, alias, reference] = await Promise.all([
        runCli(["--version"], { installed: true, env }),
        runCli(["-v"], { installed: true, env }),
        runCli(["--log-level", "info", "--version"], { installed: true, env })
      ])
      expect(reference.code).toBe(0)
      expect(reference.stdout).toMatch(/^(\x1b\[1m)?iam-ocsf\b/)
      // (stderr may differ: with FORCE_COLOR and NO_COLOR both set, Node itself warns, when
      // something asks it for the terminal's colours, that NO_COLOR is ignored)
      for (const answer of [version, alias]) {
        expect({ terminal, code: answer.code, stdout: answer.stdout, stderr: answer.stderr })
          .toEqual({ terminal, code: 0, stdout: reference.stdout, stderr: "" })
      }
      coloured.push(reference.stdout.includes("\x1b["))
    }
    // both kinds of line were compared
    expect(coloured).toEqual([false, true, true, false, false, false, false])
  })
  it("bin/iam-ocsf starts node with bin/node-flags, also through a symlink (npm's bin links); without a build it says to build, exit 1", async () => {
    // the launcher copied beside a dist/ of our own, whose main.js shows the flags node got
    const root = tempDir()
    const bin = path.join(root, "bin")
    fs.mkdirSync(bin)
    for (const f of ["iam-ocsf", "node-flags"]) fs.copyFileSync(path.join(repoRoot, "bin", f), path.join(bin, f))
    fs.chmodSync(path.join(bin, "iam-ocsf"), 0o755)
    const launch = (launcher = path.join(bin, "iam-ocsf")) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` }
        delete env.IAM_OCSF_NODE_FLAGS
        const child = spawn(launcher, ["--version"], { env, stdio: ["ignore", "pipe", "pipe"] })
        let [stdout, stderr] = ["", ""]
        child.stdout.on("data", (d) => (stdout += d))
        child.stderr.on("data", (d) => (stderr += d))
        child.on("close", (code) => resolve({ code, stdout, stderr }))
      })
    const unbuilt = await launch()
    expect(unbuilt.code).toBe(1)
    expect(unbuilt.stderr).toMatch(/dist\/src\/main\.js is missing: run `npm run build`/)

    fs.mkdirSync(path.join(root, "dist/src"), { recursive: true })
    fs.writeFileSync(path.join(root, "dist/src/main.js"), "console.log(JSON.stringify([process.execArgv, process.argv.slice(2)]))\n")
    const built = await launch()
    expect(built.code).toBe(0)
    const flags = fs.readFileSync(path.join(repoRoot, "bin/node-flags"), "utf8").trim().split(/\s+/)
    expect(JSON.parse(built.stdout)).toEqual([flags, ["--version"]])
    const links = path.join(root, "node_modules/.bin")
    fs.mkdirSync(links, { recursive: true })
    fs.symlinkSync(path.join(bin, "iam-ocsf"), path.join(links, "iam-ocsf"))
    const linked = await launch(path.join(links, "iam-ocsf"))
    expect(linked.code).toBe(0)
    expect(JSON.parse(linked.stdout)).toEqual([flags, ["--version"]])
  })

  it("run --once: every user delivered as the event the mapping table gives, exit 0", async () => {
    const dir = tempDir()
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir))
    const result = await runCli(["run", "--config", config, "--once"])
    expect(result.stderr).toMatch(/collection finished: 32 users collected/)
    expect(result.code).toBe(0)
    expect(sortBy(readNdjson(path.join(dir, "events.ndjson")), (e) => e.user.uid)).toEqual(expectedEvents(emulator))
  })

  it("run --once: a user whose ListMFADevices is denied is dead-lettered with the reason, the rest delivered, exit 3", async () => {
    const dir = tempDir()
    const denied = [...emulator.account.userNames()][7]!
    emulator.setFaults({ ListMFADevices: { accessDenied: [denied] } })
    try {
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir))
      const result = await runCli(["run", "--config", config, "--once"])
      expect(result.code).toBe(3)
      const events = readNdjson(path.join(dir, "events.ndjson"))
      expect(events).toHaveLength(31)
      expect(events.map((e) => e.user.name)).not.toContain(denied)
      const [record, ...rest] = readNdjson(path.join(dir, "dead-letter.ndjson"))
      expect(rest).toEqual([])
      expect(record).toMatchObject({
        kind: "user",
        user: { UserName: denied, Arn: emulator.account.user(denied)!.Arn },
        error: { action: "ListMFADevices", reason: "AccessDenied", code: "AccessDenied", status: 403 }
      })
      expect(result.stderr).toContain(`user ${denied} not collected`)
      expect(result.stderr).toMatch(/31 users collected, 1 failed/)
    } finally {
      emulator.setFaults({})
    }
  })

  it("run --once: ListUsers denied fails the run with the reason, exit 1", async () => {
    const dir = tempDir()
    emulator.setFaults({ ListUsers: { accessDenied: true } })
    try {
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir))
      const result = await runCli(["run", "--config", config, "--once"])
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/collection failed: ListUsers failed: AccessDenied/)
      expect(readLines(path.join(dir, "events.ndjson"))).toEqual([])
    } finally {
      emulator.setFaults({})
    }
  })

  it("daemon: a run at start and every interval, then SIGTERM exits 0 with every run's events delivered", async () => {
    const dir = tempDir()
    const events = path.join(dir, "events.ndjson")
    const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, { schedule: { interval: "1s" } }))
    const result = await runCli(["run", "--config", config], {
      onSpawn: (child) => {
        const timer = setInterval(() => {
          if (readLines(events).length >= 64) {
            clearInterval(timer)
            child.kill("SIGTERM")
          }
        }, 50)
        child.on("close", () => clearInterval(timer))
      }
    })
    expect(result.code).toBe(0)
    const lines = readLines(events)
    expect(lines.length % 32).toBe(0)
    expect(lines.length).toBeGreaterThanOrEqual(64)
    // Runs never overlap: each start is followed by its finish before the next start.
    const marks = result.stderr.split("\n").filter((l) => /collection (started|finished)/.test(l))
    expect(marks.length).toBeGreaterThanOrEqual(2 * (lines.length / 32))
    marks.forEach((line, i) => expect(line).toMatch(i % 2 === 0 ? /started/ : /finished/))
  })

  it("validate-config: names every problem with its JSON path, exit 2, secrets never printed", async () => {
    const dir = tempDir()
    const file = writeJson(path.join(dir, "config.json"), {
      aws: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "${TOP_SECRET}" },
      collection: { concurrency: "8" },
      sinks: [{ type: "file" }, { type: "kafak" }]
    })
    const result = await runCli(["validate-config", file], { env: { TOP_SECRET: "s3cr3t-value-never-shown" } })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`${file}: invalid configuration`)
    expect(result.stderr).toContain(`collection.concurrency: expected an integer between 1 and 256; found "8"`)
    expect(result.stderr).toContain("sinks[0].path: required, missing")
    expect(result.stderr).toContain(`sinks[1].type: expected one of "stdout", "file", "http", "kafka"; found "kafak"`)
    expect(result.stdout + result.stderr).not.toContain("s3cr3t-value-never-shown")

    fs.writeFileSync(file, JSON.stringify({ aws: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "${TOP_SECRET}" }, sinks: [{ type: "stdout" }] }))
    const ok = await runCli(["validate-config", file], { env: { TOP_SECRET: "s3cr3t-value-never-shown" } })
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout).aws.secretAccessKey).toBe("<redacted>")
    expect(ok.stdout + ok.stderr).not.toContain("s3cr3t-value-never-shown")
  })

  it("a command line the parser refuses (unknown flag, no --config) exits 2 and names the problem", async () => {
    const unknown = await runCli(["run", "--config", "x.json", "--no-such-flag"])
    expect(unknown.code).toBe(2)
    expect(unknown.stdout + unknown.stderr).toMatch(/no-such-flag/)
    const missing = await runCli(["run"])
    expect(missing.code).toBe(2)
    expect(missing.stdout + missing.stderr).toMatch(/config/)
  })

  it("run --help teaches the flags and the exit codes", async () => {
    const result = await runCli(["run", "--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("--config")
    expect(result.stdout).toContain("--once")
    expect(result.stdout).toMatch(/3 finished, but some users or batches were dead-lettered/)
  })
})
