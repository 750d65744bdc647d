/**
 * The configuration file: its schema, loading with `${VAR}` interpolation, actionable errors, and
 * the effective-config description for `iam-ocsf validate-config`.
 */
export {
  AppConfig,
  AwsConfig,
  CollectionConfig,
  DeadLetterConfig,
  DeliveryConfig,
  OcsfConfig,

  configParseOptions,
  RetryConfig,
  ScheduleConfig
} from "./AppConfig.ts"
export { ConfigError } from "./ConfigError.ts"
export { type ConfigInput, defaultConfig } from "./defaultConfig.ts"
export { configJson, describeConfig } from "./describe.ts"
export { DurationString, formatDuration } from "./durations.ts"
export type { Env } from "./interpolate.ts"
export { loadConfig, parseConfig } from "./load.ts"
export { type SinkEntry, type SinkInput, sinkTypes } from "./sinks.ts"
