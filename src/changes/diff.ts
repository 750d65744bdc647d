/**
 * What changed about one user between two snapshots, as a list of changes in a stable order: the
 * kinds in the order of `CHANGE_KINDS`, and within a kind by the id of what changed (policy ARN,
 * key id, credential type and id, group id, policy name). Pure: the same two snapshots always give the same list.
 *
 * A user is identified by its UserId, so a rename or a path move is one `Renamed` change, not a
 * deletion and a creation. A creation or a deletion is the only change of its user.
 */
import {
  byText,
  credentialId,
  type SnapshotAccessKey,
  type SnapshotCredential,
  type SnapshotGroup,
  type SnapshotPolicy,
  type SnapshotTag,
  type UserSnapshot
} from "./snapshot.ts"

export type Change =
  | { readonly _tag: "Created" }
  | { readonly _tag: "Deleted" }
  /** The name, the path or both (one UpdateUser); `previous` is what they were, with the ARN they made. */
  | { readonly _tag: "Renamed"; readonly previous: { readonly UserName: string; readonly Path: string; readonly Arn: string } }
  | { readonly _tag: "MfaEnabled" }
  | { readonly _tag: "MfaDisabled" }
  | { readonly _tag: "PolicyAttached"; readonly policy: SnapshotPolicy }
  | { readonly _tag: "PolicyDetached"; readonly policy: SnapshotPolicy }
  | { readonly _tag: "InlinePolicyAdded"; readonly policyName: string }
  | { readonly _tag: "InlinePolicyRemoved"; readonly policyName: string }
  | { readonly _tag: "AccessKeyCreated"; readonly key: SnapshotAccessKey }
  | { readonly _tag: "AccessKeyDeleted"; readonly key: SnapshotAccessKey }
  | { readonly _tag: "AccessKeyActivated"; readonly key: SnapshotAccessKey }
  | { readonly _tag: "AccessKeyDeactivated"; readonly key: SnapshotAccessKey }
  /** A signing certificate, service-specific credential or SSH public key: uploaded or created. */
  | { readonly _tag: "CredentialAdded"; readonly credential: SnapshotCredential }
  | { readonly _tag: "CredentialRemoved"; readonly credential: SnapshotCredential }
  | { readonly _tag: "CredentialActivated"; readonly credential: SnapshotCredential }
  | { readonly _tag: "CredentialDeactivated"; readonly credential: SnapshotCredential }
  | { readonly _tag: "PasswordAdded" }
  | { readonly _tag: "PasswordRemoved" }
  | { readonly _tag: "GroupJoined"; readonly group: SnapshotGroup }
  | { readonly _tag: "GroupLeft"; readonly group: SnapshotGroup }
  /** The user became an administrator (`identity/admin.ts`), or is one no more: by a policy, a group, a boundary. */
  | { readonly _tag: "AdminGranted" }
  | { readonly _tag: "AdminRevoked" }
  /** The permissions boundary set, replaced or removed (null: none). */
  | { readonly _tag: "BoundaryChanged"; readonly from: string | null; readonly to: string | null }
  /** Every tag change of the user in one: tags are usually set together (one TagUser, one IaC apply). */
  | {
    readonly _tag: "TagsChanged"
    readonly added: ReadonlyArray<SnapshotTag>
    readonly removed: ReadonlyArray<SnapshotTag>
    readonly changed: ReadonlyArray<{ readonly Key: string; readonly from: string; readonly to: string }>
  }

export type ChangeKind = Change["_tag"]

/** The order changes of one user are listed (and emitted) in. */
export const CHANGE_KINDS: ReadonlyArray<ChangeKind> = [
  "Created",
  "Deleted",
  "Renamed",
  "MfaEnabled",
  "MfaDisabled",
  "PolicyAttached",
  "PolicyDetached",
  "InlinePolicyAdded",
  "InlinePolicyRemoved",
  "AccessKeyCreated",
  "AccessKeyDeleted",
  "AccessKeyActivated",
  "AccessKeyDeactivated",
  "CredentialAdded",
  "CredentialRemoved",
  "CredentialActivated",
  "CredentialDeactivated",
  "PasswordAdded",
  "PasswordRemoved",
  "GroupJoined",
  "GroupLeft",
  "AdminGranted",
  "AdminRevoked",
  "BoundaryChanged",
  "TagsChanged"
]

