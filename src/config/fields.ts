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

/**
 * The ports fetch refuses to connect to, whatever the scheme (the WHATWG Fetch standard's "bad
 * ports": mail, IRC, X11 and other protocols a browser must not be used to reach). Node's fetch
 * applies the list; checked against Node 24's, port by port from 1 to 11000.
 */
export const fetchBadPorts: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080
])

/**
 * A URL as a problem line may show it, as written but for a user name and password, replaced by
 * "<redacted>", and so is a query (`?api_key=...`). In a URL the user info ends at the last "@"
 * before the path; other text ("user:pw@host" has no "//") loses everything up to its last "@".
 */
export const withoutCredentials = (text: string): string => {
  const withAuthority = URL.canParse(text) && /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)
  if (!withAuthority) return text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?.*@/s, "$1<redacted>@")
  return text
    .replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, "$1<redacted>@")
    .replace(/\?[^#]*/, "?<redacted>")
}

export interface HttpUrlOptions {
  /** Where this field's secrets go instead of the URL, e.g. `a header: "headers": { ... }`. */
  readonly secretsGoTo: string
  /** The URL is fetched with fetch, which refuses some ports. */
  readonly fetch?: boolean
}

/**
 * An http(s) URL field; `example` shows up in the error for anything else. A user name or password
 * in the URL is refused (it would be logged with the URL, and sent however the server answers),
 * and the problem line never shows it. With `fetch`, so are the ports fetch refuses, which would
 * otherwise fail every request of a run.
 */
export const httpUrl = (example: string, options: HttpUrlOptions) => {
  const expected = `an http(s) URL like "${example}"`
  return Schema.String.check(Schema.makeFilter((text: string) => {
    const found = `found ${JSON.stringify(withoutCredentials(text))}`
    // Not a URL at all: the usual line, unless the text holds what looks like credentials.
    if (!isHttpUrl(text)) return withoutCredentials(text) === text ? false : `expected ${expected}; ${found}`
    const url = new URL(text)
    if (url.username !== "" || url.password !== "") {
      return `expected a URL without a user name or password; ${found} (put the secret in ${options.secretsGoTo})`
    }
    const port = Number(url.port)
    if (options.fetch === true && fetchBadPorts.has(port)) {
      return `expected a URL on a port that fetch connects to; ${found} (fetch refuses port ${port}, one of the WHATWG "bad ports" such as 25, 6000 and 6665-6669)`
    }
    return undefined
  }, { expected }))
}

/** A secret in the config file: a plain string there (usually `${ENV}`), `Redacted` once decoded. */
export const Secret = Schema.RedactedFromValue(Schema.NonEmptyString)
