/**
 * The effective config written out as the config file would state it: for `validate-config`, and
 * for the daemon's log line of what a reload changed.
 */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import type { AppConfig } from "./AppConfig.ts"
import { formatDuration } from "../config/durations.ts"

/** The decoded value as plain JSON: durations as "90s", secrets as "<redacted>". */
const toJson = (value: unknown): unknown => {
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (Duration.isDuration(value)) return formatDuration(value)
  if (Array.isArray(value)) return value.map(toJson)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toJson(item)]))
  }
  return value
}

/** The effective configuration as plain JSON, section by section, in the shape of the config file. */
export const configJson = (config: AppConfig): Readonly<Record<string, unknown>> =>
  toJson(config) as Record<string, unknown>

/**
 * The effective configuration (defaults filled in, names resolved) as pretty JSON, in the shape of
 * the config file, secrets shown as "<redacted>". For `iam-ocsf validate-config`.
 */
export const describeConfig = (config: AppConfig): string => JSON.stringify(configJson(config), null, 2)
