/**
 * Who is an administrator, from what was collected of a user (`Identity`): pure, and the one
 * place the rule is written (the README's "Who is an admin" states it).
 *
 * A user is an administrator (OCSF `user.type_id` 2, "Admin") when a policy that applies to it
 * (attached to it, inline in it, or attached to or inline in one of its groups) allows every
 * action on every resource (`policyDocument.ts`), unless
 * - its permissions boundary does not allow every action on every resource (the boundary caps
 *   what its policies grant), or
 * - a policy that applies to it denies every action on every resource without a condition.
 * What policies allow short of everything (PowerUserAccess, `iam:*`) does not make an
 * administrator here: the rule is about "can do everything", not "can become anything".
 */
import type { AppliedPolicy, Identity, PermissionsBoundary } from "../iam/IamUser.ts"

export interface AdminVerdict {
  readonly admin: boolean
  /** The policies that allow everything (the user's own, then its groups'), whatever else applies. */
  readonly grantedBy: ReadonlyArray<AppliedPolicy>
  /** What takes it away: a boundary that does not allow everything, and policies that deny everything. */
  readonly revokedBy: {
    readonly boundary: PermissionsBoundary | undefined
    readonly denials: ReadonlyArray<AppliedPolicy>
  }
}

export const adminOf = (identity: Pick<Identity, "Policies" | "PermissionsBoundary">): AdminVerdict => {
  const grantedBy = identity.Policies.filter((p) => p.AllowsAll)
  const denials = identity.Policies.filter((p) => p.DeniesAll)
  const capping = identity.PermissionsBoundary !== null && !identity.PermissionsBoundary.AllowsAll
    ? identity.PermissionsBoundary
    : undefined
  return {
    admin: grantedBy.length > 0 && capping === undefined && denials.length === 0,
    grantedBy,
    revokedBy: { boundary: capping, denials }
  }
}
