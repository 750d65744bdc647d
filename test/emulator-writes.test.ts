/**
 * The emulator's IAM write actions through the real `@aws-sdk/client-iam`: each change is seen by
 * every read (the per-user calls, ListUsers, GetAccountAuthorizationDetails, the credential report
 * once generated again), AWS's refusals are kept, an organization's accounts change one at a time,
 * and the account's memory is its changes (the generated users stay computed).
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
  GenerateCredentialReportCommand,
  GetAccountAuthorizationDetailsCommand,
  GetCredentialReportCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListMFADevicesCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  ListUserTagsCommand,
  PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
  UpdateUserCommand,
  type User
} from "@aws-sdk/client-iam"
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts"
import { describe, expect, it } from "vitest"
import { type Emulator, makeAccount, memberAccountId, startEmulator } from "../emulator/index.ts"

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
const BASE: Credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }

const iamOf = (e: Emulator, credentials: Credentials = BASE) =>
  new IAMClient({ endpoint: e.url, region: "us-east-1", credentials, maxAttempts: 1 })

const withEmulator = async <A>(options: Parameters<typeof startEmulator>[0], f: (e: Emulator, iam: IAMClient) => Promise<A>): Promise<A> => {
  const e = await startEmulator(options)
  const iam = iamOf(e)
  try {
    return await f(e, iam)
  } finally {
    iam.destroy()
    await e.close()
  }
}

const failure = async (p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> => {
  try {
    await p
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } }
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message }
  }
  throw new Error("expected the call to fail, but it succeeded")
}

const allUsers = async (iam: IAMClient, MaxItems = 7): Promise<Array<User>> => {
  const users: Array<User> = []
  let Marker: string | undefined
  do {
    const page = await iam.send(new ListUsersCommand({ MaxItems, ...(Marker === undefined ? {} : { Marker }) }))
    users.push(...(page.Users ?? []))
    Marker = page.IsTruncated ? page.Marker : undefined
  } while (Marker !== undefined)
  return users
}

const details = async (iam: IAMClient) => {
  const out = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ["User"], MaxItems: 1000 }))
  return new Map((out.UserDetailList ?? []).map((u) => [u.UserName!, u]))
}

/** Asks for a credential report until the account has one (AWS keeps one for four hours). */
const generated = async (iam: IAMClient): Promise<void> => {
  for (;;) {
    const state = await iam.send(new GenerateCredentialReportCommand({}))
    if (state.State === "COMPLETE") return
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The credential report's rows by user name (the CSV's columns as keys). */
const reportRows = async (iam: IAMClient): Promise<Map<string, Record<string, string>>> => {
  await generated(iam)
  const report = await iam.send(new GetCredentialReportCommand({}))
  const [header, ...lines] = Buffer.from(report.Content!).toString("utf8").trim().split("\n")
  const columns = header!.split(",")
  return new Map(lines.map((line) => {
    const cells = line.split(",")
    return [cells[0]!, Object.fromEntries(columns.map((c, i) => [c, cells[i]!]))] as const
  }))
}

describe("emulator writes: users", () => {
  it("CreateUser adds a user (with its tags) that every listing shows; UpdateUser renames and moves it in place; DeleteUser removes it", () =>
    withEmulator({ users: 10 }, async (e, iam) => {
      const created = await iam.send(new CreateUserCommand({ UserName: "new-hire", Path: "/eng/", Tags: [{ Key: "Team", Value: "data" }] }))
      expect(created.User).toMatchObject({ UserName: "new-hire", Path: "/eng/", Arn: "arn:aws:iam::123456789012:user/eng/new-hire" })
      expect(created.User?.UserId).toMatch(/^AIDA[A-Z2-7]{17}$/)
      expect(e.account.size).toBe(13)
      expect((await allUsers(iam)).map((u) => u.UserName)).toEqual([...makeAccount({ users: 10 }).userNames(), "new-hire"])
      expect((await iam.send(new ListUserTagsCommand({ UserName: "new-hire" }))).Tags).toEqual([{ Key: "Team", Value: "data" }])
      expect((await details(iam)).get("new-hire")?.Tags).toEqual([{ Key: "Team", Value: "data" }])
      expect(await failure(iam.send(new CreateUserCommand({ UserName: "new-hire" })))).toMatchObject({ name: "EntityAlreadyExistsException", status: 409 })

      // a generated user renamed and moved: same UserId, same place in the listing, new ARN
      const victim = e.account.userAt(4)
      await iam.send(new UpdateUserCommand({ UserName: victim.UserName, NewUserName: "renamed", NewPath: "/moved/" }))
      const listed = await allUsers(iam)
      expect(listed[4]).toMatchObject({ UserName: "renamed", UserId: victim.UserId, Path: "/moved/", Arn: "arn:aws:iam::123456789012:user/moved/renamed" })
      expect(await failure(iam.send(new GetUserCommand({ UserName: victim.UserName })))).toMatchObject({ name: "NoSuchEntityException", status: 404 })
      expect((await iam.send(new GetUserCommand({ UserName: "renamed" }))).User?.UserId).toBe(victim.UserId)
      expect((await iam.send(new ListAccessKeysCommand({ UserName: "renamed" }))).AccessKeyMetadata?.map((k) => k.AccessKeyId))
        .toEqual(victim.AccessKeys.map((k) => k.AccessKeyId))
      expect((await details(iam)).get("renamed")?.UserId).toBe(victim.UserId)

      await iam.send(new DeleteUserCommand({ UserName: "new-hire" }))
      expect(e.account.size).toBe(12)
      expect((await allUsers(iam)).map((u) => u.UserName)).not.toContain("new-hire")
      expect((await details(iam)).has("new-hire")).toBe(false)
      expect(await failure(iam.send(new ListAccessKeysCommand({ UserName: "new-hire" })))).toMatchObject({ name: "NoSuchEntityException" })
      // the name is free again
      await iam.send(new CreateUserCommand({ UserName: "new-hire" }))
      expect((await allUsers(iam, 100)).filter((u) => u.UserName === "new-hire")).toHaveLength(1)
    }))

  it("DeleteUser refuses a user that still has a password, keys, MFA, policies or groups (DeleteConflict), as AWS does", () =>
    withEmulator({ users: 0 }, async (_, iam) => {
      await iam.send(new CreateUserCommand({ UserName: "busy" }))
      await iam.send(new CreateLoginProfileCommand({ UserName: "busy", Password: "Secr3t!pass" }))
      await iam.send(new AddUserToGroupCommand({ UserName: "busy", GroupName: "Admins" }))
      expect(await failure(iam.send(new DeleteUserCommand({ UserName: "busy" })))).toMatchObject({
        name: "DeleteConflictException",
        status: 409,
        message: "Cannot delete entity, must delete login profile first."
      })
      await iam.send(new DeleteLoginProfileCommand({ UserName: "busy" }))
      expect(await failure(iam.send(new DeleteUserCommand({ UserName: "busy" })))).toMatchObject({ message: /remove users from group/ })
      await iam.send(new RemoveUserFromGroupCommand({ UserName: "busy", GroupName: "Admins" }))
      await iam.send(new DeleteUserCommand({ UserName: "busy" }))
      expect(await allUsers(iam)).toHaveLength(2)
    }))
})

describe("emulator writes: what a user has", () => {
  it("access keys: created (two at most), deactivated, activated, deleted; every read follows", () =>
    withEmulator({ users: 0 }, async (_, iam) => {
      await iam.send(new CreateUserCommand({ UserName: "k" }))
      const a = (await iam.send(new CreateAccessKeyCommand({ UserName: "k" }))).AccessKey!
      const b = (await iam.send(new CreateAccessKeyCommand({ UserName: "k" }))).AccessKey!
      expect(a).toMatchObject({ UserName: "k", Status: "Active" })
      expect(a.AccessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/)
      expect(a.SecretAccessKey).toBeTruthy()
      expect(a.AccessKeyId).not.toBe(b.AccessKeyId)
      expect(await failure(iam.send(new CreateAccessKeyCommand({ UserName: "k" })))).toMatchObject({ name: "LimitExceededException", status: 409 })
      await iam.send(new UpdateAccessKeyCommand({ UserName: "k", AccessKeyId: a.AccessKeyId!, Status: "Inactive" }))
      const keys = async () => (await iam.send(new ListAccessKeysCommand({ UserName: "k" }))).AccessKeyMetadata?.map((k) => [k.AccessKeyId, k.Status])
      expect(await keys()).toEqual([[a.AccessKeyId, "Inactive"], [b.AccessKeyId, "Active"]])
      await iam.send(new UpdateAccessKeyCommand({ UserName: "k", AccessKeyId: a.AccessKeyId!, Status: "Active" }))
      await iam.send(new DeleteAccessKeyCommand({ UserName: "k", AccessKeyId: b.AccessKeyId! }))
      expect(await keys()).toEqual([[a.AccessKeyId, "Active"]])
      expect(await failure(iam.send(new DeleteAccessKeyCommand({ UserName: "k", AccessKeyId: b.AccessKeyId! })))).toMatchObject({ name: "NoSuchEntityException" })
      const row = (await reportRows(iam)).get("k")!
      expect([row.access_key_1_active, row.access_key_2_active]).toEqual(["true", "false"])
    }))

  it("console password and MFA (a virtual device created, enabled, deactivated), per user and in the credential report", () =>
    withEmulator({ users: 0 }, async (_, iam) => {
      await iam.send(new CreateUserCommand({ UserName: "m" }))
      await iam.send(new CreateLoginProfileCommand({ UserName: "m", Password: "Secr3t!pass", PasswordResetRequired: true }))
      expect((await iam.send(new GetLoginProfileCommand({ UserName: "m" }))).LoginProfile).toMatchObject({ UserName: "m", PasswordResetRequired: true })
      expect(await failure(iam.send(new CreateLoginProfileCommand({ UserName: "m", Password: "x" })))).toMatchObject({ name: "EntityAlreadyExistsException" })

      const device = await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: "m-phone" }))
      const serial = device.VirtualMFADevice!.SerialNumber!
      expect(serial).toBe("arn:aws:iam::123456789012:mfa/m-phone")
      expect(await failure(iam.send(new EnableMFADeviceCommand({
        UserName: "m",
        SerialNumber: "arn:aws:iam::123456789012:mfa/never-created",
        AuthenticationCode1: "123456",
        AuthenticationCode2: "654321"
      })))).toMatchObject({ name: "NoSuchEntityException" })
      await iam.send(new EnableMFADeviceCommand({ UserName: "m", SerialNumber: serial, AuthenticationCode1: "123456", AuthenticationCode2: "654321" }))
      expect((await iam.send(new ListMFADevicesCommand({ UserName: "m" }))).MFADevices?.map((d) => d.SerialNumber)).toEqual([serial])
      const on = (await reportRows(iam)).get("m")!
      expect([on.password_enabled, on.mfa_active]).toEqual(["true", "true"])

      await iam.send(new DeactivateMFADeviceCommand({ UserName: "m", SerialNumber: serial }))
      await iam.send(new DeleteLoginProfileCommand({ UserName: "m" }))
      expect((await iam.send(new ListMFADevicesCommand({ UserName: "m" }))).MFADevices).toEqual([])
      expect(await failure(iam.send(new GetLoginProfileCommand({ UserName: "m" })))).toMatchObject({ name: "NoSuchEntityException", status: 404 })
      expect(await failure(iam.send(new DeleteLoginProfileCommand({ UserName: "m" })))).toMatchObject({ name: "NoSuchEntityException" })
    }))

  it("managed and inline policies, groups and tags, per user and in GetAccountAuthorizationDetails", () =>
    withEmulator({ users: 0 }, async (_, iam) => {
      await iam.send(new CreateUserCommand({ UserName: "p", Tags: [{ Key: "Env", Value: "dev" }, { Key: "Owner", Value: "a" }] }))
      const admin = "arn:aws:iam::aws:policy/AdministratorAccess"
      await iam.send(new AttachUserPolicyCommand({ UserName: "p", PolicyArn: admin }))
      await iam.send(new AttachUserPolicyCommand({ UserName: "p", PolicyArn: "arn:aws:iam::123456789012:policy/DeployPipeline" }))
      expect(await failure(iam.send(new AttachUserPolicyCommand({ UserName: "p", PolicyArn: "arn:aws:iam::aws:policy/NoSuchThing" }))))
        .toMatchObject({ name: "NoSuchEntityException", status: 404 })
      await iam.send(new PutUserPolicyCommand({ UserName: "p", PolicyName: "AllowS3", PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }) }))
      await iam.send(new AddUserToGroupCommand({ UserName: "p", GroupName: "Ops" }))
      await iam.send(new TagUserCommand({ UserName: "p", Tags: [{ Key: "Env", Value: "prod" }, { Key: "Cost", Value: "1" }] }))
      await iam.send(new UntagUserCommand({ UserName: "p", TagKeys: ["Owner"] }))

      expect((await iam.send(new ListAttachedUserPoliciesCommand({ UserName: "p" }))).AttachedPolicies?.map((x) => x.PolicyName))
        .toEqual(["AdministratorAccess", "DeployPipeline"])
      expect((await iam.send(new ListUserPoliciesCommand({ UserName: "p" }))).PolicyNames).toEqual(["AllowS3"])
      expect((await iam.send(new ListGroupsForUserCommand({ UserName: "p" }))).Groups?.map((g) => g.GroupName)).toEqual(["Ops"])
      expect((await iam.send(new ListUserTagsCommand({ UserName: "p" }))).Tags).toEqual([{ Key: "Env", Value: "prod" }, { Key: "Cost", Value: "1" }])
      const detail = (await details(iam)).get("p")!
      // GetAccountAuthorizationDetails lists them in the reverse order of the per-user calls, as AWS may.
      expect(detail.AttachedManagedPolicies?.map((x) => x.PolicyArn)).toEqual(["arn:aws:iam::123456789012:policy/DeployPipeline", admin])
      expect(detail.UserPolicyList?.map((x) => x.PolicyName)).toEqual(["AllowS3"])
      expect(detail.GroupList).toEqual(["Ops"])

      await iam.send(new DetachUserPolicyCommand({ UserName: "p", PolicyArn: admin }))
      await iam.send(new DeleteUserPolicyCommand({ UserName: "p", PolicyName: "AllowS3" }))
      await iam.send(new RemoveUserFromGroupCommand({ UserName: "p", GroupName: "Ops" }))
      const after = (await details(iam)).get("p")!
      expect(after.AttachedManagedPolicies?.map((x) => x.PolicyName)).toEqual(["DeployPipeline"])
      expect(after.UserPolicyList ?? []).toEqual([])
      expect(after.GroupList ?? []).toEqual([])
      expect(await failure(iam.send(new DeleteUserPolicyCommand({ UserName: "p", PolicyName: "AllowS3" })))).toMatchObject({ name: "NoSuchEntityException" })
      expect(await failure(iam.send(new AddUserToGroupCommand({ UserName: "p", GroupName: "NoSuchGroup" })))).toMatchObject({ name: "NoSuchEntityException" })
    }))
})

