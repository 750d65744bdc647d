/**
 * Fault injection and request counters of the IAM emulator. Random faults draw from a seeded
 * PRNG, so a run with the same seed and the same order of requests sees the same faults.
 */
import { prng } from "./account.ts"

/** The IAM actions the emulator answers. */
export const ACTIONS = [
  "ListUsers",
  "GetUser",
  "ListAccessKeys",
  "ListMFADevices",
  "GetLoginProfile",
  "ListUserTags",
  "ListGroupsForUser",
  "ListAttachedUserPolicies",
  "ListUserPolicies",
  "GetAccountSummary",
  "GetAccountAuthorizationDetails",
  "GenerateCredentialReport",
  "GetCredentialReport",
  "ListSSHPublicKeys",
  "ListSigningCertificates",
  "ListServiceSpecificCredentials",
  "GetAccessKeyLastUsed",
  "GetUserPolicy",
  "ListGroupPolicies",
  "ListAttachedGroupPolicies",
  "GetGroupPolicy",
  "GetPolicy",
  "GetPolicyVersion"
] as const
export type IamAction = (typeof ACTIONS)[number]

export const isAction = (s: string): s is IamAction => (ACTIONS as ReadonlyArray<string>).includes(s)

/**
 * Actions not about one user named by `UserName`: about the whole account, a group, a policy, or
 * an access key (GetAccessKeyLastUsed names the key only). ListServiceSpecificCredentials is about
 * one user, or with `AllUsers` about the whole account.
 */
export const ACCOUNT_ACTIONS: ReadonlySet<IamAction> = new Set([
  "ListUsers",
  "GetAccountSummary",
  "GetAccountAuthorizationDetails",
  "GenerateCredentialReport",
  "GetCredentialReport",
  "GetAccessKeyLastUsed",
  "ListGroupPolicies",
  "ListAttachedGroupPolicies",
  "GetGroupPolicy",
  "GetPolicy",
  "GetPolicyVersion"
])

/**
 * How an answer with HTTP status 200 is corrupted, as a proxy or a broken server might:
 * - `html`: an HTML error page (a proxy's "502 Bad Gateway", sent with status 200);
 * - `empty`: no body at all;
 * - `cut`: the answer cut off halfway (a corrupt page);
 * - `truncated-without-marker`: `IsTruncated` true, and no `Marker`;
 * - `marker-loop`: the request's `Marker` is ignored, so the first page comes back with the
 *   first page's `Marker` again, and again;
 * - `doctype`: a DOCTYPE defining an entity before the answer;
 * - `cdata`: every value written as a CDATA section followed by a comment (valid XML: the
 *   values must read the same);
 * - `inject`: `text`, as raw XML, at the start of every tag value (`<Value>`), e.g. a character
 *   reference out of range (`&#x110000;`), `&#0;`, a lone surrogate (`&#xD800;`) or `&nbsp;`.
 */
export const CORRUPTIONS = ["html", "empty", "cut", "truncated-without-marker", "marker-loop", "doctype", "cdata", "inject"] as const
export type CorruptionKind = (typeof CORRUPTIONS)[number]

export const isCorruption = (s: string): s is CorruptionKind => (CORRUPTIONS as ReadonlyArray<string>).includes(s)

export interface Corruption {
  readonly kind: CorruptionKind
  /** `inject`: the raw XML put at the start of every tag value. */
  readonly text?: string
}

/** Faults of one action (or of every action, under the key `"*"`). */
export interface ActionFaults {
  /** Fixed delay in milliseconds before the answer (any answer but a `requestsPerSecond` throttle). */
  readonly latencyMs?: number
  /** Probability (0..1) of `Throttling`, HTTP 400, "Rate exceeded". */
  readonly throttleRate?: number
  /** The first N calls of the action are throttled, whatever `throttleRate`: a call throttled N times in a row. */
  readonly throttleFirst?: number
  /** Probability (0..1) of `ServiceFailure`, HTTP 500, Type Receiver. */
  readonly errorRate?: number
  /** `true`: every call is denied; a list of user names: calls about those users are denied (HTTP 403 `AccessDenied`). */
  readonly accessDenied?: boolean | ReadonlyArray<string>
  /** Answers that would be 200 are corrupted (status 200 still); see `Corruption`. */
  readonly corrupt?: Corruption
  /** Only the first N answers of the action that can be corrupted are (default: every one). */
  readonly corruptTimes?: number
  /** Only answers about these users are corrupted (default: every answer). */
  readonly corruptUsers?: ReadonlyArray<string>
}

