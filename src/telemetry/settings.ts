/**
 * What to export and where, from the `telemetry` section and the standard OpenTelemetry
 * variables. A variable that is set wins over the file. Without either, nothing is exported:
 * unlike the OpenTelemetry default ("otlp" to localhost), a daemon that nobody pointed at a
 * collector must not retry a connection to one forever.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { isHttpUrl } from "../config/fields.ts"
import type { TelemetryConfig } from "./TelemetryConfig.ts"

/** OTLP over HTTP with protobuf bodies (the OpenTelemetry default) or JSON bodies. */
export type OtlpProtocol = "http/protobuf" | "http/json"

export interface OtlpTarget {
  /** The full URL (`.../v1/traces` or `.../v1/metrics`). */
  readonly url: string
  readonly protocol: OtlpProtocol
  /**
   * Deadline of one export, its retries included (OTEL_EXPORTER_OTLP_TIMEOUT): also the longest
   * the last export may keep a finished process waiting for a collector that does not answer.
   */
  readonly timeout: Duration.Duration
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

/**
 * The OTEL_* variables as `@opentelemetry/core` reads them (`otelEnv.ts`): blank means unset,
 * lists are comma-separated and trimmed, key-value lists are percent-decoded.
 */
export interface OtelEnv {
  readonly string: (name: string) => string | undefined
  readonly number: (name: string) => number | undefined
  readonly boolean: (name: string) => boolean
  readonly list: (name: string) => ReadonlyArray<string> | undefined
  readonly keyValues: (name: string) => Record<string, string>
}

/** An environment without any OTEL_* variable. */
export const noOtelVariables: OtelEnv = {
  string: () => undefined,
  number: () => undefined,
  boolean: () => false,
  list: () => undefined,
  keyValues: () => ({})
}

/**
 * The process's OTEL_* variables. `@opentelemetry/core` (and `@opentelemetry/api` under it) is
 * loaded only when one is set: a run that exports nothing loads no OpenTelemetry module.
 */
export const otelEnvironment: Effect.Effect<OtelEnv> = Effect.suspend(() =>
  Object.entries(process.env).some(([name, value]) => name.startsWith("OTEL_") && value?.trim())
    ? Effect.promise(() => import("./otelEnv.ts")).pipe(Effect.map((module) => module.processOtelEnv))
    : Effect.succeed(noOtelVariables)
)

/** A URL as it may be logged: credentials in its user info or query stay out. */
export const shownUrl = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

/** Whether anything needs the OpenTelemetry SDK (and its modules loaded). */
export const needsSdk = (settings: TelemetrySettings): boolean =>
  settings.traces !== undefined || settings.metrics !== undefined || settings.prometheus

type Exporter = "otlp" | "none"
type Signal = "TRACES" | "METRICS"

const withPath = (base: string, path: string) => (base.endsWith("/") ? base : base + "/") + path

/** The OpenTelemetry default of OTEL_EXPORTER_OTLP_TIMEOUT. */
const defaultTimeout = Duration.seconds(10)

export const resolveTelemetry = (
  config: TelemetryConfig,
  options: { readonly env: OtelEnv; readonly version: string; readonly prometheus: boolean }
): TelemetrySettings => {
  const { env } = options
  // A set: a variable read for both signals is warned about once.
  const warnings = new Set<string>()
  const trimmed = (name: string) => env.string(name)?.trim()

  /** An exporter variable: a list of which only "otlp" and "none" mean something here. */
  const exporterFromEnv = (name: string, alsoAccepted: ReadonlyArray<string>): Exporter | undefined => {
    const names = env.list(name)?.map((n) => n.toLowerCase())
    if (names === undefined) return undefined
    const unsupported = names.filter((n) => n !== "otlp" && n !== "none" && !alsoAccepted.includes(n))
    if (unsupported.length > 0) warnings.add(`${name}: ${unsupported.join(", ")} not supported; only otlp and none are`)
    if (names.includes("none")) return "none"
    return names.includes("otlp") ? "otlp" : "none"
  }

  /**
   * The signal's variable, else the general one, else the file, else http/protobuf. gRPC would
   * need a second transport (HTTP/2 and @grpc/grpc-js) for what every collector also takes over
   * HTTP, so it is refused: the signal is not exported and a warning says what to set instead. Sent
   * as http/protobuf to a gRPC port, every export would fail.
   */
  const protocolFor = (signal: Signal): OtlpProtocol | undefined => {
    const name = [`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`, "OTEL_EXPORTER_OTLP_PROTOCOL"]
      .find((n) => trimmed(n) !== undefined)
    const value = name === undefined ? config.protocol ?? "http/protobuf" : trimmed(name)!.toLowerCase()
    if (value === "http/protobuf" || value === "http/json") return value
    warnings.add(
      `${name}=${value} not supported: OTLP is exported over HTTP only (http/protobuf or http/json, a collector's ` +
        `port 4318); ${signal.toLowerCase()} are not exported`
    )
    return undefined
  }

  const timeoutFor = (signal: Signal): Duration.Duration => {
    for (const name of [`OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`, "OTEL_EXPORTER_OTLP_TIMEOUT"]) {
      const millis = env.number(name)
      if (millis === undefined) continue
      if (millis > 0 && Number.isFinite(millis)) return Duration.millis(millis)
      warnings.add(`${name}=${millis} ignored: expected milliseconds above 0`)
    }
    return config.timeout ?? defaultTimeout
  }

  const disabled = env.boolean("OTEL_SDK_DISABLED")
  const baseEndpoint = trimmed("OTEL_EXPORTER_OTLP_ENDPOINT") ?? config.endpoint
  const sharedHeaders: Record<string, Redacted.Redacted<string>> = { ...config.headers }
  for (const [key, value] of Object.entries(env.keyValues("OTEL_EXPORTER_OTLP_HEADERS"))) {
    sharedHeaders[key] = Redacted.make(value)
  }

  const target = (signal: Signal, path: string, exporter: Exporter | undefined): OtlpTarget | undefined => {
    const specific = trimmed(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`)
    const chosen = exporter ?? (specific !== undefined || baseEndpoint !== undefined ? "otlp" : "none")
    if (disabled || chosen === "none") return undefined
    const protocol = protocolFor(signal)
    if (protocol === undefined) return undefined
    const headers = { ...sharedHeaders }
    for (const [key, value] of Object.entries(env.keyValues(`OTEL_EXPORTER_OTLP_${signal}_HEADERS`))) {
      headers[key] = Redacted.make(value)
    }
    const url = specific ?? withPath(baseEndpoint ?? "http://localhost:4318", path)
    if (!isHttpUrl(url)) {
      // Not printed: a URL may hold credentials.
      const variable = specific !== undefined ? `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT` : "OTEL_EXPORTER_OTLP_ENDPOINT"
      warnings.add(`${variable} is not an http(s) URL; ${signal.toLowerCase()} are not exported`)
      return undefined
    }
    return {
      url,
      protocol,
      timeout: timeoutFor(signal),
      headers
    }
  }

  const traces = target("TRACES", "v1/traces", exporterFromEnv("OTEL_TRACES_EXPORTER", []) ?? config.traces)
  // "prometheus" is a valid value there; our scrape endpoint is `server.port`, so it means "no push".
  const metricsTarget = target(
    "METRICS",
    "v1/metrics",
    exporterFromEnv("OTEL_METRICS_EXPORTER", ["prometheus"]) ?? config.metrics
  )
  const intervalMs = env.number("OTEL_METRIC_EXPORT_INTERVAL")
  const interval = intervalMs !== undefined && Number.isFinite(intervalMs) && intervalMs > 0
    ? Duration.millis(intervalMs)
    : config.metricInterval

  return {
    resource: {
      serviceName: trimmed("OTEL_SERVICE_NAME") ?? config.serviceName,
      serviceVersion: options.version,
      attributes: { ...config.resourceAttributes, ...env.keyValues("OTEL_RESOURCE_ATTRIBUTES") }
    },
    traces,
    metrics: metricsTarget === undefined ? undefined : { ...metricsTarget, interval },
    prometheus: options.prometheus,
    warnings: [...warnings]
  }
}