describe("emulator writes: the credential report and the organization", () => {
  it("a report generated before a change keeps the account as it was, even when first read after it; the next generation has the change", () =>
    withEmulator({ users: 30 }, async (e, iam) => {
      const name = [...e.account.users()].find((u) => u.LoginProfile === undefined)!.UserName
      await generated(iam)
      await iam.send(new CreateLoginProfileCommand({ UserName: name, Password: "Secr3t!pass" }))
      await iam.send(new CreateUserCommand({ UserName: "after-the-report" }))
      const stale = await reportRows(iam)
      expect(stale.get(name)?.password_enabled).toBe("false")
      expect(stale.has("after-the-report")).toBe(false)
      e.setCredentialReport({})
      const fresh = await reportRows(iam)
      expect(fresh.get(name)?.password_enabled).toBe("true")
      expect(fresh.has("after-the-report")).toBe(true)
    }))

  it("in an organization, a write signed with an account's session changes that account only", () =>
    withEmulator({ users: 4, organization: { accounts: 3 } }, async (e, base) => {
      const member = e.organization!.account(memberAccountId(2))
      const sts = new STSClient({ endpoint: e.url, region: "us-east-1", credentials: BASE, maxAttempts: 1 })
      const session = (await sts.send(new AssumeRoleCommand({ RoleArn: member.roleArn, RoleSessionName: "test" }))).Credentials!
      const iam = iamOf(e, { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! })
      try {
        const name = member.account.userAt(1).UserName
        await iam.send(new TagUserCommand({ UserName: name, Tags: [{ Key: "Changed", Value: "yes" }] }))
        await iam.send(new CreateUserCommand({ UserName: "member-only" }))
        expect((await iam.send(new GetUserCommand({ UserName: "member-only" }))).User?.Arn).toBe(`arn:aws:iam::${member.id}:user/member-only`)
        expect(member.account.user(name)?.Tags).toContainEqual({ Key: "Changed", Value: "yes" })
        expect(member.account.size).toBe(5)
        // the management account and the other member are untouched
        expect((await allUsers(base)).map((u) => u.UserName)).not.toContain("member-only")
        expect(e.organization!.account(memberAccountId(1)).account.size).toBe(4)
        expect(await failure(base.send(new GetUserCommand({ UserName: name })))).toMatchObject({ name: "NoSuchEntityException" })
      } finally {
        iam.destroy()
        sts.destroy()
      }
    }))
})
