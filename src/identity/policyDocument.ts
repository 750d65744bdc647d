/**
 * What a policy document says about everything, judged the same way whichever call brought it
 * (GetAccountAuthorizationDetails, GetUserPolicy, GetGroupPolicy, GetPolicyVersion): whether it
 * allows every action on every resource, and whether it denies them all unconditionally. Pure.
 *
 * The rules (the README's "Who is an admin" states them for users of the events):
 * - a statement covers everything when its `Action` is or holds `*` (or `*:*`) and its
 *   `Resource` is or holds `*`; a statement with `NotAction` or `NotResource` never does
 *   (PowerUserAccess, "everything but IAM", is not everything);
 * - the document allows everything when an `Allow` statement covers everything, whatever its
 *   `Condition` (an administrator behind an MFA condition is still an administrator);
 * - it denies everything when a `Deny` statement covers everything without a `Condition`;
 * - an AWS managed policy is judged by its ARN: AdministratorAccess allows everything, no other
 *   does (AWS's documents are AWS's, and none other grants `*` on `*`), so that no run downloads
 *   AWS's documents to learn it.
 * IAM sends documents URL-encoded (RFC 3986); one that does not decode, or is not a policy, is
 * not guessed at: `judgeDocument` says what is wrong with it.
 */

export interface PolicyVerdict {
  /** An Allow statement covers every action on every resource. */
  readonly allowsAll: boolean
  /** A Deny statement covers every action on every resource, without a Condition. */
  readonly deniesAll: boolean
}

/** The verdict, or what is wrong with the document. */
export type Judged = PolicyVerdict | { readonly problem: string }

export const isProblem = (j: Judged): j is { readonly problem: string } => "problem" in j

const NOTHING: PolicyVerdict = { allowsAll: false, deniesAll: false }
const EVERYTHING: PolicyVerdict = { allowsAll: true, deniesAll: false }

const values = (v: unknown): ReadonlyArray<unknown> | undefined =>
  typeof v === "string" ? [v] : Array.isArray(v) ? v : undefined

const holdsAny = (v: unknown, wanted: ReadonlySet<string>): boolean => (values(v) ?? []).some((x) => typeof x === "string" && wanted.has(x))

const ALL_ACTIONS: ReadonlySet<string> = new Set(["*", "*:*"])
const ALL_RESOURCES: ReadonlySet<string> = new Set(["*"])

/** A statement that covers every action on every resource. */
const coversEverything = (s: Record<string, unknown>): boolean =>
  !("NotAction" in s) && !("NotResource" in s) && holdsAny(s["Action"], ALL_ACTIONS) && holdsAny(s["Resource"], ALL_RESOURCES)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Judges a policy document given as JSON text (already decoded). */
export const judgeJson = (json: string): Judged => {
  let document: unknown
  try {
    document = JSON.parse(json)
  } catch (e) {
    return { problem: `the policy document is not JSON (${e instanceof Error ? e.message : String(e)})` }
  }
  if (!isObject(document)) return { problem: "the policy document is not a JSON object" }
  const statements = isObject(document["Statement"]) ? [document["Statement"]] : document["Statement"]
  if (!Array.isArray(statements)) return { problem: "the policy document has no Statement" }
  let allowsAll = false
  let deniesAll = false
  for (const s of statements) {
    if (!isObject(s)) return { problem: "a Statement of the policy document is not an object" }
    const effect = s["Effect"]
    if (effect !== "Allow" && effect !== "Deny") return { problem: `a Statement has Effect ${JSON.stringify(effect)}, not Allow or Deny` }
    if (!coversEverything(s)) continue
    if (effect === "Allow") allowsAll = true
    else if (!("Condition" in s)) deniesAll = true
  }
  return { allowsAll, deniesAll }
}

/** Judges a policy document as IAM sends it: URL-encoded JSON. */
export const judgeDocument = (encoded: string): Judged => {
  let json: string
  try {
    json = decodeURIComponent(encoded)
  } catch {
    return { problem: "the policy document is not URL-encoded as IAM sends documents" }
  }
  return judgeJson(json)
}

const AWS_MANAGED = /^arn:[^:]+:iam::aws:policy\//
const ADMINISTRATOR_ACCESS = /^arn:[^:]+:iam::aws:policy\/AdministratorAccess$/

export const isAwsManaged = (arn: string): boolean => AWS_MANAGED.test(arn)

/** An AWS managed policy's verdict, from its ARN alone (see the module comment). */
export const awsManagedVerdict = (arn: string): PolicyVerdict => ADMINISTRATOR_ACCESS.test(arn) ? EVERYTHING : NOTHING
