/**
 * Change detection for one run of one account, on top of the state store: each collected user is
 * staged and compared with what the last complete run saw; after a complete listing, the users
 * the run did not see are deletions. What comes out (`Detected`) is what a change event is made
 * of (`changeMapperFor(profile)(d.change, { observedAt, previous: d.previous, current: d.current })`).
 *
 * A run uses it as: `observeUser` for every collected user, `run.keep(userId)` for every user
 * whose collection failed, `deletions(run)` only when the listing was complete, and
 * `run.commit(...)` once every event was delivered or dead-lettered.
 *
 * A fact from a stale credential report is not a change. The bulk strategy takes MFA, the console
 * password and (when the report shows none) the access keys and signing certificates from the
 * report, as of its generation;
 * AWS makes one at most every four hours. When that report is older than the account's last
 * commit, the state may know better (an earlier run read those facts from the per-user calls, a
 * key listing, or a newer report): those facts keep the state's values, and a change of them
 * waits for a report generated after that commit. Never a change the account did not make; a
 * change is seen as late as the report it shows in.
 *
 * The same for SSH public keys a run did not list (bulk, unless `collection.sshPublicKeys` is
 * "always"): the state's are kept, and their changes wait for a run that lists them.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Reported } from "../collect/users.ts"
import type { IamUser } from "../iam/IamUser.ts"
import type { Observation, RunState, StateError } from "../state/StateStore.ts"
import { type Change, deletion, diffUser } from "./diff.ts"
import { byText, credentialId, type SnapshotCredential, toSnapshot, type UserSnapshot, withStateSshKeys } from "./snapshot.ts"

/** One change of one user, with the user before and after it. */
export interface Detected {
  readonly change: Change
  /** undefined: the user is new. */
  readonly previous: UserSnapshot | undefined
  /** undefined: the user was deleted. */
  readonly current: UserSnapshot | undefined
}

/**
 * The snapshot with the facts a stale report gave (`reported`, older than the state's last
 * commit) replaced by the state's: `current` itself when the report is not older, or agrees.
 */
export const withoutStaleReport = (
  previous: UserSnapshot,
  current: UserSnapshot,
  reported: Reported | undefined,
  lastCommit: Date | undefined
): UserSnapshot => {
  if (reported === undefined || lastCommit === undefined || reported.at.getTime() >= lastCommit.getTime()) return current
  const keys = reported.keys ? previous.AccessKeys : current.AccessKeys
  const credentials = reported.certificates ? withStateCertificates(previous.Credentials, current.Credentials) : current.Credentials
  if (
    previous.MFA === current.MFA && previous.ConsoleAccess === current.ConsoleAccess && keys === current.AccessKeys &&
    credentials === current.Credentials
  ) return current
  return {
    ...current,
    MFA: previous.MFA,
    ConsoleAccess: previous.ConsoleAccess,
    AccessKeys: keys,
    ...(credentials === undefined ? {} : { Credentials: credentials })
  }
}

const isCertificate = (c: SnapshotCredential) => c.Type === "SigningCertificate"

/** The credentials with the state's signing certificates instead of the report's (`current` itself when they agree). */
const withStateCertificates = (
  previous: ReadonlyArray<SnapshotCredential> | undefined,
  current: ReadonlyArray<SnapshotCredential> | undefined
) => {
  if (previous === undefined || current === undefined) return current
  const kept = previous.filter(isCertificate)
  const seen = current.filter(isCertificate)
  if (JSON.stringify(kept) === JSON.stringify(seen)) return current
  return [...kept, ...current.filter((c) => !isCertificate(c))].sort(byText(credentialId))
}

/**
 * Stages the user in the run and returns its changes since the last complete run, in the stable
 * order of `diffUser` (none when its content hash is unchanged). `reported`: the facts the
 * collection took from the credential report, and when it was generated (see above).
 */
export const observeUser = (run: RunState, user: IamUser, reported?: Reported): Effect.Effect<ReadonlyArray<Detected>, StateError> =>
  Effect.suspend(() => {
    const seen = toSnapshot(user)
    return run.stage(seen).pipe(
      Effect.flatMap((observation): Effect.Effect<{ readonly observation: Observation; readonly current: UserSnapshot }, StateError> => {
        if (observation._tag !== "Changed") return Effect.succeed({ observation, current: seen })
        const current = withStateSshKeys(observation.previous, withoutStaleReport(observation.previous, seen, reported, run.lastCommit))
        if (current === seen) return Effect.succeed({ observation, current })
        // staged again, as the state will keep it: the state's facts where the report is older
        return Effect.as(run.stage(current), { observation, current })
      }),
      Effect.map(({ current, observation }): ReadonlyArray<Detected> => {
        switch (observation._tag) {
          case "Unchanged":
            return []
          case "New":
            return diffUser(undefined, current).map((change) => ({ change, previous: undefined, current }))
          case "Changed":
            return diffUser(observation.previous, current).map((change) => ({ change, previous: observation.previous, current }))
        }
      })
    )
  })

/** The users of the last complete state this run did not see: one deletion each. Only after a complete listing. */
export const deletions = (run: RunState): Stream.Stream<Detected, StateError> =>
  run.unseen().pipe(Stream.map((previous) => ({ change: deletion[0]!, previous, current: undefined })))
