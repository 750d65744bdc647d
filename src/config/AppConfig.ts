import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import { DeliveryConfig } from "./delivery.ts"
import { durationField } from "./durations.ts"
import { intBetween, httpUrl, Secret, section, withDefault } from "./fields.ts"
import { RetryConfig } from "./retry.ts"
import { LogConfig } from "./log.ts"
import { ServerConfig } from "./server.ts"
import { Sinks } from "./sinks.ts"
import { TelemetryConfig } from "./telemetry.ts"
import { OcsfProfile } from "../ocsf/index.ts"
import { CollectionStrategy } from "../collect/CollectionStrategy.ts"

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

const region = /^[a-z]{2}(-[a-z]+)+-\d+$/
const Region = Schema.String.annotate({ expected: `an AWS region like "us-east-1"` }).check(
  Schema.isPattern(region, { expected: `an AWS region like "us-east-1"` })
)

const Endpoint = httpUrl("http://127.0.0.1:4566")

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

export { RetryConfig } from "./retry.ts"

export const CollectionConfig = Schema.Struct({
  /** Users enriched at once. */
  concurrency: intBetween(1, 256).pipe(withDefault(8)),
  /** `MaxItems` of each `ListUsers` page. */
  pageSize: intBetween(1, 1000).pipe(withDefault(100)),
  /** Timeout of each AWS call (each attempt). */
  callTimeout: durationField({ minimum: "1ms", default: "10s" }),
  retry: RetryConfig.pipe(section),
  /** `per-user`, `bulk` (GetAccountAuthorizationDetails + the credential report) or `auto` (bulk unless denied). */
  strategy: CollectionStrategy.pipe(withDefault("auto")),
  /** bulk: a credential report younger than this is reused; an older one is regenerated (AWS: at most one per 4h). */
  maxCredentialReportAge: durationField({ minimum: "1s", default: "4h" }),
  /** A fixed ceiling on the requests per second sent to the account; absent: the learned rate alone. */
  maxRequestsPerSecond: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThan(0))),
  /** The learned rate never drops below this, however much AWS throttles (retries still back off). */
  minRequestsPerSecond: Schema.Number.check(Schema.isGreaterThan(0)).pipe(withDefault(1))
}).check(Schema.makeFilter((c: { readonly maxRequestsPerSecond?: number; readonly minRequestsPerSecond: number }) =>
  c.maxRequestsPerSecond !== undefined && c.maxRequestsPerSecond < c.minRequestsPerSecond
    ? `maxRequestsPerSecond must not be below minRequestsPerSecond; found ${c.maxRequestsPerSecond} and ${c.minRequestsPerSecond}`
    : undefined
))
export type CollectionConfig = typeof CollectionConfig.Type


export const OcsfConfig = Schema.Struct({
  profile: OcsfProfile.pipe(withDefault("spec"))
})
export type OcsfConfig = typeof OcsfConfig.Type

export const ScheduleConfig = Schema.Struct({
  /** Time from the end of one daemon run to the start of the next (runs never overlap). */
  interval: durationField({ minimum: "1s", default: "1h" }),
  /** Each wait is the interval times 1 ± up to this fraction, so that many daemons do not call AWS in step. */
  jitter: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 0.5 })).pipe(withDefault(0.1)),
  /** After SIGTERM, the longest wait for the run in progress to deliver what it has collected. */
  shutdownTimeout: durationField({ minimum: "1s", default: "20s" })
})
export type ScheduleConfig = typeof ScheduleConfig.Type

export { DeliveryConfig } from "./delivery.ts"

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
  deadLetter: DeadLetterConfig.pipe(section),
  telemetry: TelemetryConfig.pipe(section),
  server: ServerConfig.pipe(section),
  log: LogConfig.pipe(section)
})
export type AppConfig = typeof AppConfig.Type
