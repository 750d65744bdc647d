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

/** A check on a decoded `Duration`: at least `minimum` (a duration string such as "1s"). */
export const isDurationAtLeast = (minimum: string) => {
  const millis = parseMillis(minimum)
  if (millis === undefined) throw new Error(`not a duration: ${minimum}`)
  return Schema.makeFilter<Duration.Duration>(
    (duration) => Duration.toMillis(duration) >= millis,
    { expected: `a duration of at least ${minimum}` }
  )
}

/** A duration field with a minimum and a default, both written as in the config file. */
export const durationAtLeast = (minimum: string) => DurationString.check(isDurationAtLeast(minimum))

export const durationField = (options: { readonly minimum: string; readonly default: string }) =>
  durationAtLeast(options.minimum).pipe(Schema.withDecodingDefaultKey(Effect.succeed(options.default)))
