/**
 * The logs of `iam-ocsf run`, on stderr (stdout carries the stdout sink's events). JSON is one
 * object per line with the fields log shippers index (`time`, `level`, `message`) first, the
 * entry's annotations next, and the trace and span ids of the span it was written in, so a log
 * line leads to its trace. Values that are `Redacted` serialize as "<redacted>".
 */
import * as Cause from "effect/Cause"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import type { LogLevel as EffectLogLevel } from "effect/LogLevel"
import type { LogConfig, LogLevel } from "./LogConfig.ts"
import { statusLine } from "../cli/statusLine.ts"

const levels: Record<LogLevel, EffectLogLevel> = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error"
}

const text = (part: unknown): string => (typeof part === "string" ? part : JSON.stringify(part) ?? String(part))

export const jsonLogger = Logger.make(({ cause, date, fiber, logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  const record: Record<string, unknown> = {
    time: date.toISOString(),
    level: logLevel.toLowerCase(),
    message: parts.map(text).join(" ")
  }
  for (const [key, value] of Object.entries(fiber.getRef(References.CurrentLogAnnotations))) {
    if (!(key in record)) record[key] = value
  }
  const span = fiber.cache.span
  if (span !== undefined) {
    record["trace_id"] = span.traceId
    record["span_id"] = span.spanId
  }
  if (cause.reasons.length > 0) record["cause"] = Cause.pretty(cause)
  statusLine.clear()
  process.stderr.write(JSON.stringify(record) + "\n")
})

/** The default logger, minus the live progress line it would otherwise be written into. */
const textLogger = Logger.make((options) => {
  statusLine.clear()
  Logger.defaultLogger.log(options)
})

/**
 * The loggers and the minimum level. `flagLevel` is `--log-level`, which wins over the file.
 * The tracer logger stays: it turns log entries into events of the current span. Where they
 * are written (stderr) is set once for every command, in `cli/program.ts`.
 */
export const loggingLayer = (config: LogConfig, flagLevel: EffectLogLevel | undefined) =>
  Layer.mergeAll(
    Logger.layer([config.format === "json" ? jsonLogger : textLogger, Logger.tracerLogger]),
    Layer.succeed(References.MinimumLogLevel, flagLevel ?? levels[config.level])
  )
