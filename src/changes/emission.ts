/**
 * Which events one run of one account sends, from `ocsf.emit`, `ocsf.snapshotEvery` and what the
 * state says of the account. Pure, so that the rules are stated once and tested without a run:
 * - `snapshot`: the inventory (5003) only; the state is not used.
 * - the account's first run in `changes` or `both` (no complete run recorded) is its baseline:
 *   the inventory is sent, no change event (every user would be "created").
 * - `changes`: the change events (3001); also the inventory when `snapshotEvery` has passed since
 *   the last one sent.
 * - `both`: the inventory and the change events, every run.
 */
import * as Duration from "effect/Duration"
import type { Emit } from "../ocsf/OcsfConfig.ts"

export interface Emission {
  /** Send every user as an inventory (5003) event. */
  readonly snapshot: boolean
  /** Send a change (3001) event per change since the last complete run. */
  readonly changes: boolean
  /** This run records the account's first complete state (log it: no change events this time). */
  readonly baseline: boolean
  /** The run reads and records the state. */
  readonly state: boolean
}

export interface EmitSettings {
  readonly emit: Emit
  readonly snapshotEvery?: Duration.Duration | undefined
}

/** What the state knows of the account (a `RunState` has both). */
export interface AccountHistory {
  readonly lastCompleteRun: Date | undefined
  readonly lastSnapshot: Date | undefined
}

export const emissionFor = (settings: EmitSettings, history: AccountHistory, now: Date): Emission => {
  if (settings.emit === "snapshot") return { snapshot: true, changes: false, baseline: false, state: false }
  if (history.lastCompleteRun === undefined) return { snapshot: true, changes: false, baseline: true, state: true }
  if (settings.emit === "both") return { snapshot: true, changes: true, baseline: false, state: true }
  const every = settings.snapshotEvery
  const due = every !== undefined &&
    (history.lastSnapshot === undefined || now.getTime() - history.lastSnapshot.getTime() >= Duration.toMillis(every))
  return { snapshot: due, changes: true, baseline: false, state: true }
}
