/**
 * Change events end to end, as people run them: `iam-ocsf run --once` in a child process against
 * the emulator, an administrator's changes made through the real SDK between two runs, the events
 * read back from the file sink and the state store read back with `iam-ocsf state show`. Every
 * change kind through both strategies gives exactly its 3001 event (schema-valid) and nothing
 * else; a failed user and a failed page infer nothing; a run killed after delivery and before its
 * commit sends the same changes again; a run killed inside a commit leaves a store the next run
 * opens; `emit: "both"` and `snapshotEvery`; an organization's accounts each keep their own state;
 * a stale credential report never makes a change up.
 */
import {
  AddUserToGroupCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateLoginProfileCommand,
  CreateServiceSpecificCredentialCommand,
  CreateUserCommand,
  CreateVirtualMFADeviceCommand,
  DeactivateMFADeviceCommand,
  DeleteAccessKeyCommand,
  DeleteLoginProfileCommand,
  DeleteSigningCertificateCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  DeleteUserPermissionsBoundaryCommand,
  DeleteUserPolicyCommand,
  DetachUserPolicyCommand,
  EnableMFADeviceCommand,
  IAMClient,
  type IAMClientConfig,
  PutUserPermissionsBoundaryCommand,
  PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
  UpdateServiceSpecificCredentialCommand,
  UpdateSigningCertificateCommand,
  UpdateUserCommand,
  UploadSigningCertificateCommand,
  UploadSSHPublicKeyCommand
} from "@aws-sdk/client-iam"
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { afterEach, describe, expect, it } from "vitest"
import { type Emulator, type EmulatorOptions, memberAccountId, startEmulator } from "../emulator/index.ts"
import type { CollectionStrategy } from "../src/collect/CollectionConfig.ts"
import type { ConfigInput } from "../src/run/defaultConfig.ts"
import { ocsfValidator, schemaErrors, type SchemaVariant } from "./ocsf-schemas.ts"
import { type CliResult, configFor, readNdjson, runCli, tempDir, writeJson } from "./support.ts"

let emulator: Emulator | undefined
const clients: Array<{ destroy(): void }> = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  await emulator?.close()
  emulator = undefined
})

const start = async (options: EmulatorOptions = {}) => {
  emulator = await startEmulator({ users: 0, ...options })
  return emulator
}

const BASE = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }

/** The administrator's hand: the real SDK, signed with `credentials` (the management account's by default). */
const adminOf = (emu: Emulator, credentials: IAMClientConfig["credentials"] = BASE) => {
  const client = new IAMClient({ endpoint: emu.url, region: "us-east-1", credentials, maxAttempts: 1 })
  clients.push(client)
  return client
}

const STRATEGIES: ReadonlyArray<CollectionStrategy> = ["per-user", "bulk"]

interface Run extends CliResult {
  /** What this run wrote to the file sink, in order. */
  readonly events: Array<any>
  readonly deadLetters: Array<any>
}

/**
 * One collector of the account with its own state store (`state.sqlite` in its own folder):
 * `run()` is one `iam-ocsf run --once`, with the events it sent and nothing from earlier runs.
 */
const collector = (emu: Emulator, overrides: ConfigInput) => {
  const dir = tempDir()
  const events = path.join(dir, "events.ndjson")
  const deadLetter = path.join(dir, "dead-letter.ndjson")
  const state = path.join(dir, "state.sqlite")
  const input = (extra: ConfigInput = {}): ConfigInput =>
    configFor(emu, dir, {
      ocsf: { profile: "strict", emit: "changes" },
      state: { path: state },
      ...overrides,
      ...extra,
      collection: { pageSize: 3, ...overrides.collection, ...extra.collection }
    })
  const config = writeJson(path.join(dir, "config.json"), input())
  return {
    dir,
    config,
    state,
    /** Rewrites the config with `extra` over the collector's own settings. */
    reconfigure: (extra: ConfigInput) => writeJson(config, input(extra)),
    run: async (onSpawn?: (child: ReturnType<typeof spawn>) => void): Promise<Run> => {
      fs.rmSync(events, { force: true })
      fs.rmSync(deadLetter, { force: true })
      const result = await runCli(["run", "--config", config, "--once"], onSpawn === undefined ? {} : { onSpawn })
      return { ...result, events: readNdjson(events), deadLetters: readNdjson(deadLetter) }
    },
    eventsFile: events,
    show: async () => {
      const shown = await runCli(["state", "show", "--config", config, "--format", "json"])
      expect(shown.code, shown.stderr).toBe(0)
      return JSON.parse(shown.stdout) as { accounts: Array<{ account: string; users: number; lastRun: string | null; lastCompleteRun: string | null; lastSnapshot: string | null }> }
    }
  }
}

