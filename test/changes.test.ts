/**
 * Change detection without a run: the snapshot a user leaves in the state (the same whichever
 * strategy collected it), `diffUser` for every change kind in its stable order, the class 3001
 * event of every kind (valid against the OCSF 1.6.0 schemas, core and cloud, with their lint
 * checks), which events a run sends (`emissionFor`), and the config fields (`ocsf.emit`,
 * `ocsf.snapshotEvery`, `state.path`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { type Change, CHANGE_KINDS, deletion, diffUser } from "../src/changes/diff.ts"
import { withoutStaleReport } from "../src/changes/detect.ts"
import { emissionFor } from "../src/changes/emission.ts"
import { snapshotHash, snapshotJson, toSnapshot, type UserSnapshot, withStateSshKeys } from "../src/changes/snapshot.ts"
import { IamUser, type IamUserJson } from "../src/iam/IamUser.ts"
import { changeMapperFor, type ChangeProfile } from "../src/ocsf/index.ts"
import { parseConfig } from "../src/run/AppConfig.ts"
import { statePath } from "../src/state/StateConfig.ts"
import { ocsfValidator, schemaErrors, type SchemaVariant } from "./ocsf-schemas.ts"

const decodeUser = Schema.decodeUnknownSync(IamUser)

/** A user as the per-user strategy gives it: devices and keys listed. */
const perUserJson: IamUserJson = {
  UserId: "AIDACHANGES000000001",
  UserName: "alice",
  Arn: "arn:aws:iam::123456789012:user/engineering/alice",
  Path: "/engineering/",
  CreateDate: "2020-06-04T10:00:00Z",
  PasswordLastUsed: "2025-08-26T09:30:00Z",
  AccessKeys: [
    { AccessKeyId: "AKIAKEYB000000000002", Status: "Inactive", CreateDate: "2021-01-01T00:00:00Z" },
    { AccessKeyId: "AKIAKEYA000000000001", Status: "Active", CreateDate: "2020-06-04T10:00:00Z" }
  ],
  MFADevices: [{ SerialNumber: "arn:aws:iam::123456789012:mfa/alice", EnableDate: "2020-07-15T14:00:00Z" }],
  ConsoleAccessEnabled: true,
  Tags: [{ Key: "Team", Value: "platform" }, { Key: "Env", Value: "prod" }],
  Groups: [
    { GroupName: "Ops", GroupId: "AGPAOPS0000000000002", Arn: "arn:aws:iam::123456789012:group/ops/Ops", Path: "/ops/" },
    { GroupName: "Admins", GroupId: "AGPAADMINS0000000001", Arn: "arn:aws:iam::123456789012:group/Admins", Path: "/" }
  ],
  AttachedPolicies: [
    { PolicyName: "ReadOnlyAccess", PolicyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" },
    { PolicyName: "Deploy", PolicyArn: "arn:aws:iam::123456789012:policy/Deploy" }
  ],
  InlinePolicyNames: ["KmsDecrypt", "AllowS3Upload"]
}

const base: UserSnapshot = toSnapshot(decodeUser(perUserJson))

const with_ = (changes: Partial<UserSnapshot>): UserSnapshot => ({ ...base, ...changes })

const certificate = { Type: "SigningCertificate", Id: "TA7SMP42TDN5Z26OBPJE7EXAMPLE", Status: "Active" } as const
const sshKey = { Type: "SSHPublicKey", Id: "APKAEIBAERJR2EXAMPLE", Status: "Inactive" } as const
const credential = { Type: "ServiceSpecificCredential", Id: "ACCAEXAMPLE123EXAMPLE", Status: "Active" } as const
/** `base` as a strict profile's run records it: its other credentials and boundary too. */
const withIdentity = (changes: Partial<UserSnapshot> = {}): UserSnapshot =>
  with_({ Admin: false, Credentials: [certificate, credential], SSHPublicKeys: [sshKey], PermissionsBoundary: null, ...changes })

describe("the user snapshot", () => {
  it("is the same for a user collected per user and in bulk (MFA as the report says it), whatever the order of the lists", () => {
    const { MFADevices: _, ...rest } = perUserJson
    const bulk = decodeUser({
      ...rest,
      MFAActive: true,
      PasswordLastUsed: "2026-01-01T00:00:00Z",
      AccessKeys: [...perUserJson.AccessKeys!].reverse(),
      Tags: [...perUserJson.Tags].reverse(),
      Groups: [...perUserJson.Groups!].reverse(),
      AttachedPolicies: [...perUserJson.AttachedPolicies!].reverse(),
      InlinePolicyNames: [...perUserJson.InlinePolicyNames!].reverse()
    })
    assert.deepStrictEqual(toSnapshot(bulk), base)
    assert.strictEqual(snapshotHash(toSnapshot(bulk)), snapshotHash(base))
    // a second MFA device is use of MFA, not a change of whether the user has it
    const twoDevices = decodeUser({
      ...perUserJson,
      MFADevices: [...perUserJson.MFADevices!, { SerialNumber: "GAHT12345678", EnableDate: "2024-01-01T00:00:00Z" }]
    })
    assert.strictEqual(snapshotHash(toSnapshot(twoDevices)), snapshotHash(base))
    assert.deepStrictEqual(base.AccessKeys.map((k) => k.AccessKeyId), ["AKIAKEYA000000000001", "AKIAKEYB000000000002"])
    assert.deepStrictEqual(base.Tags.map((t) => t.Key), ["Env", "Team"])
  })

  it("keeps the state's SSH public keys where a run did not list them, as the same JSON (and hash) a run that listed them makes", () => {
    const listed = withIdentity()
    const { SSHPublicKeys: _, ...notListed } = listed
    const kept = withStateSshKeys(listed, notListed)
    assert.strictEqual(snapshotJson(kept), snapshotJson(listed))
    // listed now (even none), or unknown to the state too: this run's own
    assert.strictEqual(withStateSshKeys(listed, withIdentity({ SSHPublicKeys: [] })).SSHPublicKeys!.length, 0)
    assert.strictEqual(withStateSshKeys(notListed, notListed), notListed)
  })

  it("refuses a user whose keys, groups or policies were not listed, rather than invent a change", () => {
    const { AccessKeys: _, ...noKeys } = perUserJson
    assert.throws(() => toSnapshot(decodeUser({ ...noKeys, ActiveAccessKeyCount: 1 })), /access keys of alice were not collected/)
    const { Groups: __, ...noGroups } = perUserJson
    assert.throws(() => toSnapshot(decodeUser(noGroups)), /groups of alice were not collected/)
  })
})

/** One example of each change kind: the snapshot after it, and the change expected. */
const examples: ReadonlyArray<{ readonly after: UserSnapshot | undefined; readonly before: UserSnapshot | undefined; readonly expected: Change }> = [
  { before: undefined, after: base, expected: { _tag: "Created" } },
  { before: base, after: undefined, expected: { _tag: "Deleted" } },
  {
    before: base,
    after: with_({ UserName: "alice.m", Arn: "arn:aws:iam::123456789012:user/engineering/alice.m" }),
    expected: { _tag: "Renamed", previous: { UserName: "alice", Path: "/engineering/", Arn: base.Arn } }
  },
  { before: with_({ MFA: false }), after: base, expected: { _tag: "MfaEnabled" } },
  { before: base, after: with_({ MFA: false }), expected: { _tag: "MfaDisabled" } },
  {
    before: base,
    after: with_({ AttachedPolicies: [...base.AttachedPolicies, { PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess", PolicyName: "AdministratorAccess" }] }),
    expected: { _tag: "PolicyAttached", policy: { PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess", PolicyName: "AdministratorAccess" } }
  },
  {
    before: base,
    after: with_({ AttachedPolicies: base.AttachedPolicies.slice(1) }),
    expected: { _tag: "PolicyDetached", policy: base.AttachedPolicies[0]! }
  },
  { before: base, after: with_({ InlinePolicyNames: [...base.InlinePolicyNames, "SqsConsume"] }), expected: { _tag: "InlinePolicyAdded", policyName: "SqsConsume" } },
  { before: base, after: with_({ InlinePolicyNames: ["KmsDecrypt"] }), expected: { _tag: "InlinePolicyRemoved", policyName: "AllowS3Upload" } },
  {
    before: with_({ AccessKeys: [base.AccessKeys[0]!] }),
    after: base,
    expected: { _tag: "AccessKeyCreated", key: base.AccessKeys[1]! }
  },
  { before: base, after: with_({ AccessKeys: [base.AccessKeys[1]!] }), expected: { _tag: "AccessKeyDeleted", key: base.AccessKeys[0]! } },
  {
    before: base,
    after: with_({ AccessKeys: [base.AccessKeys[0]!, { ...base.AccessKeys[1]!, Status: "Active" }] }),
    expected: { _tag: "AccessKeyActivated", key: { ...base.AccessKeys[1]!, Status: "Active" } }
  },
  {
    before: base,
    after: with_({ AccessKeys: [{ ...base.AccessKeys[0]!, Status: "Inactive" }, base.AccessKeys[1]!] }),
    expected: { _tag: "AccessKeyDeactivated", key: { ...base.AccessKeys[0]!, Status: "Inactive" } }
  },
  {
    before: withIdentity({ SSHPublicKeys: [] }),
    after: withIdentity(),
    expected: { _tag: "CredentialAdded", credential: sshKey }
  },
  { before: withIdentity(), after: withIdentity({ Credentials: [credential] }), expected: { _tag: "CredentialRemoved", credential: certificate } },
  {
    before: withIdentity(),
    after: withIdentity({ SSHPublicKeys: [{ ...sshKey, Status: "Active" }] }),
    expected: { _tag: "CredentialActivated", credential: { ...sshKey, Status: "Active" } }
  },
  {
    before: withIdentity(),
    after: withIdentity({ Credentials: [certificate, { ...credential, Status: "Inactive" }] }),
    expected: { _tag: "CredentialDeactivated", credential: { ...credential, Status: "Inactive" } }
  },
  { before: with_({ ConsoleAccess: false }), after: base, expected: { _tag: "PasswordAdded" } },
  { before: base, after: with_({ ConsoleAccess: false }), expected: { _tag: "PasswordRemoved" } },
  {
    before: base,
    after: with_({ Groups: [...base.Groups, { GroupId: "AGPASEC0000000000003", GroupName: "Security" }] }),
    expected: { _tag: "GroupJoined", group: { GroupId: "AGPASEC0000000000003", GroupName: "Security" } }
  },
  { before: base, after: with_({ Groups: base.Groups.slice(1) }), expected: { _tag: "GroupLeft", group: base.Groups[0]! } },
  { before: with_({ Admin: false }), after: with_({ Admin: true }), expected: { _tag: "AdminGranted" } },
  { before: with_({ Admin: true }), after: with_({ Admin: false }), expected: { _tag: "AdminRevoked" } },
  {
    before: withIdentity(),
    after: withIdentity({ PermissionsBoundary: "arn:aws:iam::123456789012:policy/DevBoundary" }),
    expected: { _tag: "BoundaryChanged", from: null, to: "arn:aws:iam::123456789012:policy/DevBoundary" }
  },
  {
    before: base,
    after: with_({ Tags: [{ Key: "Env", Value: "staging" }, { Key: "Owner", Value: "bob" }] }),
    expected: {
      _tag: "TagsChanged",
      added: [{ Key: "Owner", Value: "bob" }],
      removed: [{ Key: "Team", Value: "platform" }],
      changed: [{ Key: "Env", from: "prod", to: "staging" }]
    }
  }
]

const changesOf = (e: (typeof examples)[number]): ReadonlyArray<Change> =>
  e.after === undefined ? deletion : diffUser(e.before, e.after)

describe("diffUser", () => {
  it("finds each change kind as exactly one change, and nothing in an unchanged user", () => {
    assert.deepStrictEqual(examples.map((e) => e.expected._tag), CHANGE_KINDS)
    for (const e of examples) assert.deepStrictEqual(changesOf(e), [e.expected], e.expected._tag)
    assert.deepStrictEqual(diffUser(base, base), [])
    // a state recorded before Admin was kept says nothing: no change until both states say
    assert.deepStrictEqual(diffUser(base, with_({ Admin: true })), [])
    assert.deepStrictEqual(diffUser(with_({ Admin: true }), base), [])
    // the same for the other credentials and the boundary; and SSH keys a run did not list say nothing
    const { Admin: _, ...identityNoAdmin } = withIdentity({ Credentials: [], SSHPublicKeys: [], PermissionsBoundary: "arn:aws:iam::aws:policy/X" })
    assert.deepStrictEqual(diffUser(base, identityNoAdmin), [])
    assert.deepStrictEqual(diffUser(identityNoAdmin, base), [])
    const { SSHPublicKeys: __, ...notListed } = withIdentity()
    assert.deepStrictEqual(diffUser(withIdentity(), notListed), [])
    assert.deepStrictEqual(diffUser(notListed, withIdentity({ SSHPublicKeys: [] })), [])
  })

  it("a rename, a path move, or both at once is one change; the user is the same UserId", () => {
    const moved = with_({ Path: "/ops/", Arn: "arn:aws:iam::123456789012:user/ops/alice" })
    const both = with_({ UserName: "al", Path: "/ops/", Arn: "arn:aws:iam::123456789012:user/ops/al" })
    for (const after of [moved, both]) {
      assert.deepStrictEqual(diffUser(base, after), [{ _tag: "Renamed", previous: { UserName: "alice", Path: "/engineering/", Arn: base.Arn } }])
    }
    assert.throws(() => diffUser(base, with_({ UserId: "AIDAOTHER" })), /two different users/)
  })

  it("lists many changes in the order of CHANGE_KINDS, each kind sorted by id, the same every time", () => {
    const after = with_({
      UserName: "alice2",
      Arn: "arn:aws:iam::123456789012:user/engineering/alice2",
      MFA: false,
      AttachedPolicies: [
        { PolicyArn: "arn:aws:iam::aws:policy/ZZZ", PolicyName: "ZZZ" },
        { PolicyArn: "arn:aws:iam::aws:policy/AAA", PolicyName: "AAA" }
      ],
      InlinePolicyNames: ["b-new", "a-new"],
      AccessKeys: [
        { AccessKeyId: "AKIAKEYC000000000003", Status: "Active", CreateDate: "2026-01-01T00:00:00.000Z" },
        { ...base.AccessKeys[1]!, Status: "Active" }
      ],
      ConsoleAccess: false,
      Groups: [{ GroupId: "AGPAZZZ", GroupName: "Z" }, { GroupId: "AGPAAAA", GroupName: "A" }],
      Tags: []
    })
    const changes = diffUser(base, after)
    const order = changes.map((c) => c._tag)
    assert.deepStrictEqual(order, [
      "Renamed",
      "MfaDisabled",
      "PolicyAttached",
      "PolicyAttached",
      "PolicyDetached",
      "PolicyDetached",
      "InlinePolicyAdded",
      "InlinePolicyAdded",
      "InlinePolicyRemoved",
      "InlinePolicyRemoved",
      "AccessKeyCreated",
      "AccessKeyDeleted",
      "AccessKeyActivated",
      "PasswordRemoved",
      "GroupJoined",
      "GroupJoined",
      "GroupLeft",
      "GroupLeft",
      "TagsChanged"
    ])
    const ids = changes.map((c) =>
      "policy" in c ? c.policy.PolicyArn : "policyName" in c ? c.policyName : "group" in c ? c.group.GroupId : "key" in c ? c.key.AccessKeyId : c._tag
    )
    assert.deepStrictEqual(ids.slice(2, 10), [
      "arn:aws:iam::aws:policy/AAA",
      "arn:aws:iam::aws:policy/ZZZ",
      "arn:aws:iam::123456789012:policy/Deploy",
      "arn:aws:iam::aws:policy/ReadOnlyAccess",
      "a-new",
      "b-new",
      "AllowS3Upload",
      "KmsDecrypt"
    ])
    assert.deepStrictEqual(ids.slice(14, 18), ["AGPAAAA", "AGPAZZZ", "AGPAADMINS0000000001", "AGPAOPS0000000000002"])
    assert.deepStrictEqual(diffUser(base, after), changes)
  })

  it("a key created already inactive is only created; a key going from Inactive to Expired is neither activated nor deactivated", () => {
    const inactive = { AccessKeyId: "AKIAKEYC000000000003", Status: "Inactive" as const, CreateDate: "2026-01-01T00:00:00.000Z" }
    assert.deepStrictEqual(diffUser(base, with_({ AccessKeys: [...base.AccessKeys, inactive] })), [{ _tag: "AccessKeyCreated", key: inactive }])
    assert.deepStrictEqual(diffUser(base, with_({ AccessKeys: [base.AccessKeys[0]!, { ...base.AccessKeys[1]!, Status: "Expired" }] })), [])
  })
})

const observedAt = new Date("2026-02-03T04:05:06.789Z")

describe("Account Change (3001) events", () => {
  const variants: Record<ChangeProfile, ReadonlyArray<SchemaVariant>> = { strict: ["core", "core.lint"], "strict-cloud": ["cloud", "cloud.lint"] }
  const expectedActivity: Record<Change["_tag"], readonly [number, string]> = {
    Created: [1, "Create"],
    Deleted: [6, "Delete"],
    Renamed: [99, "Other"],
    MfaEnabled: [10, "MFA Factor Enable"],
    MfaDisabled: [11, "MFA Factor Disable"],
    PolicyAttached: [7, "Attach Policy"],
    PolicyDetached: [8, "Detach Policy"],
    InlinePolicyAdded: [7, "Attach Policy"],
    InlinePolicyRemoved: [8, "Detach Policy"],
    AccessKeyCreated: [99, "Other"],
    AccessKeyDeleted: [99, "Other"],
    AccessKeyActivated: [99, "Other"],
    AccessKeyDeactivated: [99, "Other"],
    CredentialAdded: [99, "Other"],
    CredentialRemoved: [99, "Other"],
    CredentialActivated: [99, "Other"],
    CredentialDeactivated: [99, "Other"],
    PasswordAdded: [99, "Other"],
    PasswordRemoved: [99, "Other"],
    GroupJoined: [99, "Other"],
    GroupLeft: [99, "Other"],
    AdminGranted: [99, "Other"],
    AdminRevoked: [99, "Other"],
    BoundaryChanged: [99, "Other"],
    TagsChanged: [99, "Other"]
  }

  for (const profile of ["strict", "strict-cloud"] as const) {
    it(`every change kind gives a valid event in ${profile} (${variants[profile].join(", ")})`, () => {
      const map = changeMapperFor(profile)
      for (const e of examples) {
        const event = map(e.expected, { observedAt, previous: e.before, current: e.after }) as any
        for (const variant of variants[profile]) {
          assert.deepStrictEqual(schemaErrors(ocsfValidator("account_change", variant), event), [], `${e.expected._tag} (${variant})`)
        }
        const [id, name] = expectedActivity[e.expected._tag]
        assert.strictEqual(event.class_uid, 3001)
        assert.strictEqual(event.activity_id, id, e.expected._tag)
        assert.strictEqual(event.activity_name, name)
        assert.strictEqual(event.type_uid, 300100 + id)
        assert.strictEqual(event.time, observedAt.getTime())
        assert.strictEqual(event.user.uid, (e.after ?? e.before)!.Arn)
        assert.strictEqual(event.user.uid_alt, base.UserId)
        assert.strictEqual(event.unmapped.change.kind.replaceAll("_", ""), e.expected._tag.toLowerCase())
        if (profile === "strict-cloud") {
          assert.deepStrictEqual(event.cloud, { provider: "AWS", cloud_partition: "aws", account: { uid: "123456789012", type_id: 10, type: "AWS Account" } })
          assert.deepStrictEqual(event.metadata.profiles, ["cloud"])
        }
      }
    })
  }

  it("carries the user as the strict profile describes it, the policy of a policy change, and says what changed", () => {
    const map = changeMapperFor("strict")
    const byTag = new Map(examples.map((e) => [e.expected._tag, map(e.expected, { observedAt, previous: e.before, current: e.after }) as any]))
    assert.deepStrictEqual(byTag.get("Created").user, {
      uid: base.Arn,
      uid_alt: base.UserId,
      name: "alice",
      type_id: 1,
      type: "User",
      has_mfa: true,
      account: { uid: "123456789012", type_id: 10, type: "AWS Account" },
      groups: [{ name: "Admins", uid: "AGPAADMINS0000000001" }, { name: "Ops", uid: "AGPAOPS0000000000002" }],
      programmatic_credentials: [
        { uid: "AKIAKEYA000000000001", type: "AWS Access Key" },
        { uid: "AKIAKEYB000000000002", type: "AWS Access Key" }
      ]
    })
    assert.strictEqual(byTag.get("MfaDisabled").user.has_mfa, false)
    assert.deepStrictEqual(byTag.get("PolicyAttached").policies, [
      { name: "AdministratorAccess", uid: "arn:aws:iam::aws:policy/AdministratorAccess", type: "AWS Managed Policy" }
    ])
    assert.deepStrictEqual(byTag.get("PolicyDetached").policies, [
      { name: "Deploy", uid: "arn:aws:iam::123456789012:policy/Deploy", type: "Customer Managed Policy" }
    ])
    assert.deepStrictEqual(byTag.get("InlinePolicyRemoved").policies, [{ name: "AllowS3Upload", type: "Inline Policy" }])
    assert.isUndefined(byTag.get("GroupJoined").policies)
    const messages = Object.fromEntries([...byTag].map(([tag, event]) => [tag, event.message]))
    assert.deepStrictEqual(messages, {
      Created: "IAM user alice created",
      Deleted: "IAM user alice deleted",
      Renamed: "IAM user alice renamed to alice.m",
      MfaEnabled: "MFA enabled for IAM user alice",
      MfaDisabled: "MFA disabled for IAM user alice",
      PolicyAttached: "managed policy AdministratorAccess (arn:aws:iam::aws:policy/AdministratorAccess) attached to IAM user alice",
      PolicyDetached: "managed policy Deploy (arn:aws:iam::123456789012:policy/Deploy) detached from IAM user alice",
      InlinePolicyAdded: "inline policy SqsConsume added to IAM user alice",
      InlinePolicyRemoved: "inline policy AllowS3Upload removed from IAM user alice",
      AccessKeyCreated: "access key AKIAKEYB000000000002 created for IAM user alice (Inactive)",
      AccessKeyDeleted: "access key AKIAKEYA000000000001 of IAM user alice deleted",
      AccessKeyActivated: "access key AKIAKEYB000000000002 of IAM user alice activated",
      AccessKeyDeactivated: "access key AKIAKEYA000000000001 of IAM user alice deactivated (Inactive)",
      CredentialAdded: "SSH public key APKAEIBAERJR2EXAMPLE added for IAM user alice (Inactive)",
      CredentialRemoved: "signing certificate TA7SMP42TDN5Z26OBPJE7EXAMPLE of IAM user alice deleted",
      CredentialActivated: "SSH public key APKAEIBAERJR2EXAMPLE of IAM user alice activated",
      CredentialDeactivated: "service-specific credential ACCAEXAMPLE123EXAMPLE of IAM user alice deactivated (Inactive)",
      PasswordAdded: "console password added for IAM user alice",
      PasswordRemoved: "console password removed from IAM user alice",
      GroupJoined: "IAM user alice added to group Security",
      GroupLeft: "IAM user alice removed from group Admins",
      AdminGranted: "IAM user alice became an administrator",
      AdminRevoked: "IAM user alice is no longer an administrator",
      BoundaryChanged: "permissions boundary arn:aws:iam::123456789012:policy/DevBoundary set on IAM user alice",
      TagsChanged: "tags of IAM user alice changed: added Owner=bob; removed Team; changed Env from prod to staging"
    })
    assert.deepStrictEqual(byTag.get("Renamed").unmapped.change, {
      kind: "renamed",
      previous: { name: "alice", path: "/engineering/", uid: base.Arn }
    })
    assert.deepStrictEqual(byTag.get("AccessKeyDeleted").unmapped.change, {
      kind: "access_key_deleted",
      access_key: { uid: "AKIAKEYA000000000001", status: "Active", created_time: Date.parse("2020-06-04T10:00:00Z") }
    })
    assert.deepStrictEqual(byTag.get("CredentialRemoved").unmapped.change, {
      kind: "credential_removed",
      credential: { uid: "TA7SMP42TDN5Z26OBPJE7EXAMPLE", type: "X.509 Signing Certificate", status: "Active" }
    })
    assert.deepStrictEqual(byTag.get("BoundaryChanged").unmapped.change, {
      kind: "boundary_changed",
      permissions_boundary: { from: null, to: "arn:aws:iam::123456789012:policy/DevBoundary" }
    })
    assert.deepStrictEqual(byTag.get("TagsChanged").unmapped.change.tags, {
      added: { Owner: "bob" },
      removed: { Team: "platform" },
      changed: { Env: { from: "prod", to: "staging" } }
    })
  })

  it("metadata.uid is the same for the same change between the same states (a repeat can be dropped), different otherwise", () => {
    const map = changeMapperFor("strict")
    const [, , renamed] = examples
    const uid = (ctx: { previous: UserSnapshot | undefined; current: UserSnapshot | undefined }, at = observedAt) =>
      (map(renamed!.expected, { observedAt: at, ...ctx }) as any).metadata.uid as string
    const once = uid({ previous: renamed!.before, current: renamed!.after })
    assert.strictEqual(uid({ previous: renamed!.before, current: renamed!.after }, new Date()), once)
    assert.notStrictEqual(uid({ previous: with_({ MFA: false }), current: renamed!.after }), once)
    const all = examples.map((e) => (map(e.expected, { observedAt, previous: e.before, current: e.after }) as any).metadata.uid)
    assert.strictEqual(new Set(all).size, all.length)
  })
})

describe("a fact from a stale credential report", () => {
  const lastCommit = new Date("2026-03-01T10:00:00Z")
  const older = new Date("2026-03-01T09:00:00Z")
  const newer = new Date("2026-03-01T11:00:00Z")
  const reportSays = with_({ MFA: false, ConsoleAccess: false, AccessKeys: [], Tags: [] })

  it("keeps the state's MFA, password and (when the report gave them) keys when the report is older than the last commit; the rest is compared", () => {
    assert.deepStrictEqual(withoutStaleReport(base, reportSays, { at: older, keys: true, certificates: false }, lastCommit), { ...base, Tags: [] })
    assert.deepStrictEqual(withoutStaleReport(base, reportSays, { at: older, keys: false, certificates: false }, lastCommit), { ...base, AccessKeys: [], Tags: [] })
    assert.deepStrictEqual(diffUser(base, withoutStaleReport(base, reportSays, { at: older, keys: true, certificates: false }, lastCommit)).map((c) => c._tag), ["TagsChanged"])
  })

  it("keeps the state's signing certificates when the report gave them (it showed none), the other credentials compared", () => {
    const before = withIdentity()
    const inactive = { ...credential, Status: "Inactive" as const }
    const reportShowsNone = withIdentity({ Credentials: [inactive] })
    const kept = withoutStaleReport(before, reportShowsNone, { at: older, keys: false, certificates: true }, lastCommit)
    assert.deepStrictEqual(kept.Credentials, [inactive, certificate])
    assert.deepStrictEqual(diffUser(before, kept).map((c) => c._tag), ["CredentialDeactivated"])
    // listed (certificates: false): a certificate gone is a change
    const listed = withoutStaleReport(before, reportShowsNone, { at: older, keys: false, certificates: false }, lastCommit)
    assert.deepStrictEqual(diffUser(before, listed).map((c) => c._tag), ["CredentialRemoved", "CredentialDeactivated"])
  })

  it("compares everything when the report is not older than the last commit, when nothing came from a report, or on a first run", () => {
    assert.strictEqual(withoutStaleReport(base, reportSays, { at: newer, keys: true, certificates: true }, lastCommit), reportSays)
    assert.strictEqual(withoutStaleReport(base, reportSays, { at: lastCommit, keys: true, certificates: true }, lastCommit), reportSays)
    assert.strictEqual(withoutStaleReport(base, reportSays, undefined, lastCommit), reportSays)
    assert.strictEqual(withoutStaleReport(base, reportSays, { at: older, keys: true, certificates: false }, undefined), reportSays)
    const agrees = with_({ Tags: [] })
    assert.strictEqual(withoutStaleReport(base, agrees, { at: older, keys: true, certificates: false }, lastCommit), agrees)
  })
})

describe("which events a run sends", () => {
  const day = Duration.days(1)
  const now = new Date("2026-03-01T00:00:00Z")
  const ago = (ms: number) => new Date(now.getTime() - ms)
  const seen = { lastCompleteRun: ago(3_600_000), lastSnapshot: ago(3_600_000) }

  it("snapshot: the inventory only, no state; the first run of changes or both is a baseline that sends the inventory", () => {
    assert.deepStrictEqual(emissionFor({ emit: "snapshot" }, seen, now), { snapshot: true, changes: false, baseline: false, state: false })
    for (const emit of ["changes", "both"] as const) {
      assert.deepStrictEqual(
        emissionFor({ emit, snapshotEvery: emit === "changes" ? day : undefined }, { lastCompleteRun: undefined, lastSnapshot: undefined }, now),
        { snapshot: true, changes: false, baseline: true, state: true }
      )
    }
    assert.deepStrictEqual(emissionFor({ emit: "both" }, seen, now), { snapshot: true, changes: true, baseline: false, state: true })
  })

  it("changes: the inventory again only when snapshotEvery has passed since the last one sent", () => {
    assert.deepStrictEqual(emissionFor({ emit: "changes" }, seen, now), { snapshot: false, changes: true, baseline: false, state: true })
    assert.isFalse(emissionFor({ emit: "changes", snapshotEvery: day }, seen, now).snapshot)
    assert.isTrue(emissionFor({ emit: "changes", snapshotEvery: day }, { ...seen, lastSnapshot: ago(86_400_000) }, now).snapshot)
    assert.isTrue(emissionFor({ emit: "changes", snapshotEvery: day }, { ...seen, lastSnapshot: undefined }, now).snapshot)
  })
})

describe("config: ocsf.emit, ocsf.snapshotEvery, state.path", () => {
  const sinks = `"sinks": [{ "type": "stdout" }]`
  const parse = (text: string) => parseConfig(text, "config.json", {})
  const problems = (text: string) => parse(text).pipe(Effect.flip, Effect.map((e) => e.problems))

  it.effect("defaults: snapshot, no snapshotEvery, the state beside the dead-letter file", () =>
    Effect.gen(function*() {
      const config = yield* parse(`{ ${sinks} }`)
      assert.deepStrictEqual(config.ocsf, { profile: "spec", emit: "snapshot" })
      assert.deepStrictEqual(config.state, {})
      assert.strictEqual(statePath(config.state, config.deadLetter.path), "state.sqlite")
      const elsewhere = yield* parse(`{ "deadLetter": { "path": "/var/lib/iam-ocsf/dl.ndjson" }, ${sinks} }`)
      assert.strictEqual(statePath(elsewhere.state, elsewhere.deadLetter.path), "/var/lib/iam-ocsf/state.sqlite")
      const explicit = yield* parse(`{ "state": { "path": "/tmp/s.db" }, ${sinks} }`)
      assert.strictEqual(statePath(explicit.state, explicit.deadLetter.path), "/tmp/s.db")
    }))

  it.effect("changes with a strict profile and snapshotEvery", () =>
    Effect.gen(function*() {
      const config = yield* parse(`{ "ocsf": { "profile": "strict-cloud", "emit": "changes", "snapshotEvery": "1d" }, ${sinks} }`)
      assert.strictEqual(config.ocsf.emit, "changes")
      assert.strictEqual(Duration.toMillis(config.ocsf.snapshotEvery!), 86_400_000)
    }))

  it.effect("refused: changes with the spec profile, snapshotEvery without changes, an unknown emit, a tiny snapshotEvery", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(`{ "ocsf": { "emit": "changes" }, ${sinks} }`), [
        `ocsf: emit "changes" needs profile "strict" or "strict-cloud": the spec profile has no change events (OCSF class 3001 events use the strict profiles' user object)`
      ])
      assert.deepStrictEqual(yield* problems(`{ "ocsf": { "profile": "strict", "emit": "both", "snapshotEvery": "1d" }, ${sinks} }`), [
        `ocsf: snapshotEvery applies to emit "changes" only (emit "both" sends the snapshot every run)`
      ])
      assert.deepStrictEqual(yield* problems(`{ "ocsf": { "emit": "diff" }, ${sinks} }`), [
        `ocsf.emit: expected one of "snapshot", "changes", "both"; found "diff"`
      ])
      assert.deepStrictEqual(yield* problems(`{ "ocsf": { "profile": "strict", "emit": "changes", "snapshotEvery": "5s" }, ${sinks} }`), [
        `ocsf.snapshotEvery: expected a duration between 1m and 365d; found "5s"`
      ])
      assert.deepStrictEqual(yield* problems(`{ "state": { "path": "" }, ${sinks} }`), [`state.path: expected a non-empty string; found ""`])
    }))
})
