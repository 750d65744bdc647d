/**
 * Where each secret goes: every secret of the config is seen arriving where it belongs (the
 * webhook's Authorization header, the collector's headers, the Kafka broker's SASL exchange; the
 * AWS secret key signs every request and travels in none) and is looked for, and not found,
 * everywhere else a run leaves text: stdout, stderr at debug level, the dead-letter file, the
 * events, the exported spans and metrics, and `validate-config`.
 */
import { createHash, createHmac } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Emulator, startEmulator } from "../emulator/index.ts"
import { startSaslBroker } from "./saslBroker.ts"
import { type CliResult, configFor, readNdjson, runCli, tempDir, writeJson } from "./support.ts"
import { startWebhook } from "./webhook.ts"

interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
}

/**
 * An HTTP server on 127.0.0.1 that keeps every request as it arrived. With `forwardTo`, it passes
 * each request on and the answer back (a proxy in front of the emulator); without, it answers
 * 200 as an OTLP collector does.
 */
const startRecorder = (forwardTo?: string): Promise<{ url: string; requests: Array<Recorded>; close: () => Promise<void> }> =>
  new Promise((resolve) => {
    const requests: Array<Recorded> = []
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const body = Buffer.concat(chunks)
        requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body })
        if (forwardTo === undefined) {
          const json = String(req.headers["content-type"]).includes("json")
          res.writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" }).end(json ? "{}" : "")
          return
        }
        const upstream = http.request(new URL(req.url ?? "/", forwardTo), { method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        })
        upstream.on("error", () => res.destroy())
        upstream.end(body)
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      }))
  })

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex")
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest()

/**
 * The AWS Signature Version 4 of a request as it arrived, computed with `secret`: equal to the
 * request's own `Signature=` only if the request was signed with that secret key.
 */
const sigV4 = (request: Recorded, secret: string): { readonly sent: string; readonly expected: string } => {
  const authorization = String(request.headers["authorization"])
  const [, credential, signedHeaders, sent] =
    /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(authorization) ?? []
  if (credential === undefined || signedHeaders === undefined || sent === undefined) {
    throw new Error(`not a SigV4 Authorization header: ${authorization}`)
  }
  const [, date, region, service, terminator] = credential.split("/")
  const url = new URL(request.url, "http://x")
  const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join("&")
  const headers = signedHeaders.split(";").map((name) => `${name}:${String(request.headers[name]).trim().replace(/\s+/g, " ")}\n`).join("")
  const payload = String(request.headers["x-amz-content-sha256"] ?? sha256(request.body))
  const canonical = [request.method, url.pathname, query, headers, signedHeaders, payload].join("\n")
  const scope = [date, region, service, terminator].join("/")
  const toSign = ["AWS4-HMAC-SHA256", String(request.headers["x-amz-date"]), scope, sha256(canonical)].join("\n")
  const key = [date!, region!, service!, terminator!].reduce<Buffer | string>((k, part) => hmac(k, part), `AWS4${secret}`)
  return { sent, expected: createHmac("sha256", key).update(toSign).digest("hex") }
}

/** The places a run leaves text, each by name, for a failure to say where a secret showed up. */
const leftBehind = (result: CliResult, dir: string, collector?: { requests: ReadonlyArray<Recorded> }) => {
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "")
  return {
    stdout: result.stdout,
    stderr: result.stderr,
    "dead-letter file": read(path.join(dir, "dead-letter.ndjson")),
    "events file": read(path.join(dir, "events.ndjson")),
    "exported spans and metrics": Buffer.concat(collector?.requests.map((r) => r.body) ?? []).toString("latin1")
  }
}

/** `secret` appears in none of `places` (a failure names the place). */
const expectNowhere = (secret: string, places: Record<string, string>) => {
  const found = Object.entries(places).filter(([, text]) => text.includes(secret)).map(([place]) => place)
  expect(found, "places the secret showed up in").toEqual([])
}