/** The items of `next` whose id `prev` does not have. */
const added = <A>(prev: ReadonlyArray<A>, next: ReadonlyArray<A>, id: (a: A) => string): Array<A> => {
  const before = new Set(prev.map(id))
  return next.filter((a) => !before.has(id(a)))
}

const sorted = <A>(items: ReadonlyArray<A>, id: (a: A) => string): Array<A> => [...items].sort(byText(id))

const isActive = (k: { readonly Status: string }) => k.Status === "Active"

/**
 * The credentials both snapshots say something about: each kind only when both hold it (a state
 * recorded before it was kept, or a run that did not list SSH keys, says nothing).
 */
const comparableCredentials = (previous: UserSnapshot, current: UserSnapshot) => {
  const both = <A>(a: A | undefined, b: A | undefined): boolean => a !== undefined && b !== undefined
  const creds = both(previous.Credentials, current.Credentials)
  const ssh = both(previous.SSHPublicKeys, current.SSHPublicKeys)
  return {
    before: [...(creds ? previous.Credentials! : []), ...(ssh ? previous.SSHPublicKeys! : [])],
    after: [...(creds ? current.Credentials! : []), ...(ssh ? current.SSHPublicKeys! : [])]
  }
}

/** The one change of a user that a complete listing no longer has. */
export const deletion: ReadonlyArray<Change> = [{ _tag: "Deleted" }]

/**
 * The changes from `previous` (undefined: the user is new) to `current`, both of the same UserId,
 * in the stable order described above. Empty when nothing that matters changed.
 */
