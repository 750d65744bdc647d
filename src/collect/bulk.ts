/**
 * The bulk strategy: a handful of calls for the whole account instead of seven per user.
 * - GetAccountAuthorizationDetails (Filter=User, 1,000 users a page): each user with its tags,
 *   group names, attached and inline policies. Streamed page by page; it drives the run.
 * - GetAccountAuthorizationDetails (Filter=Group): the groups' ids and ARNs, which the user
 *   pages name only. A few hundred groups at most.
 * - The credential report: console password, MFA and whether keys 1 and 2 are active.
 * - ListUsers (1,000 a page): PasswordLastUsed. The report has a password_last_used column,
 *   but it is as old as the report (hours) and says N/A once a password is removed, where
 *   ListUsers, and so the per-user strategy, still gives the last use; reading ListUsers keeps
 *   the two strategies' events identical. It is paged alongside the report and the user pages.
 *
 * The groups and the report are read before the first user is described (the first user pages
 * are read meanwhile, a couple ahead), the report into a map keyed by user name (a small
 * integer a user: about 7 MB at 100,000 users); each entry is dropped once its user is emitted.
 * The listing is held only as far as it runs ahead of the user pages. A user the bulk sources
 * do not fully describe (created after the report or the listing, in a group created after the
 * group listing, or with a report cell that is not true/false) is collected by the per-user
 * calls instead: never guessed.
 *
 * A profile whose events carry access key ids (strict) needs ListAccessKeys, but only for the
 * users the report shows with a key; a user it shows without one (no active key, no creation
 * time in either slot) has none as of the report, as for every other field the report gives.
 * A cell that says nothing certain still means a call. Each user goes down the stream as soon
 * as its own calls are answered, not when its page's last one is. SSH public keys have no
 * account-wide source: they are listed user by user only with `collection.sshPublicKeys:
 * "always"`, and otherwise absent from bulk's users (not collected, never "none").
 */
import { accessKeyJson, groupJson, iso, policyJson, tagJson } from "./userJson.ts"
import type {
  AccessKeyMetadata,
  GroupDetail,
  ServiceSpecificCredentialMetadata,
  SigningCertificate,
  SSHPublicKeyMetadata,
  User,
  UserDetail
} from "@aws-sdk/client-iam"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import type * as Duration from "effect/Duration"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Iam, type Page } from "../iam/Iam.ts"
import type { PackedUserDetail } from "../iam/largeAnswers.ts"
import { IamError } from "../iam/IamError.ts"
import type { IamUserJson } from "../iam/IamUser.ts"
import {
  fetchCredentialReport,
  readReportIdentity,
  type ReportIdentity,
  type ReportIdentityRows,
  type ReportRows,
  unpackRow
} from "./credentialReport.ts"
import {
  identity,
  type IdentityInput,
  type AppliedPolicyJson,
  type IdentityJson,
  identityNeedsNoCall,
  judgeGroup,
  judgeManagedPolicy,
  makePolicySources,
  type PolicySources
} from "./identity.ts"
import type { PolicyVerdict } from "../identity/policyDocument.ts"
import { decodeCollected, decodeCollectedNow, enrichUser } from "./enrich.ts"
import type { SshPublicKeysListing } from "./CollectionConfig.ts"
import { allPages, checkedListing, type ListingLimits } from "./paging.ts"
import { outcome, type Reported, type UserOutcome, usersAtOnce } from "./users.ts"

export interface BulkOptions {
  /** Users completed by per-user calls (and key listings) at once, as in the per-user strategy (`usersAtOnce`). */
  readonly concurrency: number
  readonly maxCredentialReportAge: Duration.Duration
  /** List each user's access keys (ListAccessKeys): the profile's events carry key ids. */
  readonly accessKeyIds: boolean
  /** Collect each user's `Identity` (the strict profiles: `identity.ts`). */
  readonly identity?: boolean | undefined
  /** With `identity`: `always` lists every user's SSH public keys (one call a user); otherwise bulk does not. */
  readonly sshPublicKeys?: SshPublicKeysListing | undefined
}