/**
 * Faults per action, `"*"` for every action (an action's own setting wins field by field),
 * and the account's `requestsPerSecond` budget (token bucket, burst = budget) above which
 * every request, whatever its action, is answered `Throttling` at once, as AWS does with an
 * account's IAM budget.
 */
export type Faults = { readonly [A in IamAction | "*"]?: ActionFaults } & {
  readonly requestsPerSecond?: number
  /**
   * Users deleted right after ListUsers lists them, as when someone deletes a user while a run
   * collects it: the calls about them that follow answer `NoSuchEntity`, and later listings
   * (ListUsers, GetAccountAuthorizationDetails) leave them out.
   */
  readonly deletedAfterListing?: ReadonlyArray<string>
}

export type Outcome = "ok" | "throttled" | "error" | "denied" | "notFound" | "rejected" | "corrupted"
export const OUTCOMES: ReadonlyArray<Outcome> = ["ok", "throttled", "error", "denied", "notFound", "rejected", "corrupted"]
export type OutcomeCounts = { readonly [O in Outcome]: number }

/**
 * Requests answered, by action and outcome. `rejected` counts every other client error
 * (missing authentication, unknown action, validation). Requests without an `Action` are
 * counted under `"(none)"`.
 */
export interface Counters {
  readonly total: number
  readonly byOutcome: OutcomeCounts
  readonly byAction: { readonly [action: string]: OutcomeCounts }
}

export type FaultDecision =
  | { readonly _tag: "none" }
  | { readonly _tag: "throttle" }
  | { readonly _tag: "error" }
  | { readonly _tag: "denied" }

const none: FaultDecision = { _tag: "none" }
const throttle: FaultDecision = { _tag: "throttle" }
const error: FaultDecision = { _tag: "error" }
const denied: FaultDecision = { _tag: "denied" }

const checkRate = (where: string, name: string, v: number | undefined): void => {
  if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`faults.${where}.${name} must be within 0..1, got ${v}`)
}

/** Throws a RangeError naming the first invalid setting. */
export const validateFaults = (faults: Faults): void => {
  for (const [key, value] of Object.entries(faults)) {
    if (key === "requestsPerSecond") {
      if (value !== undefined && !(typeof value === "number" && value > 0 && Number.isFinite(value))) {
        throw new RangeError(`faults.requestsPerSecond must be a positive number, got ${String(value)}`)
      }
      continue
    }
    if (key === "deletedAfterListing") {
      if (value !== undefined && !(Array.isArray(value) && value.every((v) => typeof v === "string"))) {
        throw new RangeError(`faults.deletedAfterListing must be a list of user names, got ${String(value)}`)
      }
      continue
    }
    if (key !== "*" && !isAction(key)) throw new RangeError(`faults: unknown action ${key} (known: *, ${ACTIONS.join(", ")})`)
    const f = value as ActionFaults | undefined
    if (f === undefined) continue
    if (f.latencyMs !== undefined && !(f.latencyMs >= 0 && Number.isFinite(f.latencyMs))) {
      throw new RangeError(`faults.${key}.latencyMs must be a non-negative number, got ${f.latencyMs}`)
    }
    checkRate(key, "throttleRate", f.throttleRate)
    checkRate(key, "errorRate", f.errorRate)
    if (f.corrupt !== undefined && !isCorruption(f.corrupt.kind)) {
      throw new RangeError(`faults.${key}.corrupt.kind must be one of ${CORRUPTIONS.join(", ")}, got ${String(f.corrupt.kind)}`)
    }
    if (f.corrupt?.kind === "inject" && typeof f.corrupt.text !== "string") {
      throw new RangeError(`faults.${key}.corrupt: inject needs a text`)
    }
    if (f.throttleFirst !== undefined && !(Number.isInteger(f.throttleFirst) && f.throttleFirst >= 0)) {
      throw new RangeError(`faults.${key}.throttleFirst must be an integer >= 0, got ${f.throttleFirst}`)
    }
    if (f.corruptTimes !== undefined && !(Number.isInteger(f.corruptTimes) && f.corruptTimes >= 0)) {
      throw new RangeError(`faults.${key}.corruptTimes must be an integer >= 0, got ${f.corruptTimes}`)
    }
  }
}

