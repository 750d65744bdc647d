/**
 * The OCSF mapping as the rest of the program uses it: the profiles, a mapper for each that encodes
 * every event through its profile's Schema, and the key that events are partitioned by.
 */
import * as Schema from "effect/Schema"
import type { IamUser } from "../iam/IamUser.ts"
import type { MapContext } from "./common.ts"
import { SpecEvent, toSpecEvent } from "./spec.ts"
import { StrictEvent, toStrictEvent } from "./strict.ts"
import { StrictCloudEvent, toStrictCloudEvent } from "./strictCloud.ts"

export type { MapContext } from "./common.ts"
export { SpecEvent } from "./spec.ts"
export { StrictEvent } from "./strict.ts"
export { StrictCloudEvent } from "./strictCloud.ts"

/** Which event shape to emit; `spec` (the spec's table, not valid OCSF) is the default. */
export const OcsfProfile = Schema.Literals(["spec", "strict", "strict-cloud"])
export type OcsfProfile = typeof OcsfProfile.Type
export const OcsfProfiles: ReadonlyArray<OcsfProfile> = OcsfProfile.literals

/**
 * Whether a profile's events carry access key ids (`programmatic_credentials`): the bulk
 * strategy's credential report has none, so for these profiles it lists each user's keys.
 */
export const needsAccessKeyIds = (profile: OcsfProfile): boolean => profile !== "spec"

/** An event as it goes on the wire: the encoded side of one profile's event Schema. */
export type OcsfEvent = typeof SpecEvent.Encoded | typeof StrictEvent.Encoded | typeof StrictCloudEvent.Encoded

export type Mapper = (user: IamUser, ctx: MapContext) => OcsfEvent

const mapper = <S extends Schema.Codec<unknown, OcsfEvent>>(
  schema: S,
  toEvent: (user: IamUser, ctx: MapContext) => S["Type"]
): Mapper => {
  // built once per profile: encodeSync compiles its parser on this call
  const encode = Schema.encodeSync(schema)
  return (user, ctx) => encode(toEvent(user, ctx))
}

const mappers: Record<OcsfProfile, Mapper> = {
  spec: mapper(SpecEvent, toSpecEvent),
  strict: mapper(StrictEvent, toStrictEvent),
  "strict-cloud": mapper(StrictCloudEvent, toStrictCloudEvent)
}

/**
 * Pure: IamUser (decoded) → the encoded, JSON-ready event. The event goes through the
 * profile's Schema, so a mapping bug throws a `SchemaError` here instead of reaching a sink.
 */
export const mapperFor = (profile: OcsfProfile): Mapper => mappers[profile]

/** The key one user's events are partitioned by downstream (the event's user.uid). */
export const eventKey = (event: OcsfEvent): string => event.user.uid
