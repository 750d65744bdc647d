/**
 * The process's OTEL_* variables, read the way the OpenTelemetry SDK reads them, with
 * `@opentelemetry/core`'s helpers: blank is unset, a number that is not one is unset, booleans
 * are "true" or "false" in any case, lists are comma-separated, and key-value lists
 * (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS) are percent-decoded. Loaded by
 * `settings.ts` only when such a variable is set.
 */
import {
  getBooleanFromEnv,
  getNumberFromEnv,
  getStringFromEnv,
  getStringListFromEnv,
  parseKeyPairsIntoRecord
} from "@opentelemetry/core"
import type { OtelEnv } from "./settings.ts"

export const processOtelEnv: OtelEnv = {
  string: getStringFromEnv,
  number: getNumberFromEnv,
  boolean: getBooleanFromEnv,
  list: getStringListFromEnv,
  keyValues: (name) => parseKeyPairsIntoRecord(getStringFromEnv(name))
}