const variants: ReadonlyArray<SchemaVariant> = ["core", "core.lint"]

/** Every event a 3001 event, valid against the OCSF 1.6.0 schemas (the strict profile's). */
const expectValidChanges = (events: ReadonlyArray<any>, cloud = false) => {
  for (const e of events) {
    expect(e.class_uid, JSON.stringify(e)).toBe(3001)
    for (const v of cloud ? (["cloud", "cloud.lint"] as const) : variants) {
      expect(schemaErrors(ocsfValidator("account_change", v), e), `${e.message} (${v})`).toEqual([])
    }
  }
}

/** What an event says, in a form a test can list: [user name, kind, what changed]. */
const said = (e: any): [string, string, string | undefined] => [
  e.user.name,
  e.unmapped.change.kind,
  e.policies?.[0]?.name ?? e.unmapped.change.access_key?.uid ?? e.unmapped.change.credential?.uid ?? e.unmapped.change.group?.name ??
    e.unmapped.change.previous?.name ?? e.unmapped.change.permissions_boundary?.to ?? e.unmapped.change.permissions_boundary?.from
]

const byText = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>) => {
  const x = JSON.stringify(a)
  const y = JSON.stringify(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** The run's events as [name, kind, subject], in a stable order (users come in any order; one user's in the table's). */
const summarize = (events: ReadonlyArray<any>) => events.map(said).sort(byText)

/** One user's events, as they came: a user's changes come in the order of the README's table. */
const kindsOf = (events: ReadonlyArray<any>, name: string) => events.filter((e) => e.user.name === name).map((e) => e.unmapped.change.kind)

const POLICY_DOCUMENT = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9wZW5zc2gta2V5LWZvci10ZXN0aW5n test@example"
const CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----"

/** Turns MFA on for `user` as an administrator does: a virtual device, then two codes. */
const enableMfa = async (iam: IAMClient, user: string) => {
  const device = await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: `${user}-phone` }))
  const serial = device.VirtualMFADevice!.SerialNumber!
  await iam.send(new EnableMFADeviceCommand({ UserName: user, SerialNumber: serial, AuthenticationCode1: "111111", AuthenticationCode2: "222222" }))
  return serial
}

/**
 * The account before the baseline: users made to be changed, one per role, each in a known state.
 * - `gainer` has nothing and gets one of everything; `loser` has one of everything and loses it;
 * - `activator` has an inactive key; `renamer` is renamed and moved in one UpdateUser;
 * - `leaver` is deleted; `joiner` (not yet) is created; the spec's two users do not change.
 */
