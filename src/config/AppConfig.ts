import { Duration, Effect, Schema, type SchemaAST, SchemaGetter } from "effect"
import { durationField, formatDuration } from "./durations.ts"
import { Sinks } from "./sinks.ts"
import { OcsfProfile } from "../ocsf/index.ts"

/**
 * The configuration file. Every section but `sinks` is optional; every field has the default shown
 * in `config.example.json`. Durations are strings like "90s" and decode to `Duration`; secrets
 * decode to `Redacted`. Decode with `configParseOptions` (unknown keys are errors, all problems are
 * reported); `parseConfig`/`loadConfig` do.
 */

export const configParseOptions: SchemaAST.ParseOptions = {
  errors: "all",
  onExcessProperty: "error",
  reportInput: true
}

const withDefault = <S extends Schema.Top>(value: S["Encoded"]) => (self: S) =>
  self.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/**
 * An optional section, `{}` when absent. Not `withDecodingDefaultKey`: that one first checks the
 * section's encoded form and stops there, so a wrong type in one field would hide the problems of
 * the others (a duration below its minimum, say). Here the section is decoded in one pass.
 */
const section = <S extends Schema.Top>(self: S) =>
  Schema.optionalKey(Schema.declare((_: unknown): _ is S["Encoded"] => true)).pipe(
    Schema.decodeTo(self, {
      decode: SchemaGetter.withDefault(Effect.succeed({} as S["Encoded"])),
      encode: SchemaGetter.passthrough()
    })
  )

const intBetween = (minimum: number, maximum: number) =>
  Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const Secret = Schema.RedactedFromValue(Schema.NonEmptyString)

const region = /^[a-z]{2}(-[a-z]+)+-\d+$/
const Region = Schema.String.annotate({ expected: `an AWS region like "us-east-1"` }).check(
  Schema.isPattern(region, { expected: `an AWS region like "us-east-1"` })
)

const isHttpUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    return url.protocol === "http:" || url.protocol === "https:"
  } catch {
    return false
  }
}
const Endpoint = Schema.String.check(
  Schema.makeFilter(isHttpUrl, { expected: `an http(s) URL like "http://127.0.0.1:4566"` })
)

const credentialsGoTogether = Schema.makeFilter((aws: {
  readonly accessKeyId?: string
  readonly secretAccessKey?: unknown
  readonly sessionToken?: unknown
}) => {
  const hasId = aws.accessKeyId !== undefined
  const hasSecret = aws.secretAccessKey !== undefined
  if (hasId !== hasSecret) {
    return `accessKeyId and secretAccessKey go together; found only ${hasId ? "accessKeyId" : "secretAccessKey"}`
  }
  if (aws.sessionToken !== undefined && !hasId) {
    return "sessionToken needs accessKeyId and secretAccessKey; found only sessionToken"
  }
  return undefined
})

export const AwsConfig = Schema.Struct({
  /** IAM is global; the region picks the signing region. */
  region: Region.pipe(withDefault("us-east-1")),
  /** With `secretAccessKey` (both or neither); absent: the standard credential chain. */
  accessKeyId: Schema.optionalKey(Schema.NonEmptyString),
  secretAccessKey: Schema.optionalKey(Secret),
  sessionToken: Schema.optionalKey(Secret),
  /** An IAM-compatible endpoint, such as the project's emulator. */
  endpoint: Schema.optionalKey(Endpoint)
}).check(credentialsGoTogether)
export type AwsConfig = typeof AwsConfig.Type

const retryDelaysInOrder = Schema.makeFilter((retry: {
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
}) =>
  Duration.toMillis(retry.baseDelay) > Duration.toMillis(retry.maxDelay)
    ? `baseDelay must not be longer than maxDelay; found baseDelay ${JSON.stringify(formatDuration(retry.baseDelay))} and maxDelay ${JSON.stringify(formatDuration(retry.maxDelay))}`
    : undefined
)

export const RetryConfig = Schema.Struct({
  /** Attempts per AWS call, counting the first one. */
  maxAttempts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).pipe(withDefault(8)),
  baseDelay: durationField({ minimum: "1ms", default: "200ms" }),
  maxDelay: durationField({ minimum: "1ms", default: "20s" })
}).check(retryDelaysInOrder)
export type RetryConfig = typeof RetryConfig.Type

export const CollectionConfig = Schema.Struct({
  /** Users enriched at once. */
  concurrency: intBetween(1, 256).pipe(withDefault(8)),
  /** `MaxItems` of each `ListUsers` page. */
  pageSize: intBetween(1, 1000).pipe(withDefault(100)),
  /** Timeout of each AWS call (each attempt). */
  callTimeout: durationField({ minimum: "1ms", default: "10s" }),
  retry: RetryConfig.pipe(section)
})
export type CollectionConfig = typeof CollectionConfig.Type


export const OcsfConfig = Schema.Struct({
  profile: OcsfProfile.pipe(withDefault("spec"))
})
export type OcsfConfig = typeof OcsfConfig.Type

export const ScheduleConfig = Schema.Struct({
  /** Time between the starts of two daemon runs. */
  interval: durationField({ minimum: "1s", default: "1h" })
})
export type ScheduleConfig = typeof ScheduleConfig.Type

export const DeliveryConfig = Schema.Struct({
  /** Events per sink batch. */
  batchSize: intBetween(1, 100_000).pipe(withDefault(500)),
  /** Longest wait to fill a batch. */
  batchWindow: durationField({ minimum: "1ms", default: "1s" })
})
export type DeliveryConfig = typeof DeliveryConfig.Type

export const DeadLetterConfig = Schema.Struct({
  /** NDJSON file of events no sink accepted. */
  path: Schema.NonEmptyString.pipe(withDefault("dead-letter.ndjson"))
})
export type DeadLetterConfig = typeof DeadLetterConfig.Type

export const AppConfig = Schema.Struct({
  aws: AwsConfig.pipe(section),
  collection: CollectionConfig.pipe(section),
  ocsf: OcsfConfig.pipe(section),
  schedule: ScheduleConfig.pipe(section),
  delivery: DeliveryConfig.pipe(section),
  /** At least one; names resolved and unique. */
  sinks: Sinks,
  deadLetter: DeadLetterConfig.pipe(section)
})
export type AppConfig = typeof AppConfig.Type
