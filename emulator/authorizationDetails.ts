/**
 * GetAccountAuthorizationDetails, as the emulator renders it: a user's details carry its tags,
 * the *names* of its groups, its attached managed policies, its inline policies with their
 * documents (URL-encoded JSON, as AWS sends them) and its permissions boundary; a group's details
 * carry its id, ARN, inline policies with their documents and attached managed policies; a managed
 * policy's details carry every version with its document. A user's and a group's lists come in the
 * reverse order of the per-user and per-group calls' (ListUserTags, ListAttachedGroupPolicies, ...):
 * AWS promises no order, and a client that depended on one would give different events by strategy.
 */
import type { GroupRecord, UserRecord } from "./account.ts"
import { inlineDocument, type ManagedPolicyRecord } from "./policies.ts"
import { el, list, xmlEscape } from "./xml.ts"

/** The entity types a `Filter` may name; the emulated account has users, groups and policies (no roles). */
export const ENTITY_FILTERS = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"] as const
export type EntityFilter = (typeof ENTITY_FILTERS)[number]

export const isEntityFilter = (s: string): s is EntityFilter => (ENTITY_FILTERS as ReadonlyArray<string>).includes(s)

/** A policy document as IAM sends it in every answer: URL-encoded (RFC 3986). */
export const encodedDocument = (json: string): string => encodeURIComponent(json)

/** The document of one of the user's inline policies: as written by PutUserPolicy, or the generator's. */
export const userInlineDocument = (u: UserRecord, name: string): string => u.InlinePolicyDocuments?.[name] ?? inlineDocument(name)

/** `<PermissionsBoundary>` as GetUser and GetAccountAuthorizationDetails give it; empty without one. */
export const boundaryXml = (u: UserRecord): string =>
  u.PermissionsBoundary === undefined
    ? ""
    : `<PermissionsBoundary>${el("PermissionsBoundaryType", "PermissionsBoundaryPolicy")}` +
      `${el("PermissionsBoundaryArn", u.PermissionsBoundary)}</PermissionsBoundary>`

export const userDetailXml = (u: UserRecord): string =>
  el("Path", u.Path) + el("UserName", u.UserName) + el("UserId", u.UserId) + el("Arn", u.Arn) +
  el("CreateDate", u.CreateDate) +
  list("UserPolicyList", u.InlinePolicyNames.toReversed(), (n) =>
    el("PolicyName", n) + el("PolicyDocument", encodedDocument(userInlineDocument(u, n)))) +
  list("GroupList", u.Groups.toReversed(), (g) => xmlEscape(g.GroupName)) +
  list("AttachedManagedPolicies", u.AttachedPolicies.toReversed(), (p) => el("PolicyName", p.PolicyName) + el("PolicyArn", p.PolicyArn)) +
  boundaryXml(u) +
  list("Tags", u.Tags.toReversed(), (t) => el("Key", t.Key) + el("Value", t.Value))

export const groupDetailXml = (g: GroupRecord): string =>
  el("Path", g.Path) + el("GroupName", g.GroupName) + el("GroupId", g.GroupId) + el("Arn", g.Arn) +
  el("CreateDate", g.CreateDate) +
  list("GroupPolicyList", g.InlinePolicies.toReversed(), (p) =>
    el("PolicyName", p.PolicyName) + el("PolicyDocument", encodedDocument(p.PolicyDocument))) +
  list("AttachedManagedPolicies", g.AttachedPolicies.toReversed(), (p) => el("PolicyName", p.PolicyName) + el("PolicyArn", p.PolicyArn))

/** A managed policy's details; its versions newest first (the default need not be the first). */
export const policyDetailXml = (p: ManagedPolicyRecord, usage: { readonly attachments: number; readonly boundaries: number }): string => {
  const updated = p.Versions[p.Versions.length - 1]!.CreateDate
  return el("PolicyName", p.PolicyName) + el("PolicyId", p.PolicyId) + el("Arn", p.PolicyArn) + el("Path", p.Path) +
    el("DefaultVersionId", p.DefaultVersionId) + `<AttachmentCount>${usage.attachments}</AttachmentCount>` +
    `<PermissionsBoundaryUsageCount>${usage.boundaries}</PermissionsBoundaryUsageCount>` +
    `<IsAttachable>${p.IsAttachable}</IsAttachable>` + el("CreateDate", p.CreateDate) + el("UpdateDate", updated) +
    list("PolicyVersionList", p.Versions.toReversed(), (v) =>
      el("Document", encodedDocument(v.Document)) + el("VersionId", v.VersionId) +
      `<IsDefaultVersion>${v.VersionId === p.DefaultVersionId}</IsDefaultVersion>` + el("CreateDate", v.CreateDate))
}