const prepare = async (emu: Emulator) => {
  const iam = adminOf(emu)
  const policy = emu.account.policies.find((p) => p.PolicyArn.startsWith("arn:aws:iam::aws:"))!
  const group = emu.account.groups[0]!
  for (const user of ["gainer", "loser", "activator", "renamer"]) await iam.send(new CreateUserCommand({ UserName: user }))
  await iam.send(new CreateUserCommand({ UserName: "leaver", Path: "/temp/" }))
  const serial = await enableMfa(iam, "loser")
  await iam.send(new AttachUserPolicyCommand({ UserName: "loser", PolicyArn: policy.PolicyArn }))
  await iam.send(new PutUserPolicyCommand({ UserName: "loser", PolicyName: "LoserInline", PolicyDocument: POLICY_DOCUMENT }))
  const k1 = (await iam.send(new CreateAccessKeyCommand({ UserName: "loser" }))).AccessKey!.AccessKeyId!
  const k2 = (await iam.send(new CreateAccessKeyCommand({ UserName: "loser" }))).AccessKey!.AccessKeyId!
  await iam.send(new CreateLoginProfileCommand({ UserName: "loser", Password: "Secr3t!pass" }))
  await iam.send(new AddUserToGroupCommand({ UserName: "loser", GroupName: group.GroupName }))
  await iam.send(new TagUserCommand({ UserName: "loser", Tags: [{ Key: "Team", Value: "a" }] }))
  const ssh1 = (await iam.send(new UploadSSHPublicKeyCommand({ UserName: "loser", SSHPublicKeyBody: SSH_KEY }))).SSHPublicKey!.SSHPublicKeyId!
  const cert1 = (await iam.send(new UploadSigningCertificateCommand({ UserName: "loser", CertificateBody: CERTIFICATE }))).Certificate!.CertificateId!
  const ssc1 = (await iam.send(new CreateServiceSpecificCredentialCommand({ UserName: "loser", ServiceName: "codecommit.amazonaws.com" })))
    .ServiceSpecificCredential!.ServiceSpecificCredentialId!
  // a boundary that allows everything: it takes nothing away, so being an admin stays the group's doing
  const boundary = "arn:aws:iam::aws:policy/AdministratorAccess"
  await iam.send(new PutUserPermissionsBoundaryCommand({ UserName: "loser", PermissionsBoundary: boundary }))
  const k3 = (await iam.send(new CreateAccessKeyCommand({ UserName: "activator" }))).AccessKey!.AccessKeyId!
  await iam.send(new UpdateAccessKeyCommand({ UserName: "activator", AccessKeyId: k3, Status: "Inactive" }))
  const cert2 = (await iam.send(new UploadSigningCertificateCommand({ UserName: "activator", CertificateBody: CERTIFICATE }))).Certificate!.CertificateId!
  await iam.send(new UpdateSigningCertificateCommand({ UserName: "activator", CertificateId: cert2, Status: "Inactive" }))

  /** Every change kind, each once. What the second run must say, as `said` lists it. */
  const change = async () => {
    await iam.send(new CreateUserCommand({ UserName: "joiner" }))
    await iam.send(new DeleteUserCommand({ UserName: "leaver" }))
    await iam.send(new UpdateUserCommand({ UserName: "renamer", NewUserName: "renamed", NewPath: "/moved/" }))
    await enableMfa(iam, "gainer")
    await iam.send(new AttachUserPolicyCommand({ UserName: "gainer", PolicyArn: policy.PolicyArn }))
    await iam.send(new PutUserPolicyCommand({ UserName: "gainer", PolicyName: "GainerInline", PolicyDocument: POLICY_DOCUMENT }))
    const k4 = (await iam.send(new CreateAccessKeyCommand({ UserName: "gainer" }))).AccessKey!.AccessKeyId!
    const ssh2 = (await iam.send(new UploadSSHPublicKeyCommand({ UserName: "gainer", SSHPublicKeyBody: SSH_KEY }))).SSHPublicKey!.SSHPublicKeyId!
    const ssc2 = (await iam.send(new CreateServiceSpecificCredentialCommand({ UserName: "gainer", ServiceName: "codecommit.amazonaws.com" })))
      .ServiceSpecificCredential!.ServiceSpecificCredentialId!
    const cert3 = (await iam.send(new UploadSigningCertificateCommand({ UserName: "gainer", CertificateBody: CERTIFICATE }))).Certificate!.CertificateId!
    await iam.send(new PutUserPermissionsBoundaryCommand({ UserName: "gainer", PermissionsBoundary: boundary }))
    await iam.send(new CreateLoginProfileCommand({ UserName: "gainer", Password: "Secr3t!pass" }))
    await iam.send(new AddUserToGroupCommand({ UserName: "gainer", GroupName: group.GroupName }))
    await iam.send(new TagUserCommand({ UserName: "gainer", Tags: [{ Key: "Team", Value: "b" }] }))
    await iam.send(new DeactivateMFADeviceCommand({ UserName: "loser", SerialNumber: serial }))
    await iam.send(new DetachUserPolicyCommand({ UserName: "loser", PolicyArn: policy.PolicyArn }))
    await iam.send(new DeleteUserPolicyCommand({ UserName: "loser", PolicyName: "LoserInline" }))
    await iam.send(new DeleteAccessKeyCommand({ UserName: "loser", AccessKeyId: k1 }))
    await iam.send(new UpdateAccessKeyCommand({ UserName: "loser", AccessKeyId: k2, Status: "Inactive" }))
    await iam.send(new DeleteSSHPublicKeyCommand({ UserName: "loser", SSHPublicKeyId: ssh1 }))
    await iam.send(new DeleteSigningCertificateCommand({ UserName: "loser", CertificateId: cert1 }))
    await iam.send(new UpdateServiceSpecificCredentialCommand({ UserName: "loser", ServiceSpecificCredentialId: ssc1, Status: "Inactive" }))
    await iam.send(new DeleteUserPermissionsBoundaryCommand({ UserName: "loser" }))
    await iam.send(new DeleteLoginProfileCommand({ UserName: "loser" }))
    await iam.send(new RemoveUserFromGroupCommand({ UserName: "loser", GroupName: group.GroupName }))
    await iam.send(new UntagUserCommand({ UserName: "loser", TagKeys: ["Team"] }))
    await iam.send(new UpdateAccessKeyCommand({ UserName: "activator", AccessKeyId: k3, Status: "Active" }))
    await iam.send(new UpdateSigningCertificateCommand({ UserName: "activator", CertificateId: cert2, Status: "Active" }))
    // AWS makes a new credential report at most every four hours; here the account's report is
    // dropped, so that the next bulk run generates one that has the changes
    emu.setCredentialReport({})
    return {
      expected: [
        ["joiner", "created", undefined],
        ["leaver", "deleted", undefined],
        ["renamed", "renamed", "renamer"],
        ["gainer", "mfa_enabled", undefined],
        ["gainer", "policy_attached", policy.PolicyName],
        ["gainer", "inline_policy_added", "GainerInline"],
        ["gainer", "access_key_created", k4],
        // by type, then id: SSH public key, service-specific credential, signing certificate
        ["gainer", "credential_added", ssh2],
        ["gainer", "credential_added", ssc2],
        ["gainer", "credential_added", cert3],
        ["gainer", "password_added", undefined],
        ["gainer", "group_joined", group.GroupName],
        // the group (Admins) has AdministratorAccess attached: an event says what that made of the user
        ["gainer", "admin_granted", undefined],
        ["gainer", "boundary_changed", boundary],
        ["gainer", "tags_changed", undefined],
        ["loser", "mfa_disabled", undefined],
        ["loser", "policy_detached", policy.PolicyName],
        ["loser", "inline_policy_removed", "LoserInline"],
        ["loser", "access_key_deleted", k1],
        ["loser", "access_key_deactivated", k2],
        ["loser", "credential_removed", ssh1],
        ["loser", "credential_removed", cert1],
        ["loser", "credential_deactivated", ssc1],
        ["loser", "password_removed", undefined],
        ["loser", "group_left", group.GroupName],
        ["loser", "admin_revoked", undefined],
        ["loser", "boundary_changed", boundary],
        ["loser", "tags_changed", undefined],
        ["activator", "access_key_activated", k3],
        ["activator", "credential_activated", cert2]
      ] as Array<[string, string, string | undefined]>,
      /** The SSH public keys' changes: a bulk run that does not list them (the default) says none of them. */
      ssh: [ssh1, ssh2]
    }
  }
  return { iam, policy, group, change }
}

