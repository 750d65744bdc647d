/**
 * Where a run writes, checked without writing an event: each sink (a file sink's folder takes a
 * file, an http sink's host accepts a TCP or TLS connection and its optional `healthcheck`
 * answers 2xx, a kafka sink's brokers answer a metadata request, with the sink's own settings, and
 * know its topic), the dead-letter file's folder, and the state store when `ocsf.emit` needs one.
 * What a check creates to try (a probe file, folders that did not exist) it removes.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as nodePath from "node:path"
import * as tls from "node:tls"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Redacted from "effect/Redacted"
import { causeText } from "../common/causeText.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import type { SinkEntry } from "../sinks/SinksConfig.ts"
import { statePath } from "../state/StateConfig.ts"
import { type CheckResult, fail, ok } from "./CheckResult.ts"

type EntryOf<T extends SinkEntry["type"]> = Extract<SinkEntry, { readonly type: T }>

const errorCode = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string"
    ? (e as { code: string }).code
    : undefined

/** Whether `path` exists; anything but "it does not" (ENOENT) is a failure of its own. */
const exists = (path: string): Promise<boolean> =>
  fs.lstat(path).then(() => true, (e: unknown) => errorCode(e) === "ENOENT" ? false : Promise.reject(e))

/**
 * A file can be created in `file`'s folder (made as the run would make it, then removed with
 * the folders above it that did not exist), and `file` itself, when it exists, opened for
 * appending (which changes nothing in it). What it found, for the line.
 */
export const writableFolder = async (file: string): Promise<string> => {
  const folder = nodePath.dirname(nodePath.resolve(file))
  const missing: Array<string> = []
  for (let dir = folder; !(await exists(dir)); dir = nodePath.dirname(dir)) missing.push(dir)
  await fs.mkdir(folder, { recursive: true })
  try {
    const probe = nodePath.join(folder, `.iam-ocsf-check-${randomUUID()}`)
    await fs.writeFile(probe, "", { flag: "wx" })
    await fs.rm(probe)
    if (await exists(file)) {
      const handle = await fs.open(file, "a")
      await handle.close()
      return `${file} can be appended to`
    }
    return missing.length === 0 ? `${folder} is writable` : `${folder} can be created and written (it does not exist yet)`
  } finally {
    // Deepest first: each was empty before, and the probe is gone.
    for (const dir of missing) await fs.rmdir(dir).catch(() => undefined)
  }
}

const fileProblem = (e: unknown) => `${errorCode(e) ?? "failed"}: ${causeText(e)}`

const whoAmI = () => (typeof process.getuid === "function" ? `user ${process.getuid()}` : "this user")

const fileCheck = (name: string, path: string, field: string) =>
  Effect.promise(() =>
    writableFolder(path).then(
      (detail) => ok(name, detail),
      (e: unknown) =>
        fail(
          name,
          `${path} cannot be written: ${fileProblem(e)}`,
          `make ${nodePath.dirname(nodePath.resolve(path))} a folder ${whoAmI()} can write to, or set ${field} to a writable place`
        )
    )
  )

/** `https://host:port` as it may be shown: no user info, path or query (credentials may hide there). */
const origin = (url: URL) => url.origin