export interface FaultEngine {
  set(faults: Faults): void
  /** Token bucket of `requestsPerSecond`: false when the request is over budget. */
  admit(nowMs: number): boolean
  latencyMs(action: IamAction): number
  decide(action: IamAction, userName: string | undefined): FaultDecision
  /** Whether the user is to be deleted once ListUsers has listed it (`deletedAfterListing`). */
  deletedAfterListing(userName: string): boolean
  /** The corruption `action`'s answer about `userName` gets, if any (counted against `corruptTimes`). */
  corruption(action: IamAction, userName: string | undefined, kinds?: ReadonlySet<CorruptionKind>): Corruption | undefined
}

export const makeFaultEngine = (initial: Faults, seed: number): FaultEngine => {
  const random = prng(seed ^ 0x5eed)
  let faults: Faults = {}
  let rps: number | undefined
  let tokens = 0
  let last = 0
  /** Answers corrupted so far, by action, against `corruptTimes`. */
  let corrupted = new Map<IamAction, number>()
  /** Calls decided so far, by action, against `throttleFirst`. */
  let decided = new Map<IamAction, number>()

  const field = <K extends keyof ActionFaults>(action: IamAction, k: K): ActionFaults[K] | undefined => {
    const own = faults[action]?.[k]
    return own !== undefined ? own : faults["*"]?.[k]
  }
  const roll = (p: number | undefined): boolean =>
    p === undefined || p <= 0 ? false : p >= 1 ? true : random() < p

  const set = (f: Faults): void => {
    validateFaults(f)
    faults = f
    corrupted = new Map()
    decided = new Map()
    if (f.requestsPerSecond !== rps) {
      rps = f.requestsPerSecond
      tokens = rps ?? 0
      last = performance.now()
    }
  }
  set(initial)

  return {
    set,
    admit: (now) => {
      if (rps === undefined) return true
      tokens = Math.min(rps, tokens + ((now - last) * rps) / 1000)
      last = now
      if (tokens >= 1) {
        tokens -= 1
        return true
      }
      return false
    },
    latencyMs: (action) => field(action, "latencyMs") ?? 0,
    deletedAfterListing: (userName) => faults.deletedAfterListing?.includes(userName) ?? false,
    corruption: (action, userName, kinds) => {
      const c = field(action, "corrupt")
      if (c === undefined || (kinds !== undefined && !kinds.has(c.kind))) return undefined
      const users = field(action, "corruptUsers")
      if (users !== undefined && (userName === undefined || !users.includes(userName))) return undefined
      const done = corrupted.get(action) ?? 0
      const times = field(action, "corruptTimes")
      if (times !== undefined && done >= times) return undefined
      corrupted.set(action, done + 1)
      return c
    },
    decide: (action, userName) => {
      const first = field(action, "throttleFirst")
      if (first !== undefined) {
        const n = decided.get(action) ?? 0
        decided.set(action, n + 1)
        if (n < first) return throttle
      }
      if (roll(field(action, "throttleRate"))) return throttle
      const d = field(action, "accessDenied")
      if (d === true || (Array.isArray(d) && userName !== undefined && d.includes(userName))) return denied
      if (roll(field(action, "errorRate"))) return error
      return none
    }
  }
}

type MutableCounts = { [O in Outcome]: number }
const zero = (): MutableCounts => ({ ok: 0, throttled: 0, error: 0, denied: 0, notFound: 0, rejected: 0, corrupted: 0 })

export interface CounterStore {
  count(action: string, outcome: Outcome): void
  snapshot(): Counters
  reset(): void
}

export const makeCounters = (): CounterStore => {
  let byAction = new Map<string, MutableCounts>()
  let byOutcome = zero()
  let total = 0
  return {
    count: (action, outcome) => {
      let c = byAction.get(action)
      if (c === undefined) {
        c = zero()
        byAction.set(action, c)
      }
      c[outcome] += 1
      byOutcome[outcome] += 1
      total += 1
    },
    snapshot: () => ({
      total,
      byOutcome: { ...byOutcome },
      byAction: Object.fromEntries([...byAction].map(([a, c]) => [a, { ...c }]))
    }),
    reset: () => {
      byAction = new Map()
      byOutcome = zero()
      total = 0
    }
  }
}
