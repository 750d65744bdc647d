/** `iam-ocsf replay` on a dead-letter file holding every kind of line it may meet. */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ocsfEnvelopes } from "./events.ts"
import { readLines, readNdjson, runCli, tempDir, writeJson } from "./support.ts"
import { startWebhook, type Webhook } from "./webhook.ts"

const events = ocsfEnvelopes(30).map((e) => JSON.parse(e.json))
const batch = (sink: string, from: number, to: number) =>
  JSON.stringify({
    kind: "batch",
    time: "2026-11-25T10:00:00.000Z",
    sink,
    error: { message: "POST https://siem.example.test/ingest answered 503", retryable: true },
    count: to - from,
    events: events.slice(from, to)
  })
const userRecord = JSON.stringify({
  kind: "user",
  time: "2026-11-25T10:00:00.000Z",
  user: { UserName: "alice" },
  error: { action: "ListMFADevices", reason: "AccessDenied", code: "AccessDenied", message: "denied" }
})
const garbage = `{"kind": "batch", "sink": "http", "events": [` // a torn line must never be dropped

describe("iam-ocsf replay", () => {
  let webhook: Webhook
  beforeAll(async () => {
    webhook = await startWebhook()
  })
  afterAll(() => webhook.close())

  const setup = () => {
    const dir = tempDir()
    const deadLetter = path.join(dir, "dead-letter.ndjson")
    fs.writeFileSync(deadLetter, [batch("http", 0, 10), userRecord, batch("gone", 10, 20), garbage, batch("http", 20, 30)].join("\n") + "\n")
    const config = writeJson(path.join(dir, "config.json"), {
      sinks: [{ type: "http", url: webhook.url }, { type: "file", name: "archive", path: path.join(dir, "archive.ndjson") }],
      deadLetter: { path: deadLetter }
    })
    return { dir, deadLetter, config }
  }

  it("to each record's sink: delivered records leave the file; an unknown sink's record, users and torn lines stay (exit 3)", async () => {
    const { deadLetter, config } = setup()
    const before = webhook.accepted().length
    const result = await runCli(["replay", "--config", config])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/sink gone: no such sink in the config; kept/)
    expect(result.stderr).toMatch(/http: 2 batches \(20 events\) delivered/)
    expect(webhook.accepted().slice(before).map((e) => e.user.uid)).toEqual(
      [...events.slice(0, 10), ...events.slice(20, 30)].map((e) => e.user.uid)
    )
    expect(readLines(deadLetter)).toEqual([userRecord, batch("gone", 10, 20), garbage])
  })

  it("--sink: every batch to one sink, whatever sink its record names", async () => {
    const { dir, deadLetter, config } = setup()
    const result = await runCli(["replay", "--config", config, "--dead-letter", deadLetter, "--sink", "archive"])
    expect(result.code).toBe(0)
    expect(readNdjson(path.join(dir, "archive.ndjson"))).toEqual(events)
    expect(readLines(deadLetter)).toEqual([userRecord, garbage])
    expect(fs.readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([])
  })

  it("--sink naming no sink of the config: exit 2, the file untouched", async () => {
    const { deadLetter, config } = setup()
    const content = fs.readFileSync(deadLetter, "utf8")
    const result = await runCli(["replay", "--config", config, "--sink", "nope"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--sink nope: no such sink in the config (sinks: http, archive)")
    expect(fs.readFileSync(deadLetter, "utf8")).toBe(content)
  })

  it("no dead-letter file at the config's path: nothing to replay, exit 0; a --dead-letter file that does not exist: exit 2", async () => {
    const { dir, config, deadLetter } = setup()
    fs.rmSync(deadLetter)
    const result = await runCli(["replay", "--config", config])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/nothing to replay/)

    const missing = path.join(dir, "none.ndjson")
    const named = await runCli(["replay", "--config", config, "--dead-letter", missing])
    expect(named.code).toBe(2)
    expect(named.stderr.trim()).toBe(`--dead-letter ${missing}: no such file`)
    expect(named.stdout).toBe("")
  })
})