/** A TCP connection to the URL's host and port (with a TLS handshake, certificate verified, for https); closed at once. */
const connect = (url: URL, timeoutMs: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const https = url.protocol === "https:"
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1")
    const port = Number(url.port === "" ? (https ? 443 : 80) : url.port)
    const socket = https
      ? tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}) })
      : net.connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no connection within ${timeoutMs}ms`))
    }, timeoutMs)
    socket.once(https ? "secureConnect" : "connect", () => {
      clearTimeout(timer)
      socket.end()
      socket.destroy()
      resolve(https ? `TLS connection to ${host}:${port} (certificate verified)` : `TCP connection to ${host}:${port}`)
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      socket.destroy()
      reject(e)
    })
  })

/** GET the healthcheck URL: 2xx expected. The sink's headers go only to `url`'s own origin. */
const healthcheck = async (entry: EntryOf<"http">, url: URL, timeoutMs: number): Promise<string> => {
  const headers = url.origin === new URL(entry.url).origin
    ? Object.fromEntries(Object.entries(entry.headers).map(([k, v]) => [k, Redacted.value(v)]))
    : {}
  const response = await fetch(url, { method: "GET", headers, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) })
  const body = (await response.text().catch(() => "")).trim()
  const shown = `${url.origin}${url.pathname}`
  if (response.status >= 200 && response.status < 300) return `GET ${shown} answered ${response.status}`
  // A server may echo a header: none of their values is shown.
  const scrubbed = Object.values(headers).filter((v) => v.length >= 6).reduce((text, v) => text.split(v).join("<redacted>"), body)
  throw new Error(`GET ${shown} answered ${response.status}${scrubbed === "" ? "" : `: ${scrubbed.slice(0, 200)}`}`)
}

const httpCheck = (entry: EntryOf<"http">, index: number): Effect.Effect<CheckResult> =>
  Effect.promise(async () => {
    const name = `sink ${entry.name}`
    const url = new URL(entry.url)
    const timeoutMs = Duration.toMillis(entry.timeout)
    let connected: string
    try {
      connected = await connect(url, timeoutMs)
    } catch (e) {
      const code = errorCode(e)
      const certificate = code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)
      return fail(
        name,
        `http: ${origin(url)} cannot be reached: ${causeText(e)}`,
        certificate
          ? "the server's certificate is not trusted: give its CA in NODE_EXTRA_CA_CERTS (TLS is always verified)"
          : `check sinks[${index}].url: is the receiver running, and reachable from here (firewall, proxy, DNS)?`
      )
    }
    if (entry.healthcheck === undefined) return ok(name, `http: ${connected}`)
    try {
      return ok(name, `http: ${connected}; ${await healthcheck(entry, new URL(entry.healthcheck), timeoutMs)}`)
    } catch (e) {
      return fail(
        name,
        `http: ${connected}, but the healthcheck failed: ${causeText(e)}`,
        `the receiver says it is not healthy, or sinks[${index}].healthcheck is not its health URL`
      )
    }
  })

const kafkaCheck = (entry: EntryOf<"kafka">, index: number): Effect.Effect<CheckResult, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const name = `sink ${entry.name}`
    // The sink's module and the client load only for a config with a kafka sink.
    const [{ connectionOptions, describe }, { Base }] = yield* Effect.promise(() =>
      Promise.all([import("../sinks/kafka.ts"), import("@platformatic/kafka")])
    )
    const options = yield* Effect.result(connectionOptions(entry))
    if (options._tag === "Failure") {
      return fail(name, `kafka: cannot read a TLS file: ${causeText(options.failure)}`, `check sinks[${index}].tls`)
    }
    const settings = options.success
    const backstop = settings.connectTimeout + settings.requestTimeout + 5_000
    return yield* Effect.promise(async () => {
      const client = new Base(settings)
      const timer = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no answer within ${backstop}ms`)), backstop).unref()
      )
      try {
        const metadata = await Promise.race([client.metadata({ topics: [entry.topic], autocreateTopics: false }), timer])
        const topic = metadata.topics.get(entry.topic)
        if (topic === undefined) throw new Error(`Unknown topic ${entry.topic}.`)
        return ok(
          name,
          `kafka: ${metadata.brokers.size} broker${metadata.brokers.size === 1 ? "" : "s"} answered; topic ${entry.topic} ` +
            `has ${topic.partitionsCount} partition${topic.partitionsCount === 1 ? "" : "s"}`
        )
      } catch (e) {
        const text = describe(e)
        return /Unknown topic/i.test(text)
          ? fail(
            name,
            `kafka: the brokers answered, but topic ${entry.topic} does not exist`,
            `create topic ${entry.topic} (the sink never creates topics), or correct sinks[${index}].topic`
          )
          : fail(
            name,
            `kafka: no broker of ${entry.brokers.join(", ")} answered a metadata request: ${text}`,
            `check sinks[${index}].brokers (host:port reachable from here)${
              entry.tls === undefined ? "" : ", tls"
            }${entry.sasl === undefined ? "" : ", sasl"} and connectTimeout`
          )
      } finally {
        await client.close().catch(() => undefined)
      }
    })
  })

