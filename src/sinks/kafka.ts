/**
 * A Kafka topic, through `@platformatic/kafka` (pure TypeScript: no native build). Each event is
 * one record whose key is the event's `user.uid`, so one user's events stay in order on one
 * partition: the partition Java's and librdkafka's default partitioners pick for that key
 * (the client's own default differs from theirs unless the partition count is a power of 2),
 * so other producers and key-joined consumers of the topic agree with us. The producer connects on the first batch, not at start: a broker that cannot be
 * reached is then a failed batch (retried, then dead-lettered), not a failed run.
 *
 * The client's own retries are off: the project's retry policy is the one that retries, and
 * every attempt is bounded by `connectTimeout` and `requestTimeout`, so a lost broker never
 * hangs a run or its exit.
 */
import type { ConnectionOptions as TlsOptions } from "node:tls"
import type { CompressionAlgorithmValue } from "@platformatic/kafka"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { causeText } from "../common/causeText.ts"
import { durationField } from "../config/durations.ts"
import { Secret, withDefault } from "../config/fields.ts"
import { commonSinkFields, defineSink, type Envelope, SinkError } from "../delivery/Sink.ts"
import { currentTraceparent, traceHeaders } from "../telemetry/traceparent.ts"

const broker = /^[^\s:/]+:(\d{1,5})$/
const Broker = Schema.String.check(Schema.makeFilter((text: string) => {
  const port = Number(broker.exec(text)?.[1] ?? 0)
  return port >= 1 && port <= 65_535
}, { expected: `a broker address like "kafka-1.example.com:9092"` }))

const KafkaName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9._-]{1,249}$/, { expected: "a Kafka name (letters, digits, '.', '_', '-')" })
)


const TlsFiles = Schema.Struct({
  /** PEM file of the CA that signed the brokers' certificates (else the system's CAs). */
  caFile: Schema.optional(Schema.NonEmptyString),
  /** PEM certificate and key for mutual TLS. */
  certFile: Schema.optional(Schema.NonEmptyString),
  keyFile: Schema.optional(Schema.NonEmptyString),
  /** The name the certificates must carry, when it differs from the broker's host. */
  servername: Schema.optional(Schema.NonEmptyString)
})

const Sasl = Schema.Struct({
  mechanism: Schema.Literals(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
  username: Schema.NonEmptyString,
  password: Secret
})

// The client is loaded on first use: importing it costs a third of a second of every start,
// `--help` included, whether or not a kafka sink is configured.
const loadClient = Effect.promise(() => import("@platformatic/kafka"))

const idempotenceNeedsAllAcks = Schema.makeFilter((c: { readonly idempotent: boolean; readonly acks: string }) =>
  c.idempotent && c.acks !== "all"
    ? `an idempotent producer needs acks "all"; found acks ${JSON.stringify(c.acks)} (or set "idempotent": false)`
    : undefined
)

const KafkaSinkConfig = Schema.Struct({
  type: Schema.Literal("kafka"),
  ...commonSinkFields,
  /** Bootstrap brokers, "host:port". */
  brokers: Schema.Array(Broker).check(Schema.isMinLength(1)),
  topic: KafkaName,
  clientId: KafkaName.pipe(withDefault("iam-ocsf")),
  /** "all": every in-sync replica has the batch before it counts as delivered. */
  acks: Schema.Literals(["all", "leader", "none"]).pipe(withDefault("all")),
  /** Broker-side deduplication of the client's own resends. */
  idempotent: Schema.Boolean.pipe(withDefault(true)),
  compression: Schema.Literals(["none", "gzip", "snappy", "lz4", "zstd"]).pipe(withDefault("none")),
  /**
   * Longest wait for a connection. A broker that answers at all connects in milliseconds; 5s
   * leaves room for a TLS handshake across regions.
   */
  connectTimeout: durationField({ minimum: "1ms", maximum: "1m", default: "5s" }),
  /**
   * Longest wait for a broker's answer to one request. An attempt lasts at most about
   * connectTimeout + requestTimeout, and a batch gets `retry.maxAttempts` of them, so this bounds
   * what a broker that accepts connections and never answers costs: with the defaults, 8
   * attempts of 10s and their backoff, under two minutes (it was 30s, over four and a half
   * minutes). 10s is still ten times what a produce with acks "all" takes on a healthy cluster,
   * and a produce that times out is retried without duplicates (idempotent producer).
   */
  requestTimeout: durationField({ minimum: "1ms", maximum: "2m", default: "10s" }),
  /** `true` for TLS with the system's CAs, or files for a private CA and client certificates. */
  tls: Schema.optional(Schema.Union([Schema.Boolean, TlsFiles])),
  sasl: Schema.optional(Sasl),
  /**
   * Start the idempotent producer as "no producer yet" (id -1, epoch -1). librdkafka's mock
   * cluster (tests, benchmarks) rejects the client's default (0, 0); real brokers need not.
   */
  mockCompatible: Schema.Boolean.pipe(withDefault(false))
}).check(idempotenceNeedsAllAcks)

export type KafkaSinkConfig = typeof KafkaSinkConfig.Type

/** Error codes that another attempt cannot fix (bad config, rejected credentials, old broker). */
const permanentCodes = new Set([
  "PLT_KFK_USER",
  "PLT_KFK_AUTHENTICATION",
  "PLT_KFK_UNSUPPORTED",
  "PLT_KFK_UNSUPPORTED_API",
  "PLT_KFK_UNSUPPORTED_COMPRESSION",
  "PLT_KFK_UNSUPPORTED_FORMAT"
])

/** Every error in a client error's tree (aggregates and causes). */
const errorTree = (error: unknown, out: Array<Record<string, unknown>> = [], depth = 0): Array<Record<string, unknown>> => {
  if (depth > 6 || typeof error !== "object" || error === null) return out
  const record = error as Record<string, unknown>
  out.push(record)
  if (Array.isArray(record["errors"])) for (const inner of record["errors"]) errorTree(inner, out, depth + 1)
  if (record["cause"] !== undefined) errorTree(record["cause"], out, depth + 1)
  return out
}

/** Retryable unless some part says it cannot be retried (the broker's own `canRetry` included). */
const isRetryable = (error: unknown): boolean =>
  !errorTree(error).some((e) => e["canRetry"] === false || permanentCodes.has(String(e["code"])))

/** "initProducerId failed 1 times: Cannot connect to any broker." — the summary, then its reasons. */
export const describe = (error: unknown): string => {
  const tree = errorTree(error)
  const leaves = [...new Set(tree.filter((e) => !Array.isArray(e["errors"])).map((e) => causeText(e)))]
  const top = causeText(error)
  return [top, ...leaves.filter((m) => m !== top)].slice(0, 4).join(": ")
}

const tlsOptions = (tls: KafkaSinkConfig["tls"]) =>
  Effect.gen(function*() {
    if (tls === undefined || tls === false) return undefined
    if (tls === true) return {} satisfies TlsOptions
    const fs = yield* FileSystem.FileSystem
    const read = (file: string | undefined) =>
      file === undefined ? Effect.succeed(undefined) : fs.readFileString(file)
    const [ca, cert, key] = yield* Effect.all([read(tls.caFile), read(tls.certFile), read(tls.keyFile)])
    return {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername })
    } satisfies TlsOptions
  })