describe("change events through the CLI", () => {
  it("every change kind made through the SDK between two runs: exactly its 3001 event, through per-user and bulk; then nothing", async () => {
    const emu = await start()
    const { change } = await prepare(emu)
    // bulk lists SSH keys here (one call a user) so that it can say everything per-user says
    const collectors = Object.fromEntries(STRATEGIES.map((s) => [s, collector(emu, { collection: { strategy: s, sshPublicKeys: "always" } })]))
    // ...and one whose baseline lists them, then does not (the default), then does again
    const bulkDefault = collector(emu, { collection: { strategy: "bulk", sshPublicKeys: "always" } })

    for (const strategy of STRATEGIES) {
      const baseline = await collectors[strategy]!.run()
      expect(baseline.code, baseline.stderr).toBe(0)
      expect(baseline.stderr).toContain("no complete run recorded yet; this run records the baseline")
      // the baseline is the inventory (5003), one event a user, no change event
      expect(baseline.events.map((e) => e.class_uid)).toEqual(Array(emu.account.size).fill(5003))
    }

    expect((await bulkDefault.run()).code).toBe(0)
    bulkDefault.reconfigure({ collection: { strategy: "bulk", sshPublicKeys: "per-user" } })

    const { expected, ssh } = await change()
    const second: Record<string, Run> = {}
    for (const strategy of STRATEGIES) {
      const run = await collectors[strategy]!.run()
      second[strategy] = run
      expect(run.code, run.stderr).toBe(0)
      expectValidChanges(run.events)
      expect(summarize(run.events), strategy).toEqual([...expected].sort(byText))
      // one user's changes in the table's order
      expect(kindsOf(run.events, "gainer")).toEqual(expected.filter(([n]) => n === "gainer").map(([, k]) => k))
      expect(kindsOf(run.events, "loser")).toEqual(expected.filter(([n]) => n === "loser").map(([, k]) => k))
      // a rename and a move in one UpdateUser: one change, of the same user (its UserId)
      const renamed = run.events.filter((e) => e.unmapped.change.kind === "renamed")
      expect(renamed).toHaveLength(1)
      expect(renamed[0].message).toBe("IAM user renamer renamed to renamed and moved from path / to /moved/")
      expect(renamed[0].user.uid).toBe("arn:aws:iam::123456789012:user/moved/renamed")
      expect(renamed[0].unmapped.change.previous).toEqual({ name: "renamer", path: "/", uid: "arn:aws:iam::123456789012:user/renamer" })
      expect(renamed[0].user.uid_alt).toBe(emu.account.user("renamed")!.UserId)
      expect(run.stderr).toContain(`state recorded in`)
    }
    // the two strategies say the same, event for event (metadata.uid included), whatever the order
    const key = (e: any) => e.metadata.uid as string
    expect(second.bulk!.events.map(key).sort()).toEqual(second["per-user"]!.events.map(key).sort())

    // By default bulk does not list SSH keys: every change but theirs, and the state keeps the keys it
    // had, so they are neither removed nor added then; the first run that lists them again says them.
    const withoutSsh = await bulkDefault.run()
    expect(withoutSsh.code, withoutSsh.stderr).toBe(0)
    expect(summarize(withoutSsh.events)).toEqual(expected.filter(([, , id]) => !ssh.includes(id!)).sort(byText))
    expect((await bulkDefault.run()).events).toEqual([])
    bulkDefault.reconfigure({ collection: { strategy: "bulk", sshPublicKeys: "always" } })
    const sshListed = await bulkDefault.run()
    expectValidChanges(sshListed.events)
    expect(summarize(sshListed.events)).toEqual(expected.filter(([, , id]) => ssh.includes(id!)).sort(byText))

    // nothing changed since: nothing to say
    for (const strategy of STRATEGIES) {
      const third = await collectors[strategy]!.run()
      expect(third.code, third.stderr).toBe(0)
      expect(third.events, strategy).toEqual([])
    }
  }, 180_000)

  for (const strategy of STRATEGIES) {
    it(`${strategy}: a user whose enrichment fails keeps its state (no change, no deletion), and its change comes with the next run`, async () => {
      const emu = await start()
      const { iam, policy } = await prepare(emu)
      const c = collector(emu, { collection: { strategy } })
      expect((await c.run()).code).toBe(0)

      // the one call of the user's enrichment each strategy makes that fails: per-user lists its
      // policies, bulk lists its keys (the report shows one)
      const victim = strategy === "per-user" ? "gainer" : "loser"
      const other = emu.account.policies.find((p) => p.PolicyArn !== policy.PolicyArn)!
      await iam.send(new AttachUserPolicyCommand({ UserName: victim, PolicyArn: other.PolicyArn }))
      await iam.send(new TagUserCommand({ UserName: "activator", Tags: [{ Key: "Seen", Value: "yes" }] }))
      emu.setFaults({ [strategy === "per-user" ? "ListAttachedUserPolicies" : "ListAccessKeys"]: { accessDenied: [victim] } })
      const failed = await c.run()
      expect(failed.code, failed.stderr).toBe(3)
      expect(failed.deadLetters.map((d) => d.user.UserName)).toEqual([victim])
      expectValidChanges(failed.events)
      // no change of the user, and no deletion of it either
      expect(summarize(failed.events)).toEqual([["activator", "tags_changed", undefined]])

      emu.setFaults({})
      const next = await c.run()
      expect(next.code, next.stderr).toBe(0)
      expectValidChanges(next.events)
      expect(summarize(next.events)).toEqual([[victim, "policy_attached", other.PolicyName]])
    }, 180_000)
  }

  it("per-user: a listing that fails on a later page infers nothing (no deletion, the state as it was); the next run does", async () => {
    const emu = await start({ users: 6 })
    const { iam } = await prepare(emu)
    const c = collector(emu, { collection: { strategy: "per-user", pageSize: 2, retry: { maxAttempts: 2, baseDelay: "1ms", maxDelay: "2ms" } } })
    expect((await c.run()).code).toBe(0)
    const before = await c.show()

    await iam.send(new DeleteUserCommand({ UserName: "leaver" }))
    // the second page comes back as the first again: a listing that loops, never complete
    emu.setFaults({ ListUsers: { corrupt: { kind: "marker-loop" } } })
    const failed = await c.run()
    expect(failed.events).toEqual([])
    expect(failed.code, failed.stderr).toBe(1)
    expect(await c.show()).toEqual(before)

    emu.setFaults({})
    const next = await c.run()
    expect(next.code, next.stderr).toBe(0)
    expect(summarize(next.events)).toEqual([["leaver", "deleted", undefined]])
  }, 180_000)

  it("bulk: a listing that fails infers nothing (no deletion, the state as it was); the next run does", async () => {
    const emu = await start({ users: 6 })
    const { iam } = await prepare(emu)
    const c = collector(emu, { collection: { strategy: "bulk", retry: { maxAttempts: 2, baseDelay: "1ms", maxDelay: "2ms" } } })
    expect((await c.run()).code).toBe(0)
    const before = await c.show()

    await iam.send(new DeleteUserCommand({ UserName: "leaver" }))
    await iam.send(new TagUserCommand({ UserName: "gainer", Tags: [{ Key: "Seen", Value: "yes" }] }))
    emu.setFaults({ GetAccountAuthorizationDetails: { corrupt: { kind: "cut" } } })
    const failed = await c.run()
    expect(failed.events).toEqual([])
    expect(failed.code, failed.stderr).toBe(1)
    expect(await c.show()).toEqual(before)

    emu.setFaults({})
    const next = await c.run()
    expect(next.code, next.stderr).toBe(0)
    expect(summarize(next.events)).toEqual([["gainer", "tags_changed", undefined], ["leaver", "deleted", undefined]])
  }, 180_000)
})