const sinkCheck = (entry: SinkEntry, index: number): Effect.Effect<CheckResult, never, FileSystem.FileSystem> => {
  switch (entry.type) {
    case "stdout":
      return Effect.succeed(ok(`sink ${entry.name}`, "stdout: standard output (nothing to check)"))
    case "file":
      return Effect.map(
        fileCheck(`sink ${entry.name}`, entry.path, `sinks[${index}].path`),
        (r) => ({ ...r, detail: `file: ${r.detail}` })
      )
    case "http":
      return httpCheck(entry, index)
    case "kafka":
      return kafkaCheck(entry, index)
  }
}

/** The state store: opened when it exists (it must be ours, of a version this reads); else its folder must take it. */
const stateCheck = (config: AppConfig): Effect.Effect<CheckResult> => {
  const path = statePath(config.state, config.deadLetter.path)
  const name = "state store"
  return Effect.promise(() => exists(path).catch(() => true)).pipe(
    Effect.flatMap((present) =>
      present
        ? Effect.promise(() => import("../state/sqlite.ts")).pipe(
          Effect.flatMap(({ openSqliteStore }) =>
            Effect.acquireUseRelease(
              openSqliteStore(path),
              () => Effect.succeed(ok(name, `${path} opens (an iam-ocsf state store this version reads)`)),
              (store) => Effect.sync(() => store.close())
            )
          ),
          Effect.catch((e) =>
            Effect.succeed(fail(name, e.message, `see the message; state.path sets where the store is (ocsf.emit "${config.ocsf.emit}" needs it)`))
          )
        )
        : Effect.map(fileCheck(name, path, "state.path"), (r) =>
          r.status === "ok" ? { ...r, detail: `${path} does not exist yet (the first run creates it): ${r.detail}` } : r)
    )
  )
}

/** With coordination: the workers' PostgreSQL answers (it holds the job queue and the state store). */
const databaseCheck = (coordination: NonNullable<AppConfig["coordination"]>): Effect.Effect<CheckResult> =>
  Effect.promise(() => import("../state/postgres.ts")).pipe(
    Effect.flatMap(({ locationOf, makePool }) => {
      const location = locationOf(coordination.postgres)
      return Effect.acquireUseRelease(
        Effect.sync(() => makePool(coordination.postgres, 1, () => undefined)),
        (pool) =>
          Effect.tryPromise(() => pool.query<{ version: string; user: string }>("SELECT current_setting('server_version') AS version, current_user AS user")).pipe(
            Effect.map((r) => ok("coordination", `${location} answers (PostgreSQL ${r.rows[0]?.version}, as ${r.rows[0]?.user})`)),
            Effect.catch((e) =>
              Effect.succeed(fail(
                "coordination",
                `${location} cannot be reached: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}`,
                "check coordination.postgres (host, port, database, user and password) and that the server accepts this host"
              ))
            )
          ),
        (pool) => Effect.promise(() => pool.end().catch(() => undefined))
      )
    })
  )

export const sinkChecks = (config: AppConfig): Effect.Effect<ReadonlyArray<CheckResult>, never, FileSystem.FileSystem> =>
  Effect.all([
    ...config.sinks.map(sinkCheck),
    fileCheck("dead-letter file", config.deadLetter.path, "deadLetter.path"),
    ...(config.coordination !== undefined
      ? [databaseCheck(config.coordination)]
      : config.ocsf.emit === "snapshot"
      ? []
      : [stateCheck(config)])
  ], { concurrency: "unbounded" })