describe("secrets go where they belong and nowhere else", () => {
  let emulator: Emulator
  let collector: Awaited<ReturnType<typeof startRecorder>>
  beforeAll(async () => {
    emulator = await startEmulator({ users: 10 })
    collector = await startRecorder()
  })
  afterAll(async () => {
    await collector.close()
    await emulator.close()
  })

  /** `iam-ocsf run --once` at debug level, exporting its spans and metrics to the collector. */
  const run = (config: string, env: Record<string, string>) =>
    runCli(["--log-level", "debug", "run", "--config", config, "--once"], {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, ...env }
    })

  it("the webhook's headers: in every request the webhook receives, and not even its echoes of them in our output", async () => {
    const token = "s3cr3t-webhook-token-0123456789"
    // Every header value is a secret, not only the ones HTTP libraries know to hide.
    const tenantKey = "tenant-key-9876543210"
    // The first batch fails three times, and each answer echoes the header back, as some
    // servers' error pages do: whole, then the token alone; the third (a 400) dead-letters it.
    const webhook = await startWebhook((n) =>
      n === 0
        ? { status: 500, body: `rejected Authorization: Bearer ${token}` }
        : n === 1
        ? { status: 503, body: `unknown token=${token}` }
        : n === 2
        ? { status: 400, body: `malformed request from Bearer ${token}` }
        : { status: 200 }
    )
    try {
      const dir = tempDir()
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        delivery: { batchSize: 5, batchWindow: "20ms" },
        sinks: [
          { type: "file", path: path.join(dir, "events.ndjson") },
          { type: "http", url: webhook.url, headers: { Authorization: "Bearer ${WEBHOOK_TOKEN}", "X-Tenant-Key": "${TENANT_KEY}" } }
        ]
      }))
      const exportsBefore = collector.requests.length
      const env = { WEBHOOK_TOKEN: token, TENANT_KEY: tenantKey }
      const result = await run(config, env)
      expect(result.code, result.stderr).toBe(3)

      expect(webhook.received.length).toBeGreaterThan(3)
      expect(webhook.received.map((r) => r.headers["authorization"])).toEqual(webhook.received.map(() => `Bearer ${token}`))
      expect(webhook.received.map((r) => r.headers["x-tenant-key"])).toEqual(webhook.received.map(() => tenantKey))
      expect(result.stderr).toMatch(/attempt 1 of \d+ failed, will retry: POST http:\/\/127\.0\.0\.1:\d+\/ingest answered 500: rejected Authorization: <redacted>/)
      expect(result.stderr).toMatch(/answered 503: unknown token=<redacted>/)
      const [deadBatch] = readNdjson(path.join(dir, "dead-letter.ndjson"))
      expect(deadBatch).toMatchObject({ kind: "batch", sink: "http" })
      expect(deadBatch.error.message).toMatch(/answered 400: malformed request from <redacted>/)
      // The client's spans were exported (they carry the request headers, redacted).
      const exported = collector.requests.slice(exportsBefore)
      expect(exported.some((r) => r.url === "/v1/traces")).toBe(true)
      for (const secret of [token, tenantKey]) expectNowhere(secret, leftBehind(result, dir, { requests: exported }))

      const shown = await runCli(["validate-config", config], { env })
      expect(shown.code).toBe(0)
      expect(JSON.parse(shown.stdout).sinks[1].headers).toEqual({ Authorization: "<redacted>", "X-Tenant-Key": "<redacted>" })
      for (const secret of [token, tenantKey]) {
        expectNowhere(secret, { "validate-config stdout": shown.stdout, "validate-config stderr": shown.stderr })
      }
    } finally {
      await webhook.close()
    }
  })

  it("the collector's headers: in every export the collector receives, from the config file or OTEL_EXPORTER_OTLP_HEADERS", async () => {
    const fromFile = "collector-key-from-the-config-file"
    const fromEnv = "collector-key-from-the-environment"
    const ownCollector = await startRecorder()
    try {
      const dir = tempDir()
      const config = writeJson(path.join(dir, "config.json"), {
        ...configFor(emulator, dir),
        telemetry: { endpoint: ownCollector.url, headers: { "x-api-key": "${COLLECTOR_KEY}" } }
      })
      const result = await runCli(["--log-level", "debug", "run", "--config", config, "--once"], { env: { COLLECTOR_KEY: fromFile } })
      expect(result.code, result.stderr).toBe(0)
      const exports = ownCollector.requests.splice(0)
      expect(exports.map((r) => r.url)).toEqual(expect.arrayContaining(["/v1/traces", "/v1/metrics"]))
      expect(exports.map((r) => r.headers["x-api-key"])).toEqual(exports.map(() => fromFile))
      expectNowhere(fromFile, leftBehind(result, dir, { requests: exports }))

      const shown = await runCli(["validate-config", config], { env: { COLLECTOR_KEY: fromFile } })
      expect(shown.code).toBe(0)
      expect(JSON.parse(shown.stdout).telemetry.headers).toEqual({ "x-api-key": "<redacted>" })
      expectNowhere(fromFile, { "validate-config stdout": shown.stdout, "validate-config stderr": shown.stderr })

      const plain = writeJson(path.join(dir, "plain.json"), configFor(emulator, dir))
      const viaEnv = await runCli(["--log-level", "debug", "run", "--config", plain, "--once"], {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: ownCollector.url, OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${fromEnv}` }
      })
      expect(viaEnv.code, viaEnv.stderr).toBe(0)
      const envExports = ownCollector.requests.splice(0)
      expect(envExports.map((r) => r.url)).toEqual(expect.arrayContaining(["/v1/traces", "/v1/metrics"]))
      expect(envExports.map((r) => r.headers["x-api-key"])).toEqual(envExports.map(() => fromEnv))
      expectNowhere(fromEnv, leftBehind(viaEnv, dir, { requests: envExports }))
    } finally {
      await ownCollector.close()
    }
  })

  it("the Kafka SASL password: in the authentication the broker receives, and in nothing the refusal leaves behind", async () => {
    const password = "kafka-sasl-password-0123456789"
    const broker = await startSaslBroker()
    try {
      const dir = tempDir()
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        delivery: { retry: { maxAttempts: 2, baseDelay: "1ms", maxDelay: "5ms" } },
        sinks: [
          { type: "file", path: path.join(dir, "events.ndjson") },
          {
            type: "kafka",
            brokers: [broker.address],
            topic: "inventory",
            connectTimeout: "2s",
            requestTimeout: "2s",
            sasl: { mechanism: "PLAIN", username: "svc-inventory", password: "${KAFKA_PASSWORD}" }
          }
        ]
      }))
      const exportsBefore = collector.requests.length
      const result = await run(config, { KAFKA_PASSWORD: password })
      expect(result.code, result.stderr).toBe(3)
      // SASL/PLAIN's message: authorization id (empty), NUL, user name, NUL, password.
      expect(broker.received().includes(Buffer.from(`\0svc-inventory\0${password}`))).toBe(true)
      const dead = readNdjson(path.join(dir, "dead-letter.ndjson"))
      expect(dead.map((r) => [r.kind, r.sink])).toEqual(dead.map(() => ["batch", "kafka"]))
      expect(dead[0].error.message).toMatch(/SASL authentication failed/)
      expectNowhere(password, leftBehind(result, dir, { requests: collector.requests.slice(exportsBefore) }))

      const shown = await runCli(["validate-config", config], { env: { KAFKA_PASSWORD: password } })
      expect(shown.code).toBe(0)
      expect(JSON.parse(shown.stdout).sinks[1].sasl.password).toBe("<redacted>")
      expectNowhere(password, { "validate-config stdout": shown.stdout, "validate-config stderr": shown.stderr })
    } finally {
      await broker.close()
    }
  })

  it("the AWS secret key signs every request IAM receives and travels in none; the session token travels in each", async () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    const sessionToken = "IQoJb3JpZ2luX2VjEXAMPLE-session-token-0123456789"
    const proxy = await startRecorder(emulator.url)
    const denied = [...emulator.account.userNames()][4]!
    // Bulk first, denied, then per-user: both ways of calling IAM; and a user record in the dead-letter file.
    emulator.setFaults({ GetAccountAuthorizationDetails: { accessDenied: true }, ListMFADevices: { accessDenied: [denied] } })
    try {
      const dir = tempDir()
      const config = writeJson(path.join(dir, "config.json"), configFor(emulator, dir, {
        aws: {
          endpoint: proxy.url,
          accessKeyId: "AKIATESTTESTTESTTEST",
          secretAccessKey: "${AWS_SECRET_ACCESS_KEY}",
          sessionToken: "${AWS_SESSION_TOKEN}"
        },
        collection: { strategy: "auto" }
      }))
      const exportsBefore = collector.requests.length
      const result = await run(config, { AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: sessionToken })
      expect(result.code, result.stderr).toBe(3)
      expect(readNdjson(path.join(dir, "dead-letter.ndjson")).map((r) => [r.kind, r.user.UserName])).toEqual([["user", denied]])

      const actions = new Set(proxy.requests.map((r) => new URLSearchParams(r.body.toString()).get("Action")))
      expect(actions).toContain("GetAccountAuthorizationDetails")
      expect(actions).toContain("ListMFADevices")
      for (const request of proxy.requests) {
        const { sent, expected } = sigV4(request, secret)
        expect(sent).toBe(expected)
        expect(request.headers["x-amz-security-token"]).toBe(sessionToken)
      }
      const wire = proxy.requests.map((r) => JSON.stringify(r.headers) + r.body.toString("latin1")).join("\n")
      expectNowhere(secret, { ...leftBehind(result, dir, { requests: collector.requests.slice(exportsBefore) }), "requests to IAM": wire })
      // The token travels to IAM, and nowhere else.
      expectNowhere(sessionToken, leftBehind(result, dir, { requests: collector.requests.slice(exportsBefore) }))

      const shown = await runCli(["validate-config", config], { env: { AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: sessionToken } })
      expect(shown.code).toBe(0)
      expect(JSON.parse(shown.stdout).aws).toMatchObject({ secretAccessKey: "<redacted>", sessionToken: "<redacted>" })
      for (const value of [secret, sessionToken]) {
        expectNowhere(value, { "validate-config stdout": shown.stdout, "validate-config stderr": shown.stderr })
      }
    } finally {
      emulator.setFaults({})
      await proxy.close()
    }
  })
})
