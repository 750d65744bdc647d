/**
 * The config-file machinery, whatever the schema: reading and parsing a file, `${VAR}`
 * interpolation, errors that name the JSON path, and the field types the sections are built from
 * (durations, bounded integers, URLs, secrets). The application's sections and their assembly
 * live with the modules they configure (`run/AppConfig.ts`).
 */
export { ConfigError } from "./ConfigError.ts"
export { DurationString, formatDuration } from "./durations.ts"
export type { Env } from "./interpolate.ts"
export type { ConfigFormat } from "./parse.ts"
export { configParseOptions, loadConfigFile, parseConfigText } from "./load.ts"