/** Holds the store's write lock from this process (as a second writer would) until released. */
const holdWriteLock = (file: string) => {
  const db = new DatabaseSync(file)
  db.exec("BEGIN IMMEDIATE")
  return () => {
    db.exec("ROLLBACK")
    db.close()
  }
}

/** Resolves once `file` holds `lines` lines (the file sink writes whole lines), checking as it grows. */
const whenLines = (file: string, lines: number): Promise<void> =>
  new Promise((resolve) => {
    const check = () => {
      if (fs.existsSync(file) && fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0).length >= lines) {
        fs.unwatchFile(file, check)
        resolve()
      }
    }
    fs.watchFile(file, { interval: 20 }, check)
    check()
  })

describe("a run killed", () => {
  it("with SIGKILL after its events were delivered and before its state was committed: the next run sends the same changes again", async () => {
    const emu = await start()
    const { change } = await prepare(emu)
    const c = collector(emu, { collection: { strategy: "per-user" } })
    expect((await c.run()).code).toBe(0)
    const before = await c.show()
    const { expected } = await change()

    // The commit waits for the write lock this test holds; the run is killed once every event is in the file.
    const release = holdWriteLock(c.state)
    let killed: Run
    try {
      killed = await c.run((child) => {
        void whenLines(c.eventsFile, expected.length).then(() => child.kill("SIGKILL"))
      })
    } finally {
      fs.unwatchFile(c.eventsFile)
      release()
    }
    expect(killed.signal).toBe("SIGKILL")
    expect(summarize(killed.events)).toEqual([...expected].sort(byText))
    expect(killed.stderr).not.toContain("state recorded")
    expect(await c.show()).toEqual(before)

    const again = await c.run()
    expect(again.code, again.stderr).toBe(0)
    expectValidChanges(again.events)
    expect(summarize(again.events)).toEqual([...expected].sort(byText))
    // the same changes between the same states: the same ids, so that a consumer can drop the repeat
    expect(again.events.map((e) => e.metadata.uid).sort()).toEqual(killed.events.map((e) => e.metadata.uid).sort())
    expect((await c.run()).events).toEqual([])
  }, 180_000)

  it("inside a commit leaves a store the next run opens, with the last committed state", async () => {
    const emu = await start()
    const { change } = await prepare(emu)
    const c = collector(emu, { collection: { strategy: "per-user" } })
    expect((await c.run()).code).toBe(0)
    const before = await c.show()
    const { expected } = await change()

    // A trigger that takes forever when the commit records the run's times, after it has written
    // the changed users and removed the deleted one: the run is held inside its commit's transaction.
    const raw = new DatabaseSync(c.state)
    raw.exec("CREATE TRIGGER stall AFTER UPDATE ON accounts BEGIN SELECT count(*) FROM " +
      Array.from({ length: 12 }, (_, i) => `users u${i}`).join(", ") + "; END")
    raw.close()
    // Inside its commit, the run holds the store's write lock: a writer of this test is refused at once.
    const probe = new DatabaseSync(c.state, { timeout: 0 })
    const inCommit = () => {
      try {
        probe.exec("BEGIN IMMEDIATE")
        probe.exec("ROLLBACK")
        return false
      } catch {
        return true
      }
    }
    let timer: ReturnType<typeof setInterval> | undefined
    const killed = await c.run((child) => {
      timer = setInterval(() => {
        if (inCommit()) {
          clearInterval(timer)
          child.kill("SIGKILL")
        }
      }, 20)
    }).finally(() => {
      clearInterval(timer)
      probe.close()
    })
    expect(killed.signal).toBe("SIGKILL")
    expect(summarize(killed.events)).toEqual([...expected].sort(byText))
    const unstall = new DatabaseSync(c.state)
    unstall.exec("DROP TRIGGER stall")
    unstall.close()

    expect(await c.show()).toEqual(before)
    const next = await c.run()
    expect(next.code, next.stderr).toBe(0)
    expect(summarize(next.events)).toEqual([...expected].sort(byText))
  }, 180_000)
})

