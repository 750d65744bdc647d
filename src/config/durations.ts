/**
 * Durations in the config file are strings `<number><unit>`: "500ms", "90s", "15m", "1h", "2d".
 * They decode to `effect` `Duration`s and encode back to the shortest exact string.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as SchemaIssue from "effect/SchemaIssue"

const units = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
  ["ms", 1]
] as const

const pattern = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

const expected = `a duration like "90s", "15m" or "1h"`

/** Milliseconds per unit, or `undefined` for text that is not `<number><unit>`. */
export const parseMillis = (text: string): number | undefined => {
  const match = pattern.exec(text)
  if (match === null) return undefined
  const unit = units.find(([name]) => name === match[2])
  return unit === undefined ? undefined : Number(match[1]) * unit[1]
}

/** "3600000 ms" as "1h", "1500 ms" as "1500ms": the largest unit that divides evenly. */
export const formatDuration = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  if (!Number.isFinite(millis)) return String(millis)
  if (millis === 0) return "0s"
  const unit = units.find(([, size]) => millis % size === 0)
  return unit === undefined ? `${millis}ms` : `${millis / unit[1]}${unit[0]}`
}

/** A duration string such as "90s", decoded to a `Duration`. */
export const DurationString = Schema.String.annotate({ expected }).pipe(
  Schema.decodeTo(Schema.Duration, {
    decode: SchemaGetter.transformEffect((text: string, options) => {
      const millis = parseMillis(text)
      return millis === undefined
        ? Effect.fail(new SchemaIssue.InvalidValue({ expected }, text, options))
        : Effect.succeed(Duration.millis(millis))
    }),
    encode: SchemaGetter.transform(formatDuration)
  })
)

const millisOf = (text: string): number => {
  const millis = parseMillis(text)
  if (millis === undefined) throw new Error(`not a duration: ${text}`)
  return millis
}

/**
 * A check on a decoded `Duration`: from `minimum` to `maximum` (duration strings such as "1s").
 * Every duration field has both: a value beyond any sensible one ("99999999d", which is
 * Infinity once read) is a mistake to report, not a wait to begin.
 */
export const isDurationBetween = (minimum: string, maximum: string) => {
  const [low, high] = [millisOf(minimum), millisOf(maximum)]
  return Schema.makeFilter<Duration.Duration>(
    (duration) => Duration.toMillis(duration) >= low && Duration.toMillis(duration) <= high,
    { expected: `a duration between ${minimum} and ${maximum}` }
  )
}

/** A duration from `minimum` to `maximum`, both written as in the config file. */
export const durationBetween = (minimum: string, maximum: string) =>
  DurationString.check(isDurationBetween(minimum, maximum))

/** A duration field with its bounds and a default, all written as in the config file. */
export const durationField = (options: { readonly minimum: string; readonly maximum: string; readonly default: string }) =>
  durationBetween(options.minimum, options.maximum).pipe(Schema.withDecodingDefaultKey(Effect.succeed(options.default)))