/** GetAccountAuthorizationDetails and ListUsers both take up to 1,000 items a page. */
const PAGE_SIZE = 1000
/** How far the ListUsers listing may run ahead of the user pages, in users. */
const LISTING_LEAD = 2 * PAGE_SIZE
/**
 * User pages read ahead of the stream: besides one being fetched, at most this many wait, read
 * while the credential report is generated and downloaded (at 10,000 users, that wait was a
 * fifth of a run with nothing else to do).
 */
const USER_PAGES_AHEAD = 2
/**
 * How many of a page's users go down the stream together. The stream would take a page as one
 * chunk of 1,000 and describe and decode them all before the first is mapped; a few at a time,
 * each user's objects die young (at 100,000 users, a peak RSS some 15 MB lower and steadier).
 */
const USERS_AT_ONCE = 32

/** The items of `array`, each dropped from it as it is taken, so that the array holds only those still to come. */
const taking = <A>(array: Array<A>): Iterable<A> => ({
  *[Symbol.iterator]() {
    for (let i = 0; i < array.length; i++) {
      const item = array[i]!
      ;(array as Array<A | undefined>)[i] = undefined
      yield item
    }
  }
})

/** Each page of a paginated call, fetched as the stream is pulled, checked (`paging.ts`) against the bound `limit` picks. */
const pageStream = <A>(
  fetch: (marker: string | undefined) => Effect.Effect<Page<A>, IamError, Iam>,
  limit: (limits: ListingLimits) => number | undefined
) =>
  Stream.unwrap(Effect.map(checkedListing(limit), (check) =>
    Stream.paginate(undefined as string | undefined, (marker) =>
      fetch(marker).pipe(
        Effect.flatMap(check),
        Effect.map((page) => [[page.items], Option.fromUndefinedOr(page.marker)] as const)
      ))))

/** The same, the next page fetched while this one is used. */
const pageArrays = <A>(
  fetch: (marker: string | undefined) => Effect.Effect<Page<A>, IamError, Iam>,
  limit: (limits: ListingLimits) => number | undefined
) => pageStream(fetch, limit).pipe(Stream.buffer({ capacity: 1 }))

const pages = <A>(
  fetch: (marker: string | undefined) => Effect.Effect<Page<A>, IamError, Iam>,
  limit: (limits: ListingLimits) => number | undefined
) => pageArrays(fetch, limit).pipe(Stream.flattenIterable)

interface PageWaiter {
  missing: number
  readonly done: () => void
}

/**
 * ListUsers' PasswordLastUsed (epoch ms; null: never used), filled in as its pages arrive and
 * taken a user page at a time: a listing waits here until its user comes, or a user page until
 * its users are listed. After the last listing page, a user never listed was created since:
 * `undefined`. The listing may run at most `LISTING_LEAD` users ahead of the user pages,
 * unless a user page waits for it (the two calls may list users in different orders).
 */
class PasswordUse {
  private readonly listed = new Map<string, number | null>()
  private readonly waiting = new Map<string, PageWaiter>()
  private finished = false
  private listingPaused: (() => void) | undefined

  /** Waits until the listing may add another page. */
  readonly room: Effect.Effect<void> = Effect.suspend(() =>
    this.mayList() ? Effect.void : Effect.callback<void>((resume) => {
      this.listingPaused = () => resume(Effect.void)
    })
  )

  private mayList(): boolean {
    return this.listed.size < LISTING_LEAD || this.waiting.size > 0
  }

  private wake(): void {
    const resume = this.listingPaused
    if (resume !== undefined && this.mayList()) {
      this.listingPaused = undefined
      resume()
    }
  }

  add(name: string, lastUsed: number | null): void {
    this.listed.set(name, lastUsed)
    const waiter = this.waiting.get(name)
    if (waiter === undefined) return
    this.waiting.delete(name)
    waiter.missing -= 1
    if (waiter.missing === 0) waiter.done()
  }

  finish(): void {
    this.finished = true
    const waiters = new Set(this.waiting.values())
    this.waiting.clear()
    for (const waiter of waiters) waiter.done()
  }

