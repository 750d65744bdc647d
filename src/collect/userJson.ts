/**
 * The pieces of the spec-shaped user JSON that both strategies build from what the SDK returns,
 * written once so that `bulk` and `per-user` cannot drift apart in the fields they keep.
 */
import type { AccessKeyMetadata, AttachedPolicy, Tag } from "@aws-sdk/client-iam"

export const iso = (d: Date | undefined): string | undefined => d?.toISOString()

export const tagJson = (t: Tag) => ({ Key: t.Key, Value: t.Value })

/** ListGroupsForUser's `Group` and GetAccountAuthorizationDetails' `GroupDetail` alike. */
export const groupJson = (g: {
  readonly GroupName?: string | undefined
  readonly GroupId?: string | undefined
  readonly Arn?: string | undefined
  readonly Path?: string | undefined
}) => ({
  GroupName: g.GroupName,
  GroupId: g.GroupId,
  Arn: g.Arn,
  Path: g.Path
})

export const policyJson = (p: AttachedPolicy) => ({ PolicyName: p.PolicyName, PolicyArn: p.PolicyArn })

export const accessKeyJson = (k: AccessKeyMetadata) => ({ AccessKeyId: k.AccessKeyId, Status: k.Status, CreateDate: iso(k.CreateDate) })
