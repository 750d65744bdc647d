/**
 * The OCSF mapping as the rest of the program uses it: the profiles, a mapper for each that encodes
 * every event through its profile's Schema, the change (class 3001) mappers of the strict
 * profiles, and the key that events are partitioned by.
 */
import * as Schema from "effect/Schema"
import type { Change } from "../changes/diff.ts"
import type { IamUser } from "../iam/IamUser.ts"
import {
  AccountChangeCloudEvent,
  AccountChangeEvent,
  type ChangeContext,
  toAccountChangeCloudEvent,
  toAccountChangeEvent
} from "./accountChange.ts"
import type { MapContext } from "./common.ts"
import { SpecEvent, toSpecEvent } from "./spec.ts"
import { StrictEvent, toStrictEvent } from "./strict.ts"
import { StrictCloudEvent, toStrictCloudEvent } from "./strictCloud.ts"

export type { AccountContext, MapContext } from "./common.ts"
export { SpecEvent } from "./spec.ts"
export { StrictEvent } from "./strict.ts"
export { StrictCloudEvent } from "./strictCloud.ts"
export { AccountChangeCloudEvent, AccountChangeEvent, type ChangeContext } from "./accountChange.ts"

/** Which event shape to emit; `spec` (the spec's table, not valid OCSF) is the default. */
export const OcsfProfile = Schema.Literals(["spec", "strict", "strict-cloud"])
export type OcsfProfile = typeof OcsfProfile.Type
export const OcsfProfiles: ReadonlyArray<OcsfProfile> = OcsfProfile.literals

/**
 * Whether a profile's events carry access key ids (`programmatic_credentials`): the bulk
 * strategy's credential report has none, so for these profiles it lists each user's keys.
 */
export const needsAccessKeyIds = (profile: OcsfProfile): boolean => profile !== "spec"

/**
 * Whether a profile's events describe the user's whole identity (`Identity` of `IamUser`: every
 * credential with its last use, groups with their privileges, the boundary, admin and risk).
 */
export const needsIdentity = (profile: OcsfProfile): boolean => profile !== "spec"

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

/** A change event (class 3001) as it goes on the wire. */
export type ChangeEvent = typeof AccountChangeEvent.Encoded | typeof AccountChangeCloudEvent.Encoded

export type ChangeMapper = (change: Change, ctx: ChangeContext) => ChangeEvent

/** The profiles with change events: the `spec` profile's table has none (`ocsf.emit` refuses it). */
export type ChangeProfile = Exclude<OcsfProfile, "spec">
export const hasChangeEvents = (profile: OcsfProfile): profile is ChangeProfile => profile !== "spec"

const changeMapper = <S extends Schema.Codec<unknown, ChangeEvent>>(
  schema: S,
  toEvent: (change: Change, ctx: ChangeContext) => S["Type"]
): ChangeMapper => {
  const encode = Schema.encodeSync(schema)
  return (change, ctx) => encode(toEvent(change, ctx))
}

const changeMappers: Record<ChangeProfile, ChangeMapper> = {
  strict: changeMapper(AccountChangeEvent, toAccountChangeEvent),
  "strict-cloud": changeMapper(AccountChangeCloudEvent, toAccountChangeCloudEvent)
}

/**
 * Pure: one change of one user (`diffUser`) → the encoded, JSON-ready class 3001 event, through
 * the profile's Schema, like `mapperFor`.
 */
export const changeMapperFor = (profile: ChangeProfile): ChangeMapper => changeMappers[profile]

/** The key one user's events are partitioned by downstream (the event's user.uid), inventory and change events alike. */
export const eventKey = (event: { readonly user: { readonly uid: string } }): string => event.user.uid
