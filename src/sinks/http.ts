/**
 * A webhook: each batch is one POST, as a JSON array or as NDJSON, optionally gzipped.
 *
 * Built on `effect/http` with the fetch client (undici inside Node): a timeout or a shutdown
 * interrupts the request and the client aborts the connection, so no request outlives its
 * batch; and the client's spans join the run's traces. TLS certificates are always verified
 * (fetch has no switch to turn that off; a private CA goes in `NODE_EXTRA_CA_CERTS`). Redirects
 * are not followed: fetch would turn a redirected POST into a GET, and its 200 would count as
 * delivered.
 */
import { promisify } from "node:util"
import { gzip as gzipCallback } from "node:zlib"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as HttpClientError from "effect/http/HttpClientError"
import { durationField } from "../config/durations.ts"
import { httpUrl, intBetween, Secret, withDefault } from "../config/fields.ts"
import { commonSinkFields, defineSink, type Envelope, SinkError, toNdjson } from "../delivery/Sink.ts"

const gzip = promisify(gzipCallback)

// effect/http is loaded by the first http sink a config names: a config without one (and
// `validate-config`, `--help`) does without its fifteen modules.
const loadClient = Effect.promise(() =>
  Promise.all([
    import("effect/http/FetchHttpClient"),
    import("effect/http/Headers"),
    import("effect/http/HttpClient"),
    import("effect/http/HttpClientRequest")
  ])
)

const HttpUrl = httpUrl("https://siem.example.com/ingest", {
  secretsGoTo: `a header: "headers": { "Authorization": "\${TOKEN}" }`,
  fetch: true
})

const HealthcheckUrl = httpUrl("https://siem.example.com/health", {
  secretsGoTo: `a header: "headers": { "Authorization": "\${TOKEN}" }`,
  fetch: true
})

const HeaderName = Schema.String.check(
  Schema.isPattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { expected: "an HTTP header name" })
)

/** A status like 503, or a whole class: "4xx", "5xx". */
const StatusPattern = Schema.Union([intBetween(100, 599), Schema.Literals(["4xx", "5xx"])])

const HttpSinkConfig = Schema.Struct({
  type: Schema.Literal("http"),
  ...commonSinkFields,
  /** Where each batch is POSTed. Secrets belong in `headers`, not in the URL. */
  url: HttpUrl,
  /**
   * What `iam-ocsf check` (and `run` at start-up) GETs, expecting a 2xx, to know that the receiver
   * is healthy, not only listening; `headers` are sent with it when it has `url`'s origin.
   * Absent: a TCP (for https, TLS) connection to `url`'s host and port is all that is tried.
   */
  healthcheck: Schema.optionalKey(HealthcheckUrl),
  /** "json": one JSON array per request; "ndjson": one event per line. */
  format: Schema.Literals(["json", "ndjson"]).pipe(withDefault("json")),
  /** Compress request bodies (`Content-Encoding: gzip`). */
  gzip: Schema.Boolean.pipe(withDefault(false)),
  /** Sent with every request. Every value is a secret: never logged, shown as <redacted>. */
  headers: Schema.Record(HeaderName, Secret).pipe(withDefault({})),
  /** Longest wait for an answer, per attempt. */
  timeout: durationField({ minimum: "1ms", maximum: "10m", default: "30s" }),
  /** Batches in flight at once; above 1, batches may arrive out of order. */
  maxConcurrentRequests: intBetween(1, 64).pipe(withDefault(1)),
  /** Statuses worth another attempt; any other non-2xx dead-letters the batch at once. */
  retryableStatuses: Schema.Array(StatusPattern).pipe(withDefault([408, 429, "5xx"])),
  /** A `Retry-After` asking for longer is cut to this. */
  maxRetryAfter: durationField({ minimum: "1ms", maximum: "1h", default: "5m" })
})

/**
 * `Retry-After` as a wait: delay-seconds or an HTTP date. `undefined` when absent or unreadable
 * (the usual backoff then applies).
 */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Duration.seconds(Number(text))
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - now))
}

const isRetryableStatus = (patterns: ReadonlyArray<number | "4xx" | "5xx">, status: number): boolean =>
  patterns.some((p) => (p === "4xx" ? status >= 400 && status < 500 : p === "5xx" ? status >= 500 && status < 600 : p === status))

