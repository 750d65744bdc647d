/**
 * What to export and where, from the `telemetry` section and the standard OpenTelemetry
 * variables. A variable that is set wins over the file. Without either, nothing is exported:
 * unlike the OpenTelemetry default ("otlp" to localhost), a daemon that nobody pointed at a
 * collector must not retry a connection to one forever.
 */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import type { Env } from "../config/interpolate.ts"
import type { TelemetryConfig } from "./TelemetryConfig.ts"

export interface OtlpTarget {
  /** The full URL (`.../v1/traces` or `.../v1/metrics`). */
  readonly url: string
  /** Often an API key: kept redacted until the exporter is built. */
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
}

export interface TelemetrySettings {
  readonly resource: {
    readonly serviceName: string
    readonly serviceVersion: string
    readonly attributes: Readonly<Record<string, string>>
  }
  readonly traces: OtlpTarget | undefined
  readonly metrics: (OtlpTarget & { readonly interval: Duration.Duration }) | undefined
  /** Whether metrics are also kept for scraping (the operations endpoint's /metrics). */
  readonly prometheus: boolean
  /** Settings that were read but cannot be honoured, for one warning each at start. */
  readonly warnings: ReadonlyArray<string>
}

/** Whether anything needs the OpenTelemetry SDK (and its modules loaded). */
export const needsSdk = (settings: TelemetrySettings): boolean =>
  settings.traces !== undefined || settings.metrics !== undefined || settings.prometheus

/** The specification says an empty variable is an unset one. */
const read = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim()
  return value === undefined || value === "" ? undefined : value
}

/** `key1=value1,key2=value2` with percent-encoded keys and values (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS). */
export const parseKeyValues = (text: string | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (text === undefined) return out
  for (const entry of text.split(",")) {
    const at = entry.indexOf("=")
    if (at <= 0) continue
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.trim())
      } catch {
        return s.trim()
      }
    }
    const key = decode(entry.slice(0, at))
    if (key !== "") out[key] = decode(entry.slice(at + 1))
  }
  return out
}

type Exporter = "otlp" | "none"

/** An exporter variable: a comma-separated list of which only "otlp" and "none" mean something here. */
const exporterFromEnv = (
  name: string,
  value: string | undefined,
  alsoAccepted: ReadonlyArray<string>,
  warnings: Array<string>
): Exporter | undefined => {
  if (value === undefined) return undefined
  const names = value.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "")
  const unsupported = names.filter((n) => n !== "otlp" && n !== "none" && !alsoAccepted.includes(n))
  if (unsupported.length > 0) warnings.push(`${name}: ${unsupported.join(", ")} not supported; only otlp and none are`)
  if (names.includes("none")) return "none"
  return names.includes("otlp") ? "otlp" : "none"
}

const withPath = (base: string, path: string) => (base.endsWith("/") ? base : base + "/") + path

export const resolveTelemetry = (
  config: TelemetryConfig,
  options: { readonly env: Env; readonly version: string; readonly prometheus: boolean }
): TelemetrySettings => {
  const { env } = options
  const warnings: Array<string> = []
  const disabled = read(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true"

  const protocol = read(env, "OTEL_EXPORTER_OTLP_PROTOCOL")
  if (protocol !== undefined && protocol !== "http/json") {
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} not supported; OTLP is sent as http/json`)
  }

  const baseEndpoint = read(env, "OTEL_EXPORTER_OTLP_ENDPOINT") ?? config.endpoint
  const headers: Record<string, Redacted.Redacted<string>> = { ...config.headers }
  for (const [key, value] of Object.entries(parseKeyValues(read(env, "OTEL_EXPORTER_OTLP_HEADERS")))) {
    headers[key] = Redacted.make(value)
  }

  const target = (signal: "TRACES" | "METRICS", path: string, exporter: Exporter | undefined): OtlpTarget | undefined => {
    const specific = read(env, `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`)
    const chosen = exporter ?? (specific !== undefined || baseEndpoint !== undefined ? "otlp" : "none")
    if (disabled || chosen === "none") return undefined
    return { url: specific ?? withPath(baseEndpoint ?? "http://localhost:4318", path), headers }
  }

  const traces = target(
    "TRACES",
    "v1/traces",
    exporterFromEnv("OTEL_TRACES_EXPORTER", read(env, "OTEL_TRACES_EXPORTER"), [], warnings) ?? config.traces
  )
  // "prometheus" is a valid value there; our scrape endpoint is `server.port`, so it means "no push".
  const metricsTarget = target(
    "METRICS",
    "v1/metrics",
    exporterFromEnv("OTEL_METRICS_EXPORTER", read(env, "OTEL_METRICS_EXPORTER"), ["prometheus"], warnings) ??
      config.metrics
  )
  const intervalMs = Number(read(env, "OTEL_METRIC_EXPORT_INTERVAL"))
  const interval = Number.isFinite(intervalMs) && intervalMs > 0 ? Duration.millis(intervalMs) : config.metricInterval

  return {
    resource: {
      serviceName: read(env, "OTEL_SERVICE_NAME") ?? config.serviceName,
      serviceVersion: options.version,
      attributes: { ...config.resourceAttributes, ...parseKeyValues(read(env, "OTEL_RESOURCE_ATTRIBUTES")) }
    },
    traces,
    metrics: metricsTarget === undefined ? undefined : { ...metricsTarget, interval },
    prometheus: options.prometheus,
    warnings
  }
}
