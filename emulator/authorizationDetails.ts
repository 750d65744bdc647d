/**
 * GetAccountAuthorizationDetails, as the emulator renders it: a user's details carry its tags,
 * the *names* of its groups, its attached managed policies and its inline policies with their
 * documents (URL-encoded JSON, as AWS sends them); a group's details carry its id and ARN.
 * A user's lists come in the reverse order of the per-user calls' (ListUserTags, ...): AWS
 * promises no order, and a client that depended on one would give different events by strategy.
 */
import type { GroupRecord, UserRecord } from "./account.ts"
import { el, list, xmlEscape } from "./xml.ts"

/** The entity types a `Filter` may name; the emulated account has users and groups only. */
export const ENTITY_FILTERS = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"] as const
export type EntityFilter = (typeof ENTITY_FILTERS)[number]

export const isEntityFilter = (s: string): s is EntityFilter => (ENTITY_FILTERS as ReadonlyArray<string>).includes(s)

/** A small, plausible policy document per inline policy name. */
const inlineDocument = (name: string): string =>
  encodeURIComponent(JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Sid: name, Effect: "Allow", Action: "sts:GetCallerIdentity", Resource: "*" }]
  }))

export const userDetailXml = (u: UserRecord): string =>
  el("Path", u.Path) + el("UserName", u.UserName) + el("UserId", u.UserId) + el("Arn", u.Arn) +
  el("CreateDate", u.CreateDate) +
  list("UserPolicyList", u.InlinePolicyNames.toReversed(), (n) => el("PolicyName", n) + el("PolicyDocument", inlineDocument(n))) +
  list("GroupList", u.Groups.toReversed(), (g) => xmlEscape(g.GroupName)) +
  list("AttachedManagedPolicies", u.AttachedPolicies.toReversed(), (p) => el("PolicyName", p.PolicyName) + el("PolicyArn", p.PolicyArn)) +
  list("Tags", u.Tags.toReversed(), (t) => el("Key", t.Key) + el("Value", t.Value))

export const groupDetailXml = (g: GroupRecord): string =>
  el("Path", g.Path) + el("GroupName", g.GroupName) + el("GroupId", g.GroupId) + el("Arn", g.Arn) +
  el("CreateDate", g.CreateDate) + "<GroupPolicyList/><AttachedManagedPolicies/>"