describe("emit both, and snapshotEvery", () => {
  it("both: every run sends the inventory and, after the baseline, the changes beside it", async () => {
    const emu = await start()
    const { iam } = await prepare(emu)
    const c = collector(emu, { collection: { strategy: "per-user" }, ocsf: { profile: "strict", emit: "both" } })
    const baseline = await c.run()
    expect(baseline.code).toBe(0)
    expect(baseline.events.map((e) => e.class_uid)).toEqual(Array(emu.account.size).fill(5003))

    await iam.send(new TagUserCommand({ UserName: "gainer", Tags: [{ Key: "Seen", Value: "yes" }] }))
    const second = await c.run()
    expect(second.code).toBe(0)
    const inventory = second.events.filter((e) => e.class_uid === 5003)
    expect(inventory.map((e) => e.user.name).sort()).toEqual([...emu.account.users()].map((u) => u.UserName).sort())
    const changes = second.events.filter((e) => e.class_uid !== 5003)
    expectValidChanges(changes)
    expect(summarize(changes)).toEqual([["gainer", "tags_changed", undefined]])
    // a user's change comes right after its inventory event
    const at = second.events.findIndex((e) => e.class_uid === 3001)
    expect(second.events[at - 1].user.name).toBe("gainer")
    for (const e of inventory) expect(schemaErrors(ocsfValidator("user_inventory", "core.lint"), e)).toEqual([])

    const third = await c.run()
    expect(third.events.map((e) => e.class_uid)).toEqual(Array(emu.account.size).fill(5003))
  }, 180_000)

  it("changes with snapshotEvery: the inventory again once the last one is older than that, then not until it is again", async () => {
    const emu = await start()
    const { iam } = await prepare(emu)
    const c = collector(emu, { collection: { strategy: "per-user" }, ocsf: { profile: "strict", emit: "changes", snapshotEvery: "1d" } })
    expect((await c.run()).events).toHaveLength(emu.account.size)
    await iam.send(new TagUserCommand({ UserName: "gainer", Tags: [{ Key: "Seen", Value: "yes" }] }))
    const soon = await c.run()
    expect(soon.events.map(said)).toEqual([["gainer", "tags_changed", undefined]])
    const sent = (await c.show()).accounts[0]!.lastSnapshot!

    // a day later (the store says the last inventory went out 25 hours ago)
    const db = new DatabaseSync(c.state)
    db.prepare("UPDATE accounts SET last_snapshot = last_snapshot - ?").run(25 * 3_600_000)
    db.close()
    await iam.send(new TagUserCommand({ UserName: "loser", Tags: [{ Key: "Seen", Value: "yes" }] }))
    const due = await c.run()
    expect(due.code).toBe(0)
    expect(due.events.filter((e) => e.class_uid === 5003)).toHaveLength(emu.account.size)
    expect(summarize(due.events.filter((e) => e.class_uid === 3001))).toEqual([["loser", "tags_changed", undefined]])
    const resent = (await c.show()).accounts[0]!.lastSnapshot!
    expect(Date.parse(resent)).toBeGreaterThan(Date.parse(sent))

    expect((await c.run()).events).toEqual([])
  }, 180_000)
})

