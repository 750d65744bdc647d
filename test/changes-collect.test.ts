/**
 * Every change kind, made through the real SDK between two collections of the emulated account,
 * found by both strategies (the product's collectors, its state store and its 3001 mapping): each
 * strategy gives exactly the expected change events, schema-valid, and nothing else; the two give
 * the same events; a rename is one change; a third run with nothing changed gives none.
 */
import {
  AddUserToGroupCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateLoginProfileCommand,
  CreateUserCommand,
  CreateVirtualMFADeviceCommand,
  DeactivateMFADeviceCommand,
  DeleteAccessKeyCommand,
  DeleteLoginProfileCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DetachUserPolicyCommand,
  EnableMFADeviceCommand,
  IAMClient,
  PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
  UpdateUserCommand
} from "@aws-sdk/client-iam"
import { assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { collect } from "../src/collect/strategy.ts"
import type { CollectionStrategy } from "../src/collect/CollectionConfig.ts"
import type { UserOutcome } from "../src/collect/users.ts"
import { deletions, type Detected, observeUser } from "../src/changes/detect.ts"
import { Iam } from "../src/iam/Iam.ts"
import { changeMapperFor } from "../src/ocsf/index.ts"
import { openSqliteStore } from "../src/state/sqlite.ts"
import type { StateStoreService } from "../src/state/StateStore.ts"
import { type Emulator, emulatorScoped, type UserRecord } from "../emulator/index.ts"
import { isAdminRecord } from "./expectedOcsf.ts"
import { ocsfValidator, schemaErrors } from "./ocsf-schemas.ts"
import { tempDir } from "./support.ts"

const ACCOUNT = "123456789012"

const iamLayer = (emulator: Emulator) =>
  Iam.layer({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: { accessKeyId: "AKIATESTTESTTESTTEST", secretAccessKey: Redacted.make("test-secret") },
    callTimeout: Duration.seconds(5),
    retry: { maxAttempts: 20, baseDelay: Duration.millis(1), maxDelay: Duration.millis(10) },
    maxSockets: 64,
    requestRate: { floor: 10_000 }
  })

/**
 * One collection with the product's collector for `strategy` (key ids listed and identities read,
 * as for the strict profiles; SSH public keys by both strategies, so that the two can agree).
 */
const collected = (emulator: Emulator, strategy: CollectionStrategy) =>
  collect({
    strategy,
    pageSize: 7,
    concurrency: 8,
    maxCredentialReportAge: Duration.hours(4),
    accessKeyIds: true,
    identity: true,
    sshPublicKeys: "always"
  }).pipe(
    Stream.runCollect,
    Effect.map((outcomes) => Array.from(outcomes) as Array<UserOutcome>),
    Effect.provide(iamLayer(emulator))
  )

/** What a run in changes mode does with its collection: detect, map (strict), commit. The events, by user then in order. */
const changeRun = (store: StateStoreService, outcomes: ReadonlyArray<UserOutcome>, observedAt: Date) =>
  Effect.scoped(Effect.gen(function*() {
    const run = yield* store.beginRun(ACCOUNT)
    const found: Array<Detected> = []
    for (const o of outcomes) {
      assert.strictEqual(o._tag, "Collected", JSON.stringify(o))
      if (o._tag === "Collected") found.push(...(yield* observeUser(run, o.user)))
    }
    found.push(...(yield* Stream.runCollect(deletions(run))))
    yield* run.commit({ complete: true, at: observedAt, snapshot: false })
    const map = changeMapperFor("strict")
    return found
      .map((d) => map(d.change, { observedAt, previous: d.previous, current: d.current }) as any)
      .sort((a, b) => a.user.uid_alt < b.user.uid_alt ? -1 : a.user.uid_alt > b.user.uid_alt ? 1 : 0)
  }))

/** A user of the account matching `test`, not yet picked. */
const picker = (emulator: Emulator) => {
  const taken = new Set<string>()
  return (test: (u: UserRecord) => boolean): UserRecord => {
    const u = [...emulator.account.users()].find((x) => !taken.has(x.UserName) && test(x))
    if (u === undefined) throw new Error("no user fits")
    taken.add(u.UserName)
    return u
  }
}

describe("changes through both strategies", () => {
  it.live("every change kind made through the SDK gives exactly its 3001 event, the same through per-user and bulk", () =>
    Effect.scoped(Effect.gen(function*() {
      const emulator = yield* emulatorScoped({ users: 60, shortPages: true })
      const iam = new IAMClient({ endpoint: emulator.url, region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }, maxAttempts: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => iam.destroy()))
      const sdk = <A>(call: (client: IAMClient) => Promise<A>) => Effect.promise(() => call(iam))
      yield* sdk((c) => c.send(new CreateUserCommand({ UserName: "leaver", Path: "/temp/" })))

      // the baselines
      const dir = tempDir()
      const stores = {
        "per-user": yield* Effect.acquireRelease(openSqliteStore(path.join(dir, "per-user.sqlite")), (s) => Effect.sync(() => s.close())),
        bulk: yield* Effect.acquireRelease(openSqliteStore(path.join(dir, "bulk.sqlite")), (s) => Effect.sync(() => s.close()))
      }
      const t0 = new Date("2026-01-01T00:00:00Z")
      for (const strategy of ["per-user", "bulk"] as const) {
        const events = yield* changeRun(stores[strategy], yield* collected(emulator, strategy), t0)
        assert.strictEqual(events.length, 63, strategy) // every user new in the baseline
      }

      // an administrator's changes, one user each (a rename and a move are made in one call each)
      const pick = picker(emulator)
      pick((u) => u.UserName === "leaver")
      const renamed = pick((u) => u.Path === "/")
      const moved = pick((u) => u.Path === "/")
      const mfaOn = pick((u) => u.MFADevices.length === 0)
      const mfaOff = pick((u) => u.MFADevices.length === 1)
      // not an administrator, and nothing (a boundary, a deny-all) to stop AdministratorAccess from making one
      const attach = pick((u) =>
        !isAdminRecord(u, emulator.account) && u.PermissionsBoundary === undefined && !u.InlinePolicyNames.includes("QuarantineDenyAll") &&
        u.AttachedPolicies.length < 3
      )
      const detach = pick((u) => u.AttachedPolicies.length > 0)
      const putInline = pick((u) => !u.InlinePolicyNames.includes("BreakGlassInline"))
      const deleteInline = pick((u) => u.InlinePolicyNames.length > 0)
      const newKey = pick((u) => u.AccessKeys.length < 2)
      const dropKey = pick((u) => u.AccessKeys.length > 0)
      const deactivate = pick((u) => u.AccessKeys.some((k) => k.Status === "Active"))
      const activate = pick((u) => u.AccessKeys.some((k) => k.Status === "Inactive"))
      const addPassword = pick((u) => u.LoginProfile === undefined)
      const removePassword = pick((u) => u.LoginProfile !== undefined)
      const join = pick((u) => !u.Groups.some((g) => g.GroupName === "Security"))
      const leave = pick((u) => u.Groups.length > 0)
      const retag = pick((u) => u.Tags.length > 0)

      yield* sdk((c) => c.send(new CreateUserCommand({ UserName: "joiner", Tags: [{ Key: "Team", Value: "new" }] })))
      yield* sdk((c) => c.send(new DeleteUserCommand({ UserName: "leaver" })))
      yield* sdk((c) => c.send(new UpdateUserCommand({ UserName: renamed.UserName, NewUserName: `${renamed.UserName}-renamed` })))
      yield* sdk((c) => c.send(new UpdateUserCommand({ UserName: moved.UserName, NewPath: "/moved/" })))
      const device = yield* sdk((c) => c.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: `${mfaOn.UserName}-phone` })))
      yield* sdk((c) => c.send(new EnableMFADeviceCommand({
        UserName: mfaOn.UserName,
        SerialNumber: device.VirtualMFADevice!.SerialNumber!,
        AuthenticationCode1: "111111",
        AuthenticationCode2: "222222"
      })))
      yield* sdk((c) => c.send(new DeactivateMFADeviceCommand({ UserName: mfaOff.UserName, SerialNumber: mfaOff.MFADevices[0]!.SerialNumber })))
      yield* sdk((c) => c.send(new AttachUserPolicyCommand({ UserName: attach.UserName, PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess" })))
      yield* sdk((c) => c.send(new DetachUserPolicyCommand({ UserName: detach.UserName, PolicyArn: detach.AttachedPolicies[0]!.PolicyArn })))
      yield* sdk((c) => c.send(new PutUserPolicyCommand({ UserName: putInline.UserName, PolicyName: "BreakGlassInline", PolicyDocument: "{\"Version\":\"2012-10-17\",\"Statement\":[]}" })))
      yield* sdk((c) => c.send(new DeleteUserPolicyCommand({ UserName: deleteInline.UserName, PolicyName: deleteInline.InlinePolicyNames[0]! })))
      const created = yield* sdk((c) => c.send(new CreateAccessKeyCommand({ UserName: newKey.UserName })))
      yield* sdk((c) => c.send(new DeleteAccessKeyCommand({ UserName: dropKey.UserName, AccessKeyId: dropKey.AccessKeys[0]!.AccessKeyId })))
      const active = deactivate.AccessKeys.find((k) => k.Status === "Active")!
      yield* sdk((c) => c.send(new UpdateAccessKeyCommand({ UserName: deactivate.UserName, AccessKeyId: active.AccessKeyId, Status: "Inactive" })))
      const inactive = activate.AccessKeys.find((k) => k.Status === "Inactive")!
      yield* sdk((c) => c.send(new UpdateAccessKeyCommand({ UserName: activate.UserName, AccessKeyId: inactive.AccessKeyId, Status: "Active" })))
      yield* sdk((c) => c.send(new CreateLoginProfileCommand({ UserName: addPassword.UserName, Password: "Secr3t!pass" })))
      yield* sdk((c) => c.send(new DeleteLoginProfileCommand({ UserName: removePassword.UserName })))
      yield* sdk((c) => c.send(new AddUserToGroupCommand({ UserName: join.UserName, GroupName: "Security" })))
      yield* sdk((c) => c.send(new RemoveUserFromGroupCommand({ UserName: leave.UserName, GroupName: leave.Groups[0]!.GroupName })))
      yield* sdk((c) => c.send(new TagUserCommand({ UserName: retag.UserName, Tags: [{ Key: "Reviewed", Value: "2026" }] })))
      yield* sdk((c) => c.send(new UntagUserCommand({ UserName: retag.UserName, TagKeys: [retag.Tags[0]!.Key] })))
      // bulk reads MFA and passwords from the credential report: AWS makes a new one at most every
      // four hours; here the account's report is dropped so that the next run generates one
      emulator.setCredentialReport({})

      const joiner = emulator.account.user("joiner")!
      const changes = [
        [joiner.UserId, "created", undefined],
        [renamed.UserId, "renamed", renamed.UserName],
        [moved.UserId, "renamed", moved.UserName],
        [mfaOn.UserId, "mfa_enabled", undefined],
        [mfaOff.UserId, "mfa_disabled", undefined],
        [attach.UserId, "policy_attached", "AdministratorAccess"],
        [detach.UserId, "policy_detached", detach.AttachedPolicies[0]!.PolicyName],
        [putInline.UserId, "inline_policy_added", "BreakGlassInline"],
        [deleteInline.UserId, "inline_policy_removed", deleteInline.InlinePolicyNames[0]],
        [newKey.UserId, "access_key_created", created.AccessKey!.AccessKeyId],
        [dropKey.UserId, "access_key_deleted", dropKey.AccessKeys[0]!.AccessKeyId],
        [deactivate.UserId, "access_key_deactivated", active.AccessKeyId],
        [activate.UserId, "access_key_activated", inactive.AccessKeyId],
        [addPassword.UserId, "password_added", undefined],
        [removePassword.UserId, "password_removed", undefined],
        [join.UserId, "group_joined", "Security"],
        [leave.UserId, "group_left", leave.Groups[0]!.GroupName],
        [retag.UserId, "tags_changed", undefined]
      ]
      // Whose change made or unmade an administrator: a change of its own, after the one that made it.
      const touched = [renamed, moved, mfaOn, mfaOff, attach, detach, putInline, deleteInline, newKey, dropKey, deactivate, activate, addPassword, removePassword, join, leave, retag]
      const adminNow = (u: UserRecord) => {
        const now = [...emulator.account.users()].find((x) => x.UserId === u.UserId)!
        return isAdminRecord(now, emulator.account)
      }
      const expected = changes.flatMap((change) => {
        const u = touched.find((t) => t.UserId === change[0])
        if (u === undefined) return [change]
        const [before, after] = [isAdminRecord(u, emulator.account), adminNow(u)]
        return before === after ? [change] : [change, [u.UserId, after ? "admin_granted" : "admin_revoked", undefined]]
      })
      assert.deepInclude(expected, [attach.UserId, "admin_granted", undefined])
      const subject = (e: any): string | undefined =>
        e.policies?.[0]?.name ?? e.unmapped.change.access_key?.uid ?? e.unmapped.change.group?.name ?? e.unmapped.change.previous?.name

      const t1 = new Date("2026-01-01T01:00:00Z")
      const second: Record<string, Array<any>> = {}
      for (const strategy of ["per-user", "bulk"] as const) {
        const events = yield* changeRun(stores[strategy], yield* collected(emulator, strategy), t1)
        second[strategy] = events
        const deleted = events.filter((e) => e.unmapped.change.kind === "deleted")
        assert.deepStrictEqual(deleted.map((e) => [e.user.name, e.user.uid]), [["leaver", `arn:aws:iam::${ACCOUNT}:user/temp/leaver`]], strategy)
        const rest = events.filter((e) => e.unmapped.change.kind !== "deleted").map((e) => [e.user.uid_alt, e.unmapped.change.kind, subject(e)])
        const sorted = [...expected].sort((a, b) => a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0)
        assert.deepStrictEqual(rest, sorted, strategy)
        for (const e of events) {
          for (const variant of ["core", "core.lint"] as const) {
            assert.deepStrictEqual(schemaErrors(ocsfValidator("account_change", variant), e), [], `${strategy} ${e.message}`)
          }
        }
      }
      // the two strategies agree to the byte, down to each event's uid (the same states before and after)
      assert.deepStrictEqual(second.bulk, second["per-user"])
      // what the events say of a rename and of the new user's tags
      const rename = second.bulk!.find((e) => e.user.uid_alt === renamed.UserId)
      assert.strictEqual(rename.message, `IAM user ${renamed.UserName} renamed to ${renamed.UserName}-renamed`)
      assert.strictEqual(rename.user.uid, `arn:aws:iam::${ACCOUNT}:user/${renamed.UserName}-renamed`)
      assert.deepStrictEqual(
        second.bulk!.find((e) => e.user.uid_alt === retag.UserId).unmapped.change.tags,
        { added: { Reviewed: "2026" }, removed: { [retag.Tags[0]!.Key]: retag.Tags[0]!.Value }, changed: {} }
      )

      // nothing changed since: nothing to say
      for (const strategy of ["per-user", "bulk"] as const) {
        assert.deepStrictEqual(yield* changeRun(stores[strategy], yield* collected(emulator, strategy), new Date()), [], strategy)
      }
    })), 120_000)
})
