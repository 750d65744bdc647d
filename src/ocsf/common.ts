/**
 * What every profile shares: the class/activity header of OCSF 1.6.0 class 5003
 * "User Inventory Info", activity 2 "Collect", and the time codecs. Each event Schema takes
 * `Date`s on its decoded side and chooses the wire unit here, so a mapper never does
 * arithmetic on timestamps and the unit of each profile is stated in its Schema.
 */
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import type { IamUser, Tag } from "../iam/IamUser.ts"

export const OCSF_VERSION = "1.6.0"

/** Key order follows the spec's example event; values satisfy OCSF's caption rules (`.lint`). */
export const header = {
  activity_id: 2,
  activity_name: "Collect",
  category_name: "Discovery",
  category_uid: 5,
  class_name: "User Inventory Info",
  class_uid: 5003,
  type_name: "User Inventory Info: Collect",
  type_uid: 500302, // class_uid * 100 + activity_id
  severity: "Informational",
  severity_id: 1
} as const

type Literals<T extends Record<string, string | number>> = { readonly [K in keyof T]: Schema.Literal<T[K]> }
const literalFields = <const T extends Record<string, string | number>>(values: T): Literals<T> =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Schema.Literal(v)])) as Literals<T>

/** Struct fields for {@link header}: the encoder rejects an event whose header was tampered with. */
export const HeaderFields = literalFields(header)

/** OCSF `timestamp_t`: epoch milliseconds. */
export const EpochMillis = Schema.DateFromMillis

/**
 * The spec's table says "Unix epoch" and its example is in seconds: used by the spec profile
 * only. Truncates (IAM dates carry whole seconds anyway).
 */
export const EpochSeconds = Schema.Int.pipe(
  Schema.decodeTo(Schema.Date, {
    decode: SchemaGetter.transform((s: number) => new Date(s * 1000)),
    encode: SchemaGetter.transform((d: Date) => Math.floor(d.getTime() / 1000))
  })
)

/**
 * Every list in an event in one order, whatever the strategy that collected it: AWS promises no
 * order for a user's groups, policies, tags or keys, and the per-user calls and
 * GetAccountAuthorizationDetails do not agree. Sorted by `keys` (the first that differs
 * decides; the last is unique in the list), compared by UTF-16 code units, not by locale, which
 * would depend on the host. The README's "OCSF output" lists the keys.
 */
export const inCanonicalOrder = <A>(items: ReadonlyArray<A>, ...keys: ReadonlyArray<(a: A) => string>): Array<A> =>
  [...items].sort((a, b) => {
    for (const key of keys) {
      const x = key(a)
      const y = key(b)
      if (x !== y) return x < y ? -1 : 1
    }
    return 0
  })

/** The spec's `{Key: Value}` object; a repeated key keeps the last value (IAM forbids repeats). */
export const TagsObject = Schema.Record(Schema.String, Schema.String)

/** In key order (a JSON object keeps its keys in insertion order, integer-like keys first). */
export const tagsObject = (tags: ReadonlyArray<Tag>): Record<string, string> =>
  // fromEntries defines own properties, so a tag named "__proto__" stays an ordinary key
  Object.fromEntries(inCanonicalOrder(tags, (t) => t.Key).map((t) => [t.Key, t.Value]))

/**
 * What `access_keys_count` means in the spec: keys AWS will accept (not Inactive or Expired),
 * counted from the listed keys or, for a user collected in bulk, as the credential report said.
 */
export const activeKeyCount = (u: IamUser): number =>
  u.AccessKeys !== undefined ? u.AccessKeys.filter((k) => k.Status === "Active").length : known(u.ActiveAccessKeyCount, "ActiveAccessKeyCount")

/** Whether the user has an MFA device: from the listed devices, or as the credential report said. */
export const hasMfa = (u: IamUser): boolean =>
  u.MFADevices !== undefined ? u.MFADevices.length > 0 : known(u.MFAActive, "MFAActive")

// The IamUser schema requires one of each pair; a value built around it must not become a default.
const known = <A>(value: A | undefined, name: string): A => {
  if (value === undefined) throw new Error(`the user has neither the listed items nor ${name}`)
  return value
}

/** What a mapping needs besides the user. */
export interface MapContext {
  /** When the user was observed: the event `time` of the strict profiles. */
  readonly collectedAt: Date
  /** What the run knows of the user's account beyond its id (which the ARN holds). */
  readonly account?: AccountContext | undefined
}

/** An account's name and organization, from the config or AWS Organizations; the strict profiles carry them. */
export interface AccountContext {
  readonly name?: string | undefined
  readonly organizationId?: string | undefined
}