/** The innermost message of a fetch failure: "connect ECONNREFUSED 127.0.0.1:8080", not "fetch failed". */
const rootMessage = (error: unknown): string => {
  let current = error
  let message = String(error)
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message
    current = current.cause
  }
  return message
}

const encoder = new TextEncoder()

export default defineSink({
  type: "http",
  summary: "each batch POSTed to a webhook as JSON or NDJSON, optionally gzipped",
  config: HttpSinkConfig,
  make: Effect.fnUntraced(function*(config, name) {
    const [FetchHttpClient, Headers, HttpClient, HttpClientRequest] = yield* loadClient
    const client = yield* HttpClient.HttpClient.pipe(Effect.provide(FetchHttpClient.layer))
    const target = new URL(config.url)
    // The URL as it may be logged: without user info and query, where credentials could hide.
    const shown = `${target.origin}${target.pathname}`
    const headers = Object.fromEntries(Object.entries(config.headers).map(([key, value]) => [key, Redacted.value(value)]))
    const headerNames = Object.keys(headers)
    // Each value, and its last word alone ("Bearer <token>" may come back as just the token).
    const secrets = Object.values(headers).flatMap((value) => [value, value.split(/\s+/).pop() ?? ""])
      .filter((secret) => secret.length >= 6)
      .sort((a, b) => b.length - a.length)
    const contentType = config.format === "json" ? "application/json" : "application/x-ndjson"
    const timeoutMillis = Duration.toMillis(config.timeout)

    // A server may echo a request header in its error page; such text must not reach the logs.
    const scrub = (text: string): string => secrets.reduce((out, secret) => out.split(secret).join("<redacted>"), text)

    const fail = (message: string, retryable: boolean, extra: Partial<Pick<SinkError, "throttled" | "retryAfter">> = {}) =>
      new SinkError({ sink: name, message: scrub(message), retryable, ...extra })

    const body = (batch: ReadonlyArray<Envelope>): Effect.Effect<Uint8Array, SinkError> => {
      const text = config.format === "json" ? `[${batch.map((e) => e.json).join(",")}]` : toNdjson(batch)
      const bytes = encoder.encode(text)
      return config.gzip
        ? Effect.tryPromise({
          try: () => gzip(bytes),
          catch: (cause) => fail(`cannot gzip a batch: ${rootMessage(cause)}`, false)
        })
        : Effect.succeed(bytes)
    }

    const transportError = (error: HttpClientError.HttpClientError) =>
      fail(`POST ${shown}: ${rootMessage(error.reason.cause ?? error)}`, true)

    const send = (batch: ReadonlyArray<Envelope>) =>
      Effect.gen(function*() {
        const request = HttpClientRequest.post(config.url).pipe(
          HttpClientRequest.setHeaders(headers),
          HttpClientRequest.bodyUint8Array(yield* body(batch), contentType),
          config.gzip ? HttpClientRequest.setHeader("content-encoding", "gzip") : (r) => r
        )
        const response = yield* client.execute(request).pipe(Effect.mapError(transportError))
        // Read the answer to the end, so that the connection can carry the next request.
        const answer = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        const status = response.status
        if (status >= 200 && status < 300) return
        const detail = `POST ${shown} answered ${status}${answer.trim() === "" ? "" : `: ${answer.trim().slice(0, 200)}`}`
        if (!isRetryableStatus(config.retryableStatuses, status)) return yield* fail(detail, false)
        const asked = parseRetryAfter(response.headers["retry-after"], Date.now())
        // The wait itself is logged by the delivery's retry; a cut one says so here.
        const cut = asked !== undefined && Duration.isGreaterThan(asked, config.maxRetryAfter)
          ? ` (Retry-After: ${response.headers["retry-after"]}, cut to ${Duration.format(config.maxRetryAfter)} by maxRetryAfter)`
          : ""
        return yield* fail(detail + cut, true, {
          throttled: status === 429,
          ...(asked === undefined ? {} : { retryAfter: Duration.min(asked, config.maxRetryAfter) })
        })
      }).pipe(
        Effect.timeoutOrElse({
          duration: config.timeout,
          orElse: () => Effect.fail(fail(`POST ${shown}: no answer within ${timeoutMillis}ms`, true))
        }),
        Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" }),
        Effect.provideService(Headers.CurrentRedactedNames, ["authorization", "cookie", "set-cookie", "x-api-key", ...headerNames])
      )

    return { name, write: send, concurrency: config.maxConcurrentRequests }
  })
})
