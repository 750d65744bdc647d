/** Building blocks of the config schemas, shared by the sections and by every sink's entry. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"

export const withDefault = <S extends Schema.Top>(value: S["Encoded"]) => (self: S) =>
  self.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/**
 * An optional section, `{}` when absent. Not `withDecodingDefaultKey`: that one first checks the
 * section's encoded form and stops there, so a wrong type in one field would hide the problems of
 * the others (a duration below its minimum, say). Here the section is decoded in one pass.
 */
export const section = <S extends Schema.Top>(self: S) =>
  Schema.optionalKey(Schema.declare((_: unknown): _ is S["Encoded"] => true)).pipe(
    Schema.decodeTo(self, {
      decode: SchemaGetter.withDefault(Effect.succeed({} as S["Encoded"])),
      encode: SchemaGetter.passthrough()
    })
  )

export const intBetween = (minimum: number, maximum: number) =>
  Schema.Int.check(Schema.isBetween({ minimum, maximum }))

export const isHttpUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    return url.protocol === "http:" || url.protocol === "https:"
  } catch {
    return false
  }
}

/** An http(s) URL field; `example` shows up in the error for anything else. */
export const httpUrl = (example: string) =>
  Schema.String.check(Schema.makeFilter(isHttpUrl, { expected: `an http(s) URL like "${example}"` }))

/** A secret in the config file: a plain string there (usually `${ENV}`), `Redacted` once decoded. */
export const Secret = Schema.RedactedFromValue(Schema.NonEmptyString)