describe("an organization's accounts", () => {
  it("each account keeps its own state: a change in one gives its events, with its account, and none in the others", async () => {
    const emu = await start({ users: 2, organization: { accounts: 3, usersPerAccount: 3 } })
    const org = emu.organization!
    const c = collector(emu, {
      collection: { strategy: "bulk" },
      ocsf: { profile: "strict-cloud", emit: "changes" },
      accounts: { organization: { roleName: org.roleName } }
    })
    const baseline = await c.run()
    expect(baseline.code, baseline.stderr).toBe(0)
    const ids = org.accounts.map((a) => a.id).sort()
    expect((await c.show()).accounts.map((a) => a.account)).toEqual(ids)

    // an administrator of member 2, through a role session of that account
    const member = org.account(memberAccountId(2))
    const sts = new STSClient({ endpoint: emu.url, region: "us-east-1", credentials: BASE, maxAttempts: 1 })
    clients.push(sts)
    const session = (await sts.send(new AssumeRoleCommand({ RoleArn: member.roleArn, RoleSessionName: "admin" }))).Credentials!
    const iam = adminOf(emu, { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! })
    const [first, second] = [...member.account.users()]
    await iam.send(new TagUserCommand({ UserName: first!.UserName, Tags: [{ Key: "Changed", Value: "yes" }] }))
    await iam.send(new CreateUserCommand({ UserName: "member-joiner" }))
    for (const k of second!.AccessKeys) await iam.send(new DeleteAccessKeyCommand({ UserName: second!.UserName, AccessKeyId: k.AccessKeyId }))
    if (second!.LoginProfile !== undefined) await iam.send(new DeleteLoginProfileCommand({ UserName: second!.UserName }))
    for (const d of second!.MFADevices) await iam.send(new DeactivateMFADeviceCommand({ UserName: second!.UserName, SerialNumber: d.SerialNumber }))
    for (const p of second!.AttachedPolicies) await iam.send(new DetachUserPolicyCommand({ UserName: second!.UserName, PolicyArn: p.PolicyArn }))
    for (const n of second!.InlinePolicyNames) await iam.send(new DeleteUserPolicyCommand({ UserName: second!.UserName, PolicyName: n }))
    for (const g of second!.Groups) await iam.send(new RemoveUserFromGroupCommand({ UserName: second!.UserName, GroupName: g.GroupName }))
    await iam.send(new DeleteUserCommand({ UserName: second!.UserName }))

    const next = await c.run()
    expect(next.code, next.stderr).toBe(0)
    expectValidChanges(next.events, true)
    expect(summarize(next.events)).toEqual([
      [first!.UserName, "tags_changed", undefined],
      [second!.UserName, "deleted", undefined],
      ["member-joiner", "created", undefined]
    ].sort(byText))
    for (const e of next.events) {
      expect(e.cloud.account.uid).toBe(member.id)
      expect(e.user.account.uid).toBe(member.id)
    }
    expect(next.stderr).toContain(`account ${member.id}: state recorded`)
    const shown = await c.show()
    expect(Object.fromEntries(shown.accounts.map((a) => [a.account, a.users]))).toEqual(
      Object.fromEntries(ids.map((id) => [id, org.account(id).account.size]))
    )
    expect((await c.run()).events).toEqual([])
  }, 180_000)
})

