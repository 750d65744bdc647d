/**
 * Configs built in code rather than read from a file (the `demo` command, tests, benchmarks), held
 * to the same defaults and checks as a file.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import { AppConfig } from "./AppConfig.ts"
import { configParseOptions } from "../config/load.ts"
import { ConfigError } from "../config/ConfigError.ts"
import { formatDuration } from "../config/durations.ts"
import { issueProblems, renderProblem } from "../config/problems.ts"
import type { SinkInput } from "../sinks/SinksConfig.ts"

/** The file's shape, where a duration may also be given as a `Duration`. */
type WithDurations<E, T> = [T] extends [Duration.Duration] ? E | Duration.Duration
  : E extends ReadonlyArray<unknown> ? E
  : E extends object ? { readonly [K in keyof E]: WithDurations<E[K], K extends keyof T ? T[K] : unknown> }
  : E

/**
 * What a config file holds, for building a config in code: every section optional, `sinks` too
 * (default: one stdout sink). Values are written as in the file (durations as "90s" or as a
 * `Duration`, secrets as plain strings).
 */
export type ConfigInput =
  & WithDurations<Omit<typeof AppConfig.Encoded, "sinks">, Omit<AppConfig, "sinks">>
  & { readonly sinks?: ReadonlyArray<SinkInput> }

const durationsAsText = (value: unknown): unknown => {
  if (Duration.isDuration(value)) return formatDuration(value)
  if (Array.isArray(value)) return value.map(durationsAsText)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, durationsAsText(item)]))
  }
  return value
}

/**
 * A config built in memory (the `npm start` demo, tests), with the same defaults and checks as a
 * file. No `${VAR}` interpolation. Throws a `ConfigError` when the input is invalid.
 */
export const defaultConfig = (overrides: ConfigInput = {}): AppConfig => {
  const input = durationsAsText({ ...overrides, sinks: overrides.sinks ?? [{ type: "stdout" }] })
  const exit = Effect.runSyncExit(Schema.decodeUnknownEffect(AppConfig)(input, configParseOptions))
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.findErrorOption(exit.cause)
  if (Option.isNone(failure)) throw new Error("defaultConfig: decoding did not complete")
  throw new ConfigError({ source: "defaultConfig", problems: issueProblems(failure.value.issue).map(renderProblem) })
}