  take(names: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<number | null | undefined>> {
    const pop = () =>
      names.map((name) => {
        const lastUsed = this.listed.get(name)
        this.listed.delete(name)
        return lastUsed
      })
    const popAndWake = () => {
      const taken = pop()
      this.wake()
      return taken
    }
    return Effect.suspend(() => {
      const missing = this.finished ? [] : names.filter((name) => !this.listed.has(name))
      if (missing.length === 0) return Effect.sync(popAndWake)
      return Effect.callback<ReadonlyArray<number | null | undefined>>((resume) => {
        const waiter: PageWaiter = { missing: missing.length, done: () => resume(Effect.sync(popAndWake)) }
        for (const name of missing) this.waiting.set(name, waiter)
        this.wake()
        return Effect.sync(() => {
          for (const name of missing) this.waiting.delete(name)
        })
      })
    })
  }
}

/** What the strict profiles read of the whole account beyond the spec's sources (`identity.ts`). */
export interface IdentityIndex {
  /** The groups' and the account's managed policies, judged; read again per group or policy only when missing. */
  readonly sources: PolicySources
  /** The credential report's identity cells, by user name; each entry dropped once its user is emitted. */
  readonly report: ReportIdentityRows
  /** ListServiceSpecificCredentials with AllUsers, by user name; each entry dropped once its user is emitted. */
  readonly credentials: Map<string, Array<ServiceSpecificCredentialMetadata>>
}

export interface AccountIndex {
  readonly groups: ReadonlyMap<string, GroupDetail>
  /** Absent unless the profile needs identities. */
  readonly identity: IdentityIndex | undefined
  /** The credential report's rows; a user without one was created after the report. */
  readonly report: ReportRows
  readonly reportAgeMs: number
  /** When the report was generated: what the users' report facts are as of (`Reported`). */
  readonly reportGeneratedAt: Date
  readonly passwordUse: PasswordUse
  /** The ListUsers paging that fills `passwordUse`, running. */
  readonly listing: Fiber.Fiber<void, IamError>
  /** GetAccountAuthorizationDetails' user pages (Filter=User), read ahead since the group listing ended. */
  readonly userPages: Queue.Dequeue<ReadonlyArray<PackedUserDetail>, IamError | Cause.Done>
}

/**
 * Reads the account-wide sources. GetAccountAuthorizationDetails comes first: when it is
 * denied, the run learns it before asking AWS to generate a report it will not use. The
 * ListUsers paging and the user pages start next and run on, as long as the stream that uses
 * them; while the report is generated, they read ahead as far as they may.
 */
export const indexAccount: (options: BulkOptions) => Effect.Effect<AccountIndex, IamError, Iam | Scope.Scope> = Effect
  .fn("bulk index")(function*(options: BulkOptions) {
    const iam = yield* Iam
    const groups = new Map<string, GroupDetail>()
    yield* pages((m) => iam.groupDetails(m, PAGE_SIZE), (limits) => limits.groups).pipe(
      Stream.runForEach((g) =>
        Effect.sync(() => {
          if (g.GroupName !== undefined) groups.set(g.GroupName, g)
        })
      )
    )

    const passwordUse = new PasswordUse()
    // Generating a report takes a while: list the users meanwhile.
    const listing = yield* pageArrays((m) => iam.listLastPasswordUse(m, PAGE_SIZE), (limits) => limits.users).pipe(
      Stream.runForEach((users) =>
        Effect.andThen(
          passwordUse.room,
          Effect.sync(() => {
            for (const u of users) {
              if (u.userName !== "") passwordUse.add(u.userName, u.lastUsed)
            }
          })
        )
      ),
      // Only a listing that ended says who is not listed; a failed one fails the run instead.
      Effect.andThen(Effect.sync(() => passwordUse.finish())),
      Effect.forkScoped
    )
    const userPages = yield* Queue.bounded<ReadonlyArray<PackedUserDetail>, IamError | Cause.Done>(USER_PAGES_AHEAD)
    const paging = yield* pageStream((m) => iam.userDetails(m, PAGE_SIZE), (limits) => limits.users).pipe(
      Stream.runIntoQueue(userPages),
      Effect.forkScoped
    )
    // A run that cannot use the report (and may fall back to per-user) needs neither.
    const stopReading = Effect.andThen(Fiber.interrupt(listing), Fiber.interrupt(paging))
    const { ageMs, rows, generatedAt, identity: reportIdentity } = yield* fetchCredentialReport(options.maxCredentialReportAge, options.identity === true).pipe(
      Effect.onError(() => stopReading)
    )
    const identity = options.identity === true
      ? yield* indexIdentity(groups, reportIdentity).pipe(Effect.onError(() => stopReading))
      : undefined
    yield* Effect.annotateCurrentSpan({ "iam.groups": groups.size, "credential_report.users": rows.size })
    const index: AccountIndex = {
      groups,
      identity,
      report: rows,
      reportAgeMs: ageMs,
      reportGeneratedAt: generatedAt,
      passwordUse,
      listing,
      userPages
    }
    return index
  })

/**
 * The account-wide sources of the strict profiles: the account's managed policies
 * (GetAccountAuthorizationDetails, Filter=LocalManagedPolicy), the groups' policies (judged from
 * the group listing already read) and every user's service-specific credentials
 * (ListServiceSpecificCredentials with AllUsers).
 */
const indexIdentity = Effect.fnUntraced(function*(groups: ReadonlyMap<string, GroupDetail>, report: ReportIdentityRows) {
  const iam = yield* Iam
  // A document that cannot be read fails the users it applies to, not the run: kept as its error.
  const policies = new Map<string, PolicyVerdict | IamError>()
  yield* pages((m) => iam.policyDetails(m, PAGE_SIZE), () => undefined).pipe(
    Stream.runForEach((p) =>
      judgeManagedPolicy(p).pipe(
        Effect.match({
          onFailure: (error) => void policies.set(p.Arn ?? "", error),
          onSuccess: ([arn, verdict]) => void policies.set(arn, verdict)
        })
      )
    )
  )
  const managedNow = makePolicySources(iam, { policies, groups: new Map() }).managedNow
  const judgedGroups = new Map<string, ReadonlyArray<AppliedPolicyJson> | IamError>()
  for (const [name, g] of groups) {
    const judged = yield* judgeGroup(g, managedNow).pipe(Effect.catch((error) => Effect.succeed(error)))
    if (judged !== undefined) judgedGroups.set(name, judged)
  }
  const credentials = new Map<string, Array<ServiceSpecificCredentialMetadata>>()
  // A user may hold several: the listing is checked for loops and truncation, not bounded by the user count.
  yield* pages((m) => iam.listAllServiceSpecificCredentials(m, PAGE_SIZE), () => undefined).pipe(
    Stream.runForEach((c) =>
      Effect.sync(() => {
        const name = c.UserName ?? ""
        const held = credentials.get(name)
        if (held === undefined) credentials.set(name, [c])
        else held.push(c)
      })
    )
  )
  const index: IdentityIndex = { sources: makePolicySources(iam, { policies, groups: judgedGroups }), report, credentials }
  return index
})

/** Every user of the account, described by the bulk sources (or, failing them, per user). */
export const bulkUsers = (index: AccountIndex, options: BulkOptions): Stream.Stream<UserOutcome, IamError, Iam> =>
  Stream.unwrap(Effect.gen(function*() {
    const iam = yield* Iam
    let perUser = 0
    let keyListings = 0
    // What a user described by the report has from it: MFA and the password, and its keys unless listed.
    const reportedWithKeys: Reported = { at: index.reportGeneratedAt, keys: true, certificates: true }
    let certificateListings = 0
    // No account-wide call lists SSH keys: bulk lists them user by user only when asked to.
    const listSsh = options.sshPublicKeys === "always"

    /** Whether the report row and the listing say all `complete` needs of them (its groups aside). */
    const reportDescribes = (packed: number | undefined, lastUsed: number | null | undefined) => {
      if (packed === undefined || lastUsed === undefined) return false
      const row = unpackRow(packed)
      return row.passwordEnabled !== null && row.mfaActive !== null && row.activeKeys !== null
    }

    /**
     * The user's JSON from the bulk sources, or undefined when they do not tell all of it (no
     * report row or listing entry, a report cell that is not true/false, an unknown group).
     */
    const complete = (detail: UserDetail, name: string, packed: number | undefined, lastUsed: number | null | undefined) => {
      if (packed === undefined || lastUsed === undefined || !reportDescribes(packed, lastUsed)) return undefined
      const row = unpackRow(packed)
      const groups: Array<GroupDetail> = []
      for (const groupName of detail.GroupList ?? []) {
        const g = index.groups.get(groupName)
        if (g === undefined) return undefined
        groups.push(g)
      }
      // GetAccountAuthorizationDetails leaves out an empty list, as GetUser leaves out empty Tags.
      return {
        UserId: detail.UserId,
        UserName: name,
        Arn: detail.Arn,
        Path: detail.Path,
        CreateDate: iso(detail.CreateDate),
        PasswordLastUsed: lastUsed === null ? null : new Date(lastUsed).toISOString(),
        ConsoleAccessEnabled: row.passwordEnabled,
        MFAActive: row.mfaActive,
        ActiveAccessKeyCount: row.activeKeys,
        Tags: (detail.Tags ?? []).map(tagJson),
        Groups: groups.map(groupJson),
        AttachedPolicies: (detail.AttachedManagedPolicies ?? []).map(policyJson),
        InlinePolicyNames: (detail.UserPolicyList ?? []).map((p) => p.PolicyName)
      } satisfies Record<Exclude<keyof IamUserJson, "AccessKeys" | "MFADevices" | "Identity">, unknown>
    }

    /** The per-user strategy's calls for one user, from a summary as ListUsers (or GetUser) gives it. */
    const perUserCalls = (detail: UserDetail, name: string, lastUsed: number | null | undefined) => {
      const summary: Effect.Effect<User, IamError> = lastUsed !== undefined
        ? Effect.succeed({
          UserName: name,
          UserId: detail.UserId,
          Arn: detail.Arn,
          Path: detail.Path,
          CreateDate: detail.CreateDate,
          ...(lastUsed === null ? {} : { PasswordLastUsed: new Date(lastUsed) })
        } as User)
        : iam.getUser(name)
      return Effect.flatMap(summary, (s) => enrichUser(s, index.identity?.sources, listSsh))
    }

    /** What `identity` needs of a user, from the bulk sources, with the keys and certificates listed so far. */
    const identityInput = (
      detail: UserDetail,
      name: string,
      report: ReportIdentity,
      accessKeys: ReadonlyArray<AccessKeyMetadata>,
      certificates: ReadonlyArray<SigningCertificate>,
      credentials: ReadonlyArray<ServiceSpecificCredentialMetadata>,
      sshPublicKeys: ReadonlyArray<SSHPublicKeyMetadata> | undefined
    ): IdentityInput => ({
      userName: name,
      accessKeys,
      attached: detail.AttachedManagedPolicies ?? [],
      inline: detail.UserPolicyList ?? [],
      groupNames: detail.GroupList ?? [],
      boundaryArn: detail.PermissionsBoundary?.PermissionsBoundaryArn,
      certificates,
      credentials,
      sshPublicKeys,
      report
    })

    /*
     * The thunks of the users the bulk sources describe are made by these two, not in `collect`:
     * the closures made in one function share its context, so a thunk made there would hold what
     * `collect` read (the user's details and JSON, and through their strings the whole text of the
     * user's answer) until the stream takes the user. Measured: with 10 accounts read at once,
     * some 6,000 users held read so, and 5 MB of answers' text behind them.
     */

    /** A user all from the bulk sources: read again, described and decoded when the stream takes it. */
    const described = (user: PackedUserDetail, packed: number | undefined, lastUsed: number | null | undefined, collectedAt: Date) =>
    (): UserOutcome => {
      const name = user.UserName
      const read = user.unpack()
      const full = complete(read, name, packed, lastUsed)
      const decoded = decodeCollectedNow(name, options.accessKeyIds ? withKeys(full, []) : full)
      return decoded instanceof IamError
        ? { _tag: "Failed", userName: name, arn: read.Arn, userId: read.UserId, error: decoded }
        : { _tag: "Collected", user: decoded, collectedAt }
    }

    /** The same with its `Identity`, for a user that needs no call for it (no key, no certificate). */
    const describedWithIdentity = (
      user: PackedUserDetail,
      packed: number | undefined,
      lastUsed: number | null | undefined,
      collectedAt: Date,
      ids: IdentityIndex,
      report: ReportIdentity,
      credentials: ReadonlyArray<ServiceSpecificCredentialMetadata>
    ) =>
    (): UserOutcome => {
      const name = user.UserName
      const read = user.unpack()
      const assembled = Effect.runSyncExit(identity(iam, ids.sources, identityInput(read, name, report, [], [], credentials, undefined)))
      const decoded = Exit.isSuccess(assembled)
        ? decodeCollectedNow(name, { ...withKeys(complete(read, name, packed, lastUsed), [])!, Identity: assembled.value })
        : Cause.squash(assembled.cause) as IamError
      return decoded instanceof IamError
        ? { _tag: "Failed", userName: name, arn: read.Arn, userId: read.UserId, error: decoded }
        : { _tag: "Collected", user: decoded, collectedAt, reported: reportedWithKeys }
    }

    /**
     * One user: from the bulk sources (a thunk, run when the stream takes the user, that reads
     * the user's answer again rather than hold it read), or an effect when it needs AWS calls.
     */
    const collect = (
      user: PackedUserDetail,
      lastUsed: number | null | undefined,
      collectedAt: Date
    ): (() => UserOutcome) | Effect.Effect<UserOutcome, never, Iam> => {
      const name = user.UserName
      const packed = index.report.get(name)
      // Each user is emitted once, so its row is done with: the map shrinks as the run goes.
      index.report.delete(name)
      const ids = index.identity
      const identityCells = ids?.report.get(name)
      const credentials = ids?.credentials.get(name) ?? []
      ids?.report.delete(name)
      ids?.credentials.delete(name)
      // Without key ids, or with none to list (the report shows no key): all from the bulk sources.
      // That is told without reading the user, whom the thunk reads once, when the stream takes it.
      if (
        ids === undefined && reportDescribes(packed, lastUsed) &&
        (!options.accessKeyIds || unpackRow(packed!).hasKeys === false) &&
        user.groupNames().every((g) => index.groups.has(g))
      ) return described(user, packed, lastUsed, collectedAt)
      const detail = user.unpack()
      const json = complete(detail, name, packed, lastUsed)
      if (json === undefined || (ids !== undefined && identityCells === undefined)) {
        perUser += 1
        return outcome({ userName: name, arn: detail.Arn, userId: detail.UserId }, perUserCalls(detail, name, lastUsed))
      }
      const hasKeys = unpackRow(packed!).hasKeys !== false
      if (ids === undefined) {
        // Key ids, and the report shows a key (or does not say): the keys are listed.
        keyListings += 1
        const listed = allPages((m) => iam.listAccessKeys(name, m)).pipe(
          Effect.flatMap((keys) => decodeCollected(name, withKeys(json, keys.map(accessKeyJson))))
        )
        return outcome({ userName: name, arn: detail.Arn, userId: detail.UserId }, listed)
      }

      // The strict profiles: keys and signing certificates listed only where the report shows some.
      const report = readReportIdentity(identityCells!)
      const hasCertificates = report.hasCertificates !== false
      const withIdentity = (identityJson: IdentityJson, keys: ReadonlyArray<AccessKeyMetadata>) => ({
        ...withKeys(json, keys.map(accessKeyJson))!,
        Identity: identityJson
      })
      if (!hasKeys && !hasCertificates && !listSsh && identityNeedsNoCall(identityInput(detail, name, report, [], [], credentials, undefined), ids.sources)) {
        return describedWithIdentity(user, packed, lastUsed, collectedAt, ids, report, credentials)
      }
      if (hasKeys) keyListings += 1
      if (hasCertificates) certificateListings += 1
      const listed = Effect.all({
        keys: hasKeys ? allPages((m) => iam.listAccessKeys(name, m)) : Effect.succeed([]),
        certificates: hasCertificates ? allPages((m) => iam.listSigningCertificates(name, m)) : Effect.succeed([]),
        ssh: listSsh ? allPages((m) => iam.listSshPublicKeys(name, m)) : Effect.succeed(undefined)
      }, { concurrency: "unbounded" }).pipe(
        Effect.flatMap(({ certificates, keys, ssh }) =>
          identity(iam, ids.sources, identityInput(detail, name, report, keys, certificates, credentials, ssh)).pipe(
            Effect.flatMap((identityJson) => decodeCollected(name, withIdentity(identityJson, keys)))
          )
        )
      )
      return outcome({ userName: name, arn: detail.Arn, userId: detail.UserId }, listed).pipe(
        // What was not listed (the report shows none) is the report's.
        Effect.map((o): UserOutcome =>
          o._tag === "Collected" ? { ...o, reported: { at: index.reportGeneratedAt, keys: !hasKeys, certificates: !hasCertificates } } : o
        )
      )
    }

    /** The user's JSON with its keys listed: their count is then the listing's, not the report's. */
    const withKeys = <J extends { readonly ActiveAccessKeyCount: unknown }>(json: J | undefined, keys: ReadonlyArray<unknown>) => {
      if (json === undefined) return undefined
      const { ActiveAccessKeyCount: _, ...withoutCount } = json
      return { ...withoutCount, AccessKeys: keys }
    }

    /**
     * A page's users: those the bulk sources describe (as thunks: each is read again, described
     * and decoded only when the stream takes it, a few at a time, each let go of as it is taken:
     * a page, a chunk of 1,000 to the stream, would otherwise be described, decoded and held
     * whole until its last user is out), and beside them those that need calls, each as soon
     * as its calls are answered.
     */
    const pageUsers = (details: ReadonlyArray<PackedUserDetail>): Stream.Stream<(() => UserOutcome) | UserOutcome, never, Iam> =>
      Stream.unwrap(index.passwordUse.take(details.map((d) => d.UserName)).pipe(
        // The page's users are collected once their listing entries are in hand too.
        Effect.zip(Clock.currentTimeMillis),
        Effect.map(([lastUsed, now]) => {
          const collectedAt = new Date(now)
          const ready: Array<() => UserOutcome> = []
          const calls: Array<Effect.Effect<UserOutcome, never, Iam>> = []
          details.forEach((detail, i) => {
            const result = collect(detail, lastUsed[i], collectedAt)
            if (Effect.isEffect(result)) calls.push(result)
            else ready.push(result)
          })
          const described = Stream.fromIterable(taking(ready), { chunkSize: USERS_AT_ONCE })
          if (calls.length === 0) return described
          const called = Stream.fromIterable(taking(calls)).pipe(
            usersAtOnce(iam, options.concurrency, (call) => Effect.provideService(call, Iam, iam))
          )
          return Stream.merge(described, called)
        })
      ))

    return Stream.fromQueue(index.userPages).pipe(
      // Two pages at once: one may wait for its listing, or for its users' calls, while the
      // next is read. The calls in flight are bounded by `Iam`, not by this.
      Stream.flatMap(pageUsers, { concurrency: 2 }),
      Stream.map((user) => typeof user === "function" ? user() : user),
      // The listing's failure is the run's, but the run ends with the last user page: listing pages
      // nobody will take (users created meanwhile) would otherwise hold it open, or block it for good.
      Stream.merge(Stream.fromEffectDrain(Fiber.join(index.listing)), { haltStrategy: "left" }),
      Stream.onEnd(Effect.suspend(() =>
        Effect.logInfo(
          `bulk collection: ${perUser} users needed the per-user calls (not in the credential report or ` +
            `the user listing, in an unknown group, or with a report cell not true/false)` +
            (options.accessKeyIds ? `; ${keyListings} needed ListAccessKeys (the report shows a key, or does not say)` : "") +
            (index.identity !== undefined ? `; ${certificateListings} needed ListSigningCertificates (the report shows one, or does not say)` : "") +
            (index.identity !== undefined && listSsh ? "; every user needed ListSSHPublicKeys (collection.sshPublicKeys is \"always\")" : "")
        )
      ))
    )
  }))
