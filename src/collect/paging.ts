/**
 * Pagination is checked, not believed. Every listing (ListUsers, GetAccountAuthorizationDetails,
 * each per-user list call) is followed page by page, and the listing as a whole fails with
 * BadData when its pages do not hold together:
 * - a page says IsTruncated but gives no Marker: the rest cannot be asked for, and taking the
 *   page for the last would pass off part of the listing as all of it;
 * - a Marker comes back that the listing gave before: it loops, and would never end;
 * - it holds more items, or more pages, than the account summary (GetAccountSummary, read once
 *   a run) makes possible: a listing that never repeats a marker but never ends either.
 * A listing that failed is not guessed from: ListUsers and GetAccountAuthorizationDetails fail
 * the run (exit code 1), a per-user list fails that user (dead-lettered).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { Iam, type Page } from "../iam/Iam.ts"
import { BadData, IamError } from "../iam/IamError.ts"

/** The most items each listing can hold; absent: not bounded (the summary was not available). */
export interface ListingLimits {
  /** Users in a listing of the account's users. */
  readonly users?: number | undefined
  /** Groups in a listing of the account's groups. */
  readonly groups?: number | undefined
  /** Items of one user's list, by action (`ListAccessKeys`, ...). */
  readonly perUser: { readonly [action: string]: number | undefined }
  /** Where the bounds come from, for the error that names them. */
  readonly source: string
}

const unbounded: ListingLimits = { perUser: {}, source: "no account summary" }

/** The bounds of the run's listings; `collect` provides them, read from the account summary. */
export const ListingLimits = Context.Reference<ListingLimits>("iam-ocsf/ListingLimits", { defaultValue: () => unbounded })

/** A count that may grow while the run lists it (users created meanwhile): a tenth more, and at least 100. */
const growing = (n: number | undefined) => n === undefined ? undefined : n + Math.max(100, Math.ceil(n / 10))

/** AWS allows at most 50 tags on an IAM user; the summary has no key for it. */
const TAGS_PER_USER = 50

export const limitsFromSummary = (summary: Readonly<Record<string, number>>): ListingLimits => ({
  users: growing(summary["Users"]),
  groups: growing(summary["Groups"]),
  perUser: {
    // Quotas are hard limits: a user cannot hold more.
    ListAccessKeys: summary["AccessKeysPerUserQuota"],
    ListGroupsForUser: summary["GroupsPerUserQuota"],
    ListAttachedUserPolicies: summary["AttachedPoliciesPerUserQuota"],
    // Every inline policy takes at least a character of the user's quota of policy text.
    ListUserPolicies: summary["UserPolicySizeQuota"],
    // A user has no more devices than the whole account.
    ListMFADevices: growing(summary["MFADevices"]),
    ListUserTags: TAGS_PER_USER
  },
  source: "the account summary (GetAccountSummary)"
})

/** The run's bounds, from GetAccountSummary; without it (denied, failing), listings are checked but not bounded. */
export const listingLimits: Effect.Effect<ListingLimits, never, Iam> = Effect.gen(function*() {
  const iam = yield* Iam
  return yield* iam.accountSummary.pipe(
    Effect.map(limitsFromSummary),
    Effect.catch((error) =>
      Effect.logWarning(
        `no account summary (${error.message}): listings are checked for loops and truncation, but not bounded`
      ).pipe(Effect.as(unbounded))
    )
  )
})

/** Markers remembered per listing; a loop longer than this is still caught by the bounds. */
const MARKERS_KEPT = 10_000

/**
 * The check of one listing: each page in turn, before it is used. `limit` is the most items the
 * listing can hold (absent: unbounded).
 */
export const pageChecker = (limit: number | undefined) => {
  const markers = new Set<string>()
  let pages = 0
  let items = 0
  return <A>(page: Page<A>): Effect.Effect<Page<A>, IamError> => {
    pages += 1
    items += page.items.length
    const bad = (code: string, message: string) =>
      Effect.fail(
        new IamError({
          action: page.action,
          ...(page.userName === undefined ? {} : { userName: page.userName }),
          reason: new BadData({ code, message })
        })
      )
    if (page.truncated && page.marker === undefined) {
      return bad("TruncatedWithoutMarker", `page ${pages} says IsTruncated but gives no Marker: the rest of the listing cannot be asked for`)
    }
    if (page.marker !== undefined) {
      if (markers.has(page.marker)) {
        return bad("MarkerRepeated", `page ${pages} gives a Marker the listing gave before: the listing loops`)
      }
      if (markers.size < MARKERS_KEPT) markers.add(page.marker)
    }
    // A page but the last holds an item or more, as a rule: twice that, and a few, leaves room
    // for the odd empty page and still ends a listing that would never end.
    if (limit !== undefined && (items > limit || pages > 2 * limit + 10)) {
      return bad(
        "TooManyPages",
        `${pages} pages and ${items} items, where the account summary allows at most ${limit} items`
      )
    }
    return Effect.succeed(page)
  }
}

/** `pageChecker` with the bound `limit` picks from the run's limits. */
export const checkedListing = (limit: (limits: ListingLimits) => number | undefined) =>
  Effect.map(ListingLimits, (limits) => pageChecker(limit(limits)))

/** Follows one per-user list call to its last page, checking its pages as above. One user's lists are small. */
export const allPages = Effect.fnUntraced(function*<A>(
  fetch: (marker: string | undefined) => Effect.Effect<Page<A>, IamError>
) {
  const limits = yield* ListingLimits
  let check: ((page: Page<A>) => Effect.Effect<Page<A>, IamError>) | undefined
  const items: Array<A> = []
  let marker: string | undefined = undefined
  do {
    const fetched: Page<A> = yield* fetch(marker)
    check ??= pageChecker(limits.perUser[fetched.action])
    const page = yield* check(fetched)
    items.push(...page.items)
    marker = page.marker
  } while (marker !== undefined)
  return items
})
