/**
 * Change detection for one run of one account, on top of the state store: each collected user is
 * staged and compared with what the last complete run saw; after a complete listing, the users
 * the run did not see are deletions. What comes out (`Detected`) is what a change event is made
 * of (`changeMapperFor(profile)(d.change, { observedAt, previous: d.previous, current: d.current })`).
 *
 * A run uses it as: `observeUser` for every collected user, `run.keep(userId)` for every user
 * whose collection failed, `deletions(run)` only when the listing was complete, and
 * `run.commit(...)` once every event was delivered or dead-lettered.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { IamUser } from "../iam/IamUser.ts"
import type { RunState, StateError } from "../state/StateStore.ts"
import { type Change, deletion, diffUser } from "./diff.ts"
import { toSnapshot, type UserSnapshot } from "./snapshot.ts"

/** One change of one user, with the user before and after it. */
export interface Detected {
  readonly change: Change
  /** undefined: the user is new. */
  readonly previous: UserSnapshot | undefined
  /** undefined: the user was deleted. */
  readonly current: UserSnapshot | undefined
}

/**
 * Stages the user in the run and returns its changes since the last complete run, in the stable
 * order of `diffUser` (none when its content hash is unchanged).
 */
export const observeUser = (run: RunState, user: IamUser): Effect.Effect<ReadonlyArray<Detected>, StateError> =>
  Effect.suspend(() => {
    const current = toSnapshot(user)
    return run.stage(current).pipe(
      Effect.map((seen): ReadonlyArray<Detected> => {
        switch (seen._tag) {
          case "Unchanged":
            return []
          case "New":
            return diffUser(undefined, current).map((change) => ({ change, previous: undefined, current }))
          case "Changed":
            return diffUser(seen.previous, current).map((change) => ({ change, previous: seen.previous, current }))
        }
      })
    )
  })

/** The users of the last complete state this run did not see: one deletion each. Only after a complete listing. */
export const deletions = (run: RunState): Stream.Stream<Detected, StateError> =>
  run.unseen().pipe(Stream.map((previous) => ({ change: deletion[0]!, previous, current: undefined })))
