/**
 * The configuration file as a whole: the sections, each owned by the module it configures, put
 * together, plus the `schedule` of the daemon. Every section but `sinks` is optional; every field
 * has the default shown in `config.example.json`. Durations are strings like "90s" and decode to
 * `Duration`; secrets decode to `Redacted`.
 */
import type * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Schema from "effect/Schema"
import { AccountsConfig } from "../accounts/AccountsConfig.ts"
import { CollectionConfig } from "../collect/CollectionConfig.ts"
import { CoordinationConfig } from "../coordination/CoordinationConfig.ts"
import type { ConfigError } from "../config/ConfigError.ts"
import { durationField } from "../config/durations.ts"
import { section, withDefault } from "../config/fields.ts"
import type { Env } from "../config/interpolate.ts"
import { loadConfigFile, parseConfigText } from "../config/load.ts"
import { DeadLetterConfig, DeliveryConfig } from "../delivery/DeliveryConfig.ts"
import { AwsConfig } from "../iam/AwsConfig.ts"
import { OcsfConfig } from "../ocsf/OcsfConfig.ts"
import { ServerConfig } from "../ops/ServerConfig.ts"
import { Sinks } from "../sinks/SinksConfig.ts"
import { StateConfig } from "../state/StateConfig.ts"
import { LogConfig } from "../telemetry/LogConfig.ts"
import { TelemetryConfig } from "../telemetry/TelemetryConfig.ts"

export const ScheduleConfig = Schema.Struct({
  /** Time from the end of one daemon run to the start of the next (runs never overlap). */
  interval: durationField({ minimum: "1s", maximum: "7d", default: "1h" }),
  /** Each wait is the interval times 1 ± up to this fraction, so that many daemons do not call AWS in step. */
  jitter: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 0.5 })).pipe(withDefault(0.1)),
  /** After SIGTERM, the longest wait for the run in progress to deliver what it has collected. */
  shutdownTimeout: durationField({ minimum: "1s", maximum: "10m", default: "20s" })
})
export type ScheduleConfig = typeof ScheduleConfig.Type

export const AppConfig = Schema.Struct({
  aws: AwsConfig.pipe(section),
  /** Absent: the one account the credentials belong to. */
  accounts: Schema.optionalKey(AccountsConfig),
  collection: CollectionConfig.pipe(section),
  ocsf: OcsfConfig.pipe(section),
  schedule: ScheduleConfig.pipe(section),
  delivery: DeliveryConfig.pipe(section),
  /** At least one; names resolved and unique. */
  sinks: Sinks,
  deadLetter: DeadLetterConfig.pipe(section),
  /** Where each account's state is kept between runs (`ocsf.emit` "changes" or "both"). */
  state: StateConfig.pipe(section),
  /** Absent: this process reads every account; present: it is one worker of several sharing them through PostgreSQL. */
  coordination: Schema.optionalKey(CoordinationConfig),
  telemetry: TelemetryConfig.pipe(section),
  server: ServerConfig.pipe(section),
  log: LogConfig.pipe(section)
})
export type AppConfig = typeof AppConfig.Type

/** The text of a config file → `AppConfig`, every problem reported at once. */
export const parseConfig = (text: string, source: string, env: Env): Effect.Effect<AppConfig, ConfigError> =>
  parseConfigText(AppConfig, text, source, env)

/** Reads and parses a config file; `env` (default `process.env`) feeds `${VAR}` interpolation. */
export const loadConfig = (
  file: string,
  env: Env = process.env
): Effect.Effect<AppConfig, ConfigError, FileSystem.FileSystem> => loadConfigFile(AppConfig, file, env)
