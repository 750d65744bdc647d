/**
 * The `ocsf` section of the config file: the shape of the events (`spec`, `strict`,
 * `strict-cloud`) and which events a run emits: the inventory snapshot (class 5003, every user
 * every run), the changes since the last complete run (class 3001), or both.
 */
import * as Schema from "effect/Schema"
import { durationBetween } from "../config/durations.ts"
import { withDefault } from "../config/fields.ts"
import { OcsfProfile } from "./index.ts"

/**
 * `snapshot`: every user as a 5003 event, every run (no state kept). `changes`: one 3001 event
 * per change since the account's last complete run (state kept in `state.path`); the first run
 * records a baseline and sends the snapshot. `both`: the snapshot every run, and the changes.
 */
export const Emit = Schema.Literals(["snapshot", "changes", "both"])
export type Emit = typeof Emit.Type

const changesNeedAValidProfile = Schema.makeFilter((c: {
  readonly profile: OcsfProfile
  readonly emit: Emit
  readonly snapshotEvery?: unknown
}) =>
  // The spec's table defines inventory events only, and its user object is not valid OCSF: change
  // events follow the strict profiles, and emitting them beside spec-shaped inventory events would
  // give one consumer two shapes of the same user.
  c.emit !== "snapshot" && c.profile === "spec"
    ? `emit "${c.emit}" needs profile "strict" or "strict-cloud": the spec profile has no change events (OCSF class 3001 ` +
      `events use the strict profiles' user object)`
    : c.snapshotEvery !== undefined && c.emit !== "changes"
    ? `snapshotEvery applies to emit "changes" only (emit "${c.emit}" sends the snapshot every run)`
    : undefined
)

export const OcsfConfig = Schema.Struct({
  profile: OcsfProfile.pipe(withDefault("spec")),
  emit: Emit.pipe(withDefault("snapshot")),
  /**
   * With `emit: "changes"`, also send the full snapshot when the last one sent is older than this,
   * so that a consumer can resynchronise; absent: only the baseline run sends it.
   */
  snapshotEvery: Schema.optionalKey(durationBetween("1m", "365d"))
}).check(changesNeedAValidProfile)
export type OcsfConfig = typeof OcsfConfig.Type