/**
 * How a client of this sink reaches its brokers (addresses, TLS files read, SASL, timeouts; no
 * retries of the client's own): the producer's, and the one `iam-ocsf check` asks for metadata.
 */
export const connectionOptions = (config: KafkaSinkConfig) =>
  Effect.map(tlsOptions(config.tls), (tls) => ({
    clientId: config.clientId,
    bootstrapBrokers: [...config.brokers],
    connectTimeout: Duration.toMillis(config.connectTimeout),
    requestTimeout: Duration.toMillis(config.requestTimeout),
    timeout: Duration.toMillis(config.requestTimeout),
    retries: false as const,
    ...(tls === undefined ? {} : { tls }),
    ...(config.sasl === undefined ? {} : {
      sasl: {
        mechanism: config.sasl.mechanism,
        username: config.sasl.username,
        password: Redacted.value(config.sasl.password)
      }
    })
  }))

export default defineSink({
  type: "kafka",
  summary: "one record per event on a Kafka topic, keyed by user.uid",
  config: KafkaSinkConfig,
  make: Effect.fnUntraced(function*(config, name) {
    const fail = (message: string, retryable: boolean, cause?: unknown) =>
      new SinkError({ sink: name, message: `kafka ${config.topic}: ${message}`, retryable, cause })
    const connection = yield* connectionOptions(config).pipe(
      Effect.mapError((cause) => fail(`cannot read a TLS file: ${causeText(cause)}`, false, cause))
    )
    const { connectTimeout, requestTimeout } = connection
    const { compatibilityPartitioner, ProduceAcks, Producer, stringSerializers } = yield* loadClient
    const acksValue = { all: ProduceAcks.ALL, leader: ProduceAcks.LEADER, none: ProduceAcks.NO_RESPONSE } as const
    const producer = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new Producer({
            // Its `retries: false`: a number 0 or 1 would mean "forever" for an idempotent producer.
            ...connection,
            serializers: stringSerializers,
            partitioner: compatibilityPartitioner,
            idempotent: config.idempotent,
            acks: acksValue[config.acks],
            compression: config.compression satisfies CompressionAlgorithmValue,
            autocreateTopics: false,
            ...(config.mockCompatible ? { producerId: -1n, producerEpoch: -1 } : {})
          }),
        catch: (cause) => fail(`invalid producer settings: ${describe(cause)}`, false, cause)
      }),
      (p) =>
        Effect.promise(() => p.close(true).catch(() => undefined)).pipe(
          Effect.timeoutOrElse({
            duration: Duration.seconds(5),
            orElse: () => Effect.logWarning(`sink ${name}: the Kafka producer did not close within 5s; going on`)
          })
        )
    )

    // The client's own timeouts bound each attempt; this is a backstop should one of them not fire.
    const backstop = Duration.millis(connectTimeout + requestTimeout + 5_000)

    const write = (batch: ReadonlyArray<Envelope>) =>
      // Each record carries the batch span's `traceparent`, so a consumer's trace joins the run's.
      Effect.flatMap(currentTraceparent, (traceparent) => Effect.tryPromise({
        try: () => {
          const headers = traceHeaders(traceparent)
          return producer.send({
            messages: batch.map((e) => ({ topic: config.topic, key: e.key, value: e.json, headers }))
          })
        },
        catch: (cause) => fail(describe(cause), isRetryable(cause), cause)
      })).pipe(
        Effect.asVoid,
        Effect.timeoutOrElse({
          duration: backstop,
          orElse: () => Effect.fail(fail(`no answer within ${Duration.toMillis(backstop)}ms`, true))
        })
      )

    return { name, write }
  })
})