describe("a stale credential report", () => {
  it("bulk: a report older than the state's last run makes no change up; a change shows once a report made after that run is read", async () => {
    const emu = await start()
    const { iam } = await prepare(emu)
    // the account's report was made a minute ago, before the changes below (AWS keeps it for four hours)
    emu.setCredentialReport({ ageMs: 60_000 })
    await enableMfa(iam, "gainer")
    await iam.send(new CreateLoginProfileCommand({ UserName: "gainer", Password: "Secr3t!pass" }))
    await iam.send(new CreateAccessKeyCommand({ UserName: "gainer" }))

    // the baseline from the per-user calls: gainer has MFA, a password and a key
    const c = collector(emu, { collection: { strategy: "per-user" } })
    expect((await c.run()).code).toBe(0)

    // bulk reads the report, which says gainer has none of them: older than the state, it is no change
    c.reconfigure({ collection: { strategy: "bulk" } })
    const stale = await c.run()
    expect(stale.code, stale.stderr).toBe(0)
    expect(stale.stderr).toContain("credential report reused")
    expect(stale.events).toEqual([])

    // a real change, which the stale report cannot show: it waits
    await iam.send(new DeleteLoginProfileCommand({ UserName: "gainer" }))
    expect((await c.run()).events).toEqual([])

    // a report made after the last run: the change, and nothing else
    emu.setCredentialReport({})
    const fresh = await c.run()
    expect(fresh.code, fresh.stderr).toBe(0)
    expect(fresh.stderr).toContain("credential report newly generated")
    expectValidChanges(fresh.events)
    expect(summarize(fresh.events)).toEqual([["gainer", "password_removed", undefined]])
    // and the per-user calls agree with the state
    c.reconfigure({ collection: { strategy: "per-user" } })
    expect((await c.run()).events).toEqual([])
  }, 180_000)
})