export const diffUser = (previous: UserSnapshot | undefined, current: UserSnapshot): ReadonlyArray<Change> => {
  if (previous === undefined) return [{ _tag: "Created" }]
  if (previous.UserId !== current.UserId) {
    throw new Error(`diffUser: two different users (${previous.UserId}, ${current.UserId})`)
  }
  const changes: Array<Change> = []

  if (previous.UserName !== current.UserName || previous.Path !== current.Path) {
    changes.push({ _tag: "Renamed", previous: { UserName: previous.UserName, Path: previous.Path, Arn: previous.Arn } })
  }
  if (!previous.MFA && current.MFA) changes.push({ _tag: "MfaEnabled" })
  if (previous.MFA && !current.MFA) changes.push({ _tag: "MfaDisabled" })

  const policyId = (p: SnapshotPolicy) => p.PolicyArn
  for (const policy of sorted(added(previous.AttachedPolicies, current.AttachedPolicies, policyId), policyId)) {
    changes.push({ _tag: "PolicyAttached", policy })
  }
  for (const policy of sorted(added(current.AttachedPolicies, previous.AttachedPolicies, policyId), policyId)) {
    changes.push({ _tag: "PolicyDetached", policy })
  }
  const name = (n: string) => n
  for (const policyName of sorted(added(previous.InlinePolicyNames, current.InlinePolicyNames, name), name)) {
    changes.push({ _tag: "InlinePolicyAdded", policyName })
  }
  for (const policyName of sorted(added(current.InlinePolicyNames, previous.InlinePolicyNames, name), name)) {
    changes.push({ _tag: "InlinePolicyRemoved", policyName })
  }

  const keyId = (k: SnapshotAccessKey) => k.AccessKeyId
  const keys = sorted(current.AccessKeys, keyId)
  const previousKeys = new Map(previous.AccessKeys.map((k) => [k.AccessKeyId, k] as const))
  for (const key of keys) if (!previousKeys.has(key.AccessKeyId)) changes.push({ _tag: "AccessKeyCreated", key })
  for (const key of sorted(added(current.AccessKeys, previous.AccessKeys, keyId), keyId)) {
    changes.push({ _tag: "AccessKeyDeleted", key })
  }
  // A key is activated or deactivated when it enters or leaves Active (Inactive ↔ Expired is neither).
  for (const key of keys) {
    const before = previousKeys.get(key.AccessKeyId)
    if (before !== undefined && !isActive(before) && isActive(key)) changes.push({ _tag: "AccessKeyActivated", key })
  }
  for (const key of keys) {
    const before = previousKeys.get(key.AccessKeyId)
    if (before !== undefined && isActive(before) && !isActive(key)) changes.push({ _tag: "AccessKeyDeactivated", key })
  }

  // The other credentials, as the keys: activated or deactivated on entering or leaving Active.
  const credentials = comparableCredentials(previous, current)
  const after = sorted(credentials.after, credentialId)
  const before = new Map(credentials.before.map((c) => [credentialId(c), c] as const))
  for (const credential of after) if (!before.has(credentialId(credential))) changes.push({ _tag: "CredentialAdded", credential })
  for (const credential of sorted(added(credentials.after, credentials.before, credentialId), credentialId)) {
    changes.push({ _tag: "CredentialRemoved", credential })
  }
  for (const credential of after) {
    const was = before.get(credentialId(credential))
    if (was !== undefined && !isActive(was) && isActive(credential)) changes.push({ _tag: "CredentialActivated", credential })
  }
  for (const credential of after) {
    const was = before.get(credentialId(credential))
    if (was !== undefined && isActive(was) && !isActive(credential)) changes.push({ _tag: "CredentialDeactivated", credential })
  }

  if (!previous.ConsoleAccess && current.ConsoleAccess) changes.push({ _tag: "PasswordAdded" })
  if (previous.ConsoleAccess && !current.ConsoleAccess) changes.push({ _tag: "PasswordRemoved" })

  const groupId = (g: SnapshotGroup) => g.GroupId
  for (const group of sorted(added(previous.Groups, current.Groups, groupId), groupId)) changes.push({ _tag: "GroupJoined", group })
  for (const group of sorted(added(current.Groups, previous.Groups, groupId), groupId)) changes.push({ _tag: "GroupLeft", group })

  // Only between two states that both say: a state recorded before it was kept says nothing.
  if (previous.Admin === false && current.Admin === true) changes.push({ _tag: "AdminGranted" })
  if (previous.Admin === true && current.Admin === false) changes.push({ _tag: "AdminRevoked" })
  if (
    previous.PermissionsBoundary !== undefined && current.PermissionsBoundary !== undefined &&
    previous.PermissionsBoundary !== current.PermissionsBoundary
  ) {
    changes.push({ _tag: "BoundaryChanged", from: previous.PermissionsBoundary, to: current.PermissionsBoundary })
  }

  const tagKey = (t: { readonly Key: string }) => t.Key
  const previousTags = new Map(previous.Tags.map((t) => [t.Key, t.Value] as const))
  const currentTags = new Map(current.Tags.map((t) => [t.Key, t.Value] as const))
  const tagsAdded = sorted(current.Tags.filter((t) => !previousTags.has(t.Key)), tagKey)
  const tagsRemoved = sorted(previous.Tags.filter((t) => !currentTags.has(t.Key)), tagKey)
  const tagsChanged = sorted(
    current.Tags.flatMap((t) => {
      const before = previousTags.get(t.Key)
      return before !== undefined && before !== t.Value ? [{ Key: t.Key, from: before, to: t.Value }] : []
    }),
    tagKey
  )
  if (tagsAdded.length + tagsRemoved.length + tagsChanged.length > 0) {
    changes.push({ _tag: "TagsChanged", added: tagsAdded, removed: tagsRemoved, changed: tagsChanged })
  }
  return changes
}
