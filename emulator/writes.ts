/**
 * The IAM write actions a test needs to change an account the way an administrator would, through
 * the real SDK: users (CreateUser, UpdateUser, DeleteUser), access keys, the console password, MFA
 * (CreateVirtualMFADevice, EnableMFADevice, DeactivateMFADevice), managed and inline policies,
 * groups and tags. They change the account's overlay (`account.ts`), so every read sees them: the
 * per-user calls, ListUsers, GetAccountAuthorizationDetails, and the credential report once it is
 * generated again. AWS's rules that a test could trip over are kept: a name in use
 * (EntityAlreadyExists), two keys at most (LimitExceeded), a user with keys, a password, MFA,
 * policies or groups cannot be deleted (DeleteConflict), unknown keys, devices, policies and groups
 * (NoSuchEntity). Writes take no faults and no request budget: they are the test's hand, not the
 * collector's load.
 */
import type {
  Account,
  AccessKeyRecord,
  KeyStatus,
  MfaDeviceRecord,
  ServiceSpecificCredentialRecord,
  SigningCertificateRecord,
  SshPublicKeyRecord,
  TagRecord,
  UserRecord
} from "./account.ts"
import { el, list } from "./xml.ts"

export const WRITE_ACTIONS = [
  "CreateUser",
  "UpdateUser",
  "DeleteUser",
  "CreateAccessKey",
  "UpdateAccessKey",
  "DeleteAccessKey",
  "CreateLoginProfile",
  "DeleteLoginProfile",
  "CreateVirtualMFADevice",
  "EnableMFADevice",
  "DeactivateMFADevice",
  "AttachUserPolicy",
  "DetachUserPolicy",
  "PutUserPolicy",
  "DeleteUserPolicy",
  "AddUserToGroup",
  "RemoveUserFromGroup",
  "TagUser",
  "UntagUser",
  "UploadSSHPublicKey",
  "UpdateSSHPublicKey",
  "DeleteSSHPublicKey",
  "UploadSigningCertificate",
  "UpdateSigningCertificate",
  "DeleteSigningCertificate",
  "CreateServiceSpecificCredential",
  "UpdateServiceSpecificCredential",
  "DeleteServiceSpecificCredential",
  "PutUserPermissionsBoundary",
  "DeleteUserPermissionsBoundary"
] as const
export type WriteAction = (typeof WRITE_ACTIONS)[number]

export const isWriteAction = (s: string): s is WriteAction => (WRITE_ACTIONS as ReadonlyArray<string>).includes(s)

export type WriteAnswer =
  | { readonly _tag: "Ok"; readonly result: string }
  | {
    readonly _tag: "Error"
    readonly status: number
    readonly code: string
    readonly message: string
    readonly outcome: "notFound" | "rejected"
  }

/** What the writes of one account keep besides its users: ids handed out, virtual MFA devices not yet enabled. */
export interface AccountWrites {
  apply(action: WriteAction, params: URLSearchParams, now: Date): WriteAnswer
}

const ok = (result = ""): WriteAnswer => ({ _tag: "Ok", result })
const error = (status: number, code: string, message: string): WriteAnswer => ({
  _tag: "Error",
  status,
  code,
  message,
  outcome: status === 404 ? "notFound" : "rejected"
})
const validation = (message: string) => error(400, "ValidationError", message)
const noSuchEntity = (message: string) => error(404, "NoSuchEntity", message)
const exists = (message: string) => error(409, "EntityAlreadyExists", message)
const limit = (message: string) => error(409, "LimitExceeded", message)

/** Thrown inside an action, returned as its answer. */
class Refused extends Error {
  readonly answer: WriteAnswer
  constructor(answer: WriteAnswer) {
    super("refused")
    this.answer = answer
  }
}
const refuse = (answer: WriteAnswer): never => {
  throw new Refused(answer)
}

const USER_NAME = /^[\w+=,.@-]{1,64}$/
const PATH = /^\/([\x21-\x7e]{0,510}\/)?$/
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u
const MAX_TAGS = 50
const MAX_KEYS = 2
const MAX_ATTACHED = 10
const MAX_SSH_KEYS = 5
const MAX_CERTIFICATES = 2
const MAX_CREDENTIALS_PER_SERVICE = 2
const SERVICES_WITH_CREDENTIALS = ["codecommit.amazonaws.com", "cassandra.amazonaws.com", "bedrock.amazonaws.com"]

const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z")

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
const base32 = (n: number, width: number): string => {
  let s = ""
  for (let i = 0; i < width; i++) {
    s = BASE32[n % 32] + s
    n = Math.floor(n / 32)
  }
  return s
}

const required = (params: URLSearchParams, name: string, field = name[0]!.toLowerCase() + name.slice(1)): string => {
  const v = params.get(name)
  if (v === null || v === "") {
    return refuse(validation(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`))
  }
  return v
}

const userName = (params: URLSearchParams, name = "UserName"): string => {
  const v = required(params, name)
  if (!USER_NAME.test(v)) {
    refuse(validation(`1 validation error detected: Value '${v}' at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`))
  }
  return v
}

const pathParam = (params: URLSearchParams, name: string): string | undefined => {
  const v = params.get(name)
  if (v === null) return undefined
  if (!PATH.test(v)) {
    refuse(validation(`1 validation error detected: Value '${v}' at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)`))
  }
  return v
}

/** `Tags.member.N.Key`/`.Value`, in N order. */
const tagsParam = (params: URLSearchParams): Array<TagRecord> => {
  const byIndex = new Map<number, { Key?: string; Value?: string }>()
  for (const [k, v] of params) {
    const m = /^Tags\.member\.(\d+)\.(Key|Value)$/.exec(k)
    if (m === null) continue
    const entry = byIndex.get(Number(m[1])) ?? {}
    entry[m[2] as "Key" | "Value"] = v
    byIndex.set(Number(m[1]), entry)
  }
  return [...byIndex].sort(([a], [b]) => a - b).map(([, t]) => {
    if (t.Key === undefined || !TAG_KEY.test(t.Key)) refuse(validation(`Invalid tag key: '${t.Key ?? ""}'`))
    if (t.Value === undefined || t.Value.length > 256) refuse(validation(`Invalid tag value for key '${t.Key}'`))
    return { Key: t.Key!, Value: t.Value! }
  })
}

const membersOf = (params: URLSearchParams, prefix: string): Array<string> =>
  [...params]
    .flatMap(([k, v]) => {
      const m = new RegExp(`^${prefix}\\.member\\.(\\d+)$`).exec(k)
      return m === null ? [] : [[Number(m[1]), v] as const]
    })
    .sort(([a], [b]) => a - b)
    .map(([, v]) => v)

const userXml = (u: UserRecord): string =>
  `<User>${el("Path", u.Path)}${el("UserName", u.UserName)}${el("UserId", u.UserId)}${el("Arn", u.Arn)}` +
  `${el("CreateDate", u.CreateDate)}${u.Tags.length > 0 ? list("Tags", u.Tags, (t) => el("Key", t.Key) + el("Value", t.Value)) : ""}</User>`

const statusParam = (params: URLSearchParams): KeyStatus => {
  const status = required(params, "Status")
  if (status !== "Active" && status !== "Inactive") {
    return refuse(validation(`1 validation error detected: Value '${status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`))
  }
  return status
}

/** An SSH key's MD5 fingerprint as AWS shows it, `aa:bb:...` (of the key's text: the emulator does not decode keys). */
const fingerprint = (body: string): string => {
  let h = 0x811c9dc5
  const bytes: Array<string> = []
  for (let i = 0; i < 16; i++) {
    for (const c of body) h = Math.imul(h ^ c.charCodeAt(0) ^ i, 0x01000193)
    bytes.push(((h >>> 0) & 0xff).toString(16).padStart(2, "0"))
  }
  return bytes.join(":")
}

/** A short stable number of the account, so that the ids handed out differ between accounts. */
const accountNumber = (accountId: string): number => Number(accountId) % 2 ** 30

export const makeAccountWrites = (account: Account): AccountWrites => {
  let counter = 0
  const accountTag = base32(accountNumber(account.accountId), 6)
  /** `CreateVirtualMFADevice` serials not enabled for a user yet. */
  const virtualDevices = new Set<string>()
  /** Serials enabled through these writes (AWS refuses one device for two users). */
  const enabled = new Set<string>()

  const find = (name: string): UserRecord => account.user(name) ?? refuse(noSuchEntity(`The user with name ${name} cannot be found.`))
  const update = (u: UserRecord, next: Partial<UserRecord>): void => account.replaceUser(u.UserName, { ...u, ...next })
  /** A 21-character user id or a 20-character key id, unique in the account, and unlike any generated one (`Q`). */
  const nextId = (prefix: string, width: number): string => `${prefix}Q${accountTag}${base32(++counter, width)}`

  const actions: Record<WriteAction, (params: URLSearchParams, now: Date) => WriteAnswer> = {
    CreateUser: (params, now) => {
      const name = userName(params)
      const path = pathParam(params, "Path") ?? "/"
      const tags = tagsParam(params)
      if (tags.length > MAX_TAGS) return limit(`Cannot exceed quota for TagsPerUser: ${MAX_TAGS}`)
      if (account.user(name) !== undefined) return exists(`User with name ${name} already exists.`)
      const u: UserRecord = {
        UserName: name,
        UserId: nextId("AIDA", 10),
        Arn: `arn:aws:iam::${account.accountId}:user${path}${name}`,
        Path: path,
        CreateDate: iso(now),
        AccessKeys: [],
        MFADevices: [],
        Tags: tags,
        Groups: [],
        AttachedPolicies: [],
        InlinePolicyNames: [],
        SSHPublicKeys: [],
        SigningCertificates: [],
        ServiceSpecificCredentials: []
      }
      account.addUser(u)
      return ok(userXml(u))
    },
    UpdateUser: (params) => {
      const u = find(userName(params))
      const newName = params.has("NewUserName") ? userName(params, "NewUserName") : u.UserName
      const newPath = pathParam(params, "NewPath") ?? u.Path
      if (newName !== u.UserName && account.user(newName) !== undefined) return exists(`User with name ${newName} already exists.`)
      update(u, { UserName: newName, Path: newPath, Arn: `arn:aws:iam::${account.accountId}:user${newPath}${newName}` })
      return ok()
    },
    DeleteUser: (params) => {
      const u = find(userName(params))
      const conflict = u.LoginProfile !== undefined
        ? "must delete login profile first"
        : u.AccessKeys.length > 0
        ? "must delete access keys first"
        : u.SigningCertificates.length > 0
        ? "must delete signing certificates first"
        : u.SSHPublicKeys.length > 0
        ? "must delete SSH public keys first"
        : u.ServiceSpecificCredentials.length > 0
        ? "must delete service-specific credentials first"
        : u.MFADevices.length > 0
        ? "must delete MFA device first"
        : u.AttachedPolicies.length > 0
        ? "must detach all policies first"
        : u.InlinePolicyNames.length > 0
        ? "must delete policies first"
        : u.Groups.length > 0
        ? "must remove users from group first"
        : undefined
      if (conflict !== undefined) return error(409, "DeleteConflict", `Cannot delete entity, ${conflict}.`)
      account.removeUser(u.UserName)
      return ok()
    },
    CreateAccessKey: (params, now) => {
      const u = find(userName(params))
      if (u.AccessKeys.length >= MAX_KEYS) return limit(`Cannot exceed quota for AccessKeysPerUser: ${MAX_KEYS}`)
      const key: AccessKeyRecord = { AccessKeyId: nextId("AKIA", 9), Status: "Active", CreateDate: iso(now) }
      update(u, { AccessKeys: [...u.AccessKeys, key] })
      return ok(
        `<AccessKey>${el("UserName", u.UserName)}${el("AccessKeyId", key.AccessKeyId)}${el("Status", key.Status)}` +
          `${el("SecretAccessKey", `emulator-secret-${key.AccessKeyId}`)}${el("CreateDate", key.CreateDate)}</AccessKey>`
      )
    },
    UpdateAccessKey: (params) => {
      const u = find(userName(params))
      const id = required(params, "AccessKeyId")
      const status = statusParam(params)
      if (!u.AccessKeys.some((k) => k.AccessKeyId === id)) return noSuchEntity(`The Access Key with id ${id} cannot be found.`)
      update(u, { AccessKeys: u.AccessKeys.map((k) => k.AccessKeyId === id ? { ...k, Status: status } : k) })
      return ok()
    },
    DeleteAccessKey: (params) => {
      const u = find(userName(params))
      const id = required(params, "AccessKeyId")
      if (!u.AccessKeys.some((k) => k.AccessKeyId === id)) return noSuchEntity(`The Access Key with id ${id} cannot be found.`)
      update(u, { AccessKeys: u.AccessKeys.filter((k) => k.AccessKeyId !== id) })
      return ok()
    },
    CreateLoginProfile: (params, now) => {
      const u = find(userName(params))
      required(params, "Password")
      if (u.LoginProfile !== undefined) return exists(`Login Profile for user ${u.UserName} already exists.`)
      const profile = { CreateDate: iso(now), PasswordResetRequired: params.get("PasswordResetRequired") === "true" }
      update(u, { LoginProfile: profile })
      return ok(
        `<LoginProfile>${el("UserName", u.UserName)}${el("CreateDate", profile.CreateDate)}` +
          `<PasswordResetRequired>${profile.PasswordResetRequired}</PasswordResetRequired></LoginProfile>`
      )
    },
    DeleteLoginProfile: (params) => {
      const u = find(userName(params))
      if (u.LoginProfile === undefined) return noSuchEntity(`Login Profile for User ${u.UserName} cannot be found.`)
      const { LoginProfile: _, ...rest } = u
      account.replaceUser(u.UserName, rest)
      return ok()
    },
    CreateVirtualMFADevice: (params) => {
      const name = required(params, "VirtualMFADeviceName")
      if (!USER_NAME.test(name)) return validation(`Invalid VirtualMFADeviceName: '${name}'`)
      const path = pathParam(params, "Path") ?? "/"
      const serial = `arn:aws:iam::${account.accountId}:mfa${path}${name}`
      if (virtualDevices.has(serial) || enabled.has(serial)) return exists(`MFADevice entity at the same path and name already exists.`)
      virtualDevices.add(serial)
      return ok(
        `<VirtualMFADevice>${el("SerialNumber", serial)}` +
          `${el("Base32StringSeed", Buffer.from(`seed-${serial}`).toString("base64"))}</VirtualMFADevice>`
      )
    },
    EnableMFADevice: (params, now) => {
      const u = find(userName(params))
      const serial = required(params, "SerialNumber")
      for (const code of ["AuthenticationCode1", "AuthenticationCode2"]) {
        if (!/^\d{6}$/.test(required(params, code))) return validation(`${code} must be six digits`)
      }
      // A virtual device must have been created; a hardware token's serial is any other text.
      const virtual = serial.startsWith("arn:")
      if (virtual && !virtualDevices.has(serial)) return noSuchEntity(`MFA Device with serial number ${serial} does not exist.`)
      if (enabled.has(serial) || u.MFADevices.some((d) => d.SerialNumber === serial)) {
        return exists(`MFA Device is already in use.`)
      }
      virtualDevices.delete(serial)
      enabled.add(serial)
      const device: MfaDeviceRecord = { SerialNumber: serial, EnableDate: iso(now) }
      update(u, { MFADevices: [...u.MFADevices, device] })
      return ok()
    },
    DeactivateMFADevice: (params) => {
      const u = find(userName(params))
      const serial = required(params, "SerialNumber")
      if (!u.MFADevices.some((d) => d.SerialNumber === serial)) {
        return noSuchEntity(`MFA Device with serial number ${serial} does not exist.`)
      }
      update(u, { MFADevices: u.MFADevices.filter((d) => d.SerialNumber !== serial) })
      enabled.delete(serial)
      // a deactivated virtual device stays, unassigned, until it is deleted
      if (serial.startsWith("arn:")) virtualDevices.add(serial)
      return ok()
    },
    AttachUserPolicy: (params) => {
      const u = find(userName(params))
      const arn = required(params, "PolicyArn")
      const policy = account.policies.find((p) => p.PolicyArn === arn)
      if (policy === undefined) return noSuchEntity(`Policy ${arn} does not exist or is not attachable.`)
      if (u.AttachedPolicies.some((p) => p.PolicyArn === arn)) return ok()
      if (u.AttachedPolicies.length >= MAX_ATTACHED) return limit(`Cannot exceed quota for PoliciesPerUser: ${MAX_ATTACHED}`)
      update(u, { AttachedPolicies: [...u.AttachedPolicies, policy] })
      return ok()
    },
    DetachUserPolicy: (params) => {
      const u = find(userName(params))
      const arn = required(params, "PolicyArn")
      if (!u.AttachedPolicies.some((p) => p.PolicyArn === arn)) return noSuchEntity(`Policy ${arn} was not found.`)
      update(u, { AttachedPolicies: u.AttachedPolicies.filter((p) => p.PolicyArn !== arn) })
      return ok()
    },
    PutUserPolicy: (params) => {
      const u = find(userName(params))
      const name = required(params, "PolicyName")
      if (!/^[\w+=,.@-]{1,128}$/.test(name)) return validation(`Invalid PolicyName: '${name}'`)
      const document = required(params, "PolicyDocument")
      try {
        JSON.parse(document)
      } catch {
        return error(400, "MalformedPolicyDocument", "Syntax errors in policy.")
      }
      update(u, {
        InlinePolicyNames: u.InlinePolicyNames.includes(name) ? u.InlinePolicyNames : [...u.InlinePolicyNames, name],
        InlinePolicyDocuments: { ...u.InlinePolicyDocuments, [name]: document }
      })
      return ok()
    },
    DeleteUserPolicy: (params) => {
      const u = find(userName(params))
      const name = required(params, "PolicyName")
      if (!u.InlinePolicyNames.includes(name)) return noSuchEntity(`The user policy with name ${name} cannot be found.`)
      const { [name]: _, ...documents } = u.InlinePolicyDocuments ?? {}
      update(u, { InlinePolicyNames: u.InlinePolicyNames.filter((n) => n !== name), InlinePolicyDocuments: documents })
      return ok()
    },
    AddUserToGroup: (params) => {
      const groupName = required(params, "GroupName")
      const u = find(userName(params))
      const group = account.groups.find((g) => g.GroupName === groupName)
      if (group === undefined) return noSuchEntity(`The group with name ${groupName} cannot be found.`)
      if (!u.Groups.some((g) => g.GroupName === groupName)) update(u, { Groups: [...u.Groups, group] })
      return ok()
    },
    RemoveUserFromGroup: (params) => {
      const groupName = required(params, "GroupName")
      const u = find(userName(params))
      if (!account.groups.some((g) => g.GroupName === groupName)) return noSuchEntity(`The group with name ${groupName} cannot be found.`)
      if (!u.Groups.some((g) => g.GroupName === groupName)) {
        return noSuchEntity(`The user with name ${u.UserName} cannot be found in group ${groupName}.`)
      }
      update(u, { Groups: u.Groups.filter((g) => g.GroupName !== groupName) })
      return ok()
    },
    TagUser: (params) => {
      const u = find(userName(params))
      const tags = tagsParam(params)
      if (tags.length === 0) return validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
      const next = [...u.Tags]
      for (const t of tags) {
        const i = next.findIndex((x) => x.Key === t.Key)
        if (i >= 0) next[i] = t
        else next.push(t)
      }
      if (next.length > MAX_TAGS) return limit(`Cannot exceed quota for TagsPerUser: ${MAX_TAGS}`)
      update(u, { Tags: next })
      return ok()
    },
    UntagUser: (params) => {
      const u = find(userName(params))
      const keys = new Set(membersOf(params, "TagKeys"))
      if (keys.size === 0) return validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
      update(u, { Tags: u.Tags.filter((t) => !keys.has(t.Key)) })
      return ok()
    },
    UploadSSHPublicKey: (params, now) => {
      const u = find(userName(params))
      const body = required(params, "SSHPublicKeyBody")
      if (!/^(ssh-rsa|ssh-ed25519|ecdsa-sha2-\S+) [A-Za-z0-9+/=]+/.test(body) && !body.startsWith("-----BEGIN")) {
        return error(400, "UnrecognizedPublicKeyEncoding", "The public key encoding format is unsupported or unrecognized.")
      }
      if (u.SSHPublicKeys.length >= MAX_SSH_KEYS) return limit(`Cannot exceed quota for PublicKeysPerUser: ${MAX_SSH_KEYS}`)
      const key: SshPublicKeyRecord = { SSHPublicKeyId: nextId("APKA", 9), Status: "Active", UploadDate: iso(now) }
      update(u, { SSHPublicKeys: [...u.SSHPublicKeys, key] })
      return ok(
        `<SSHPublicKey>${el("UserName", u.UserName)}${el("SSHPublicKeyId", key.SSHPublicKeyId)}` +
          `${el("Fingerprint", fingerprint(body))}${el("SSHPublicKeyBody", body)}${el("Status", key.Status)}` +
          `${el("UploadDate", key.UploadDate)}</SSHPublicKey>`
      )
    },
    UpdateSSHPublicKey: (params) => {
      const u = find(userName(params))
      const id = required(params, "SSHPublicKeyId", "sSHPublicKeyId")
      const status = statusParam(params)
      if (!u.SSHPublicKeys.some((k) => k.SSHPublicKeyId === id)) return noSuchEntity(`The Public Key with id ${id} cannot be found.`)
      update(u, { SSHPublicKeys: u.SSHPublicKeys.map((k) => k.SSHPublicKeyId === id ? { ...k, Status: status } : k) })
      return ok()
    },
    DeleteSSHPublicKey: (params) => {
      const u = find(userName(params))
      const id = required(params, "SSHPublicKeyId", "sSHPublicKeyId")
      if (!u.SSHPublicKeys.some((k) => k.SSHPublicKeyId === id)) return noSuchEntity(`The Public Key with id ${id} cannot be found.`)
      update(u, { SSHPublicKeys: u.SSHPublicKeys.filter((k) => k.SSHPublicKeyId !== id) })
      return ok()
    },
    UploadSigningCertificate: (params, now) => {
      const u = find(userName(params))
      const body = required(params, "CertificateBody")
      if (!body.includes("-----BEGIN CERTIFICATE-----")) return error(400, "MalformedCertificate", "Unable to parse certificate.")
      if (u.SigningCertificates.length >= MAX_CERTIFICATES) {
        return limit(`Cannot exceed quota for SigningCertificatesPerUser: ${MAX_CERTIFICATES}`)
      }
      const certificate: SigningCertificateRecord = { CertificateId: nextId("CERT", 20), Status: "Active", UploadDate: iso(now) }
      update(u, { SigningCertificates: [...u.SigningCertificates, certificate] })
      return ok(
        `<Certificate>${el("UserName", u.UserName)}${el("CertificateId", certificate.CertificateId)}` +
          `${el("CertificateBody", body)}${el("Status", certificate.Status)}${el("UploadDate", certificate.UploadDate)}</Certificate>`
      )
    },
    UpdateSigningCertificate: (params) => {
      const u = find(userName(params))
      const id = required(params, "CertificateId")
      const status = statusParam(params)
      if (!u.SigningCertificates.some((c) => c.CertificateId === id)) return noSuchEntity(`The Certificate with id ${id} cannot be found.`)
      update(u, { SigningCertificates: u.SigningCertificates.map((c) => c.CertificateId === id ? { ...c, Status: status } : c) })
      return ok()
    },
    DeleteSigningCertificate: (params) => {
      const u = find(userName(params))
      const id = required(params, "CertificateId")
      if (!u.SigningCertificates.some((c) => c.CertificateId === id)) return noSuchEntity(`The Certificate with id ${id} cannot be found.`)
      update(u, { SigningCertificates: u.SigningCertificates.filter((c) => c.CertificateId !== id) })
      return ok()
    },
    CreateServiceSpecificCredential: (params, now) => {
      const u = find(userName(params))
      const service = required(params, "ServiceName")
      if (!SERVICES_WITH_CREDENTIALS.includes(service)) return error(400, "ServiceNotSupported", `The specified service ${service} is not supported.`)
      if (u.ServiceSpecificCredentials.filter((c) => c.ServiceName === service).length >= MAX_CREDENTIALS_PER_SERVICE) {
        return limit(`Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: ${MAX_CREDENTIALS_PER_SERVICE}`)
      }
      const days = params.get("CredentialAgeDays")
      const id = nextId("ACCA", 10)
      const credential: ServiceSpecificCredentialRecord = {
        ServiceSpecificCredentialId: id,
        ServiceName: service,
        ServiceUserName: `${u.UserName}-at-${id.slice(-6).toLowerCase()}`,
        Status: "Active",
        CreateDate: iso(now),
        ...(days === null ? {} : { ExpirationDate: iso(new Date(now.getTime() + Number(days) * 86_400_000)) })
      }
      update(u, { ServiceSpecificCredentials: [...u.ServiceSpecificCredentials, credential] })
      return ok(
        `<ServiceSpecificCredential>${el("CreateDate", credential.CreateDate)}` +
          (credential.ExpirationDate === undefined ? "" : el("ExpirationDate", credential.ExpirationDate)) +
          `${el("ServiceName", service)}${el("ServiceUserName", credential.ServiceUserName!)}` +
          `${el("ServicePassword", `emulator-password-${id}`)}${el("ServiceSpecificCredentialId", id)}` +
          `${el("UserName", u.UserName)}${el("Status", "Active")}</ServiceSpecificCredential>`
      )
    },
    UpdateServiceSpecificCredential: (params) => {
      const u = find(userName(params))
      const id = required(params, "ServiceSpecificCredentialId")
      const status = statusParam(params)
      if (!u.ServiceSpecificCredentials.some((c) => c.ServiceSpecificCredentialId === id)) {
        return noSuchEntity(`No such ServiceSpecificCredential: ${id}`)
      }
      update(u, {
        ServiceSpecificCredentials: u.ServiceSpecificCredentials.map((c) => c.ServiceSpecificCredentialId === id ? { ...c, Status: status } : c)
      })
      return ok()
    },
    DeleteServiceSpecificCredential: (params) => {
      const u = find(userName(params))
      const id = required(params, "ServiceSpecificCredentialId")
      if (!u.ServiceSpecificCredentials.some((c) => c.ServiceSpecificCredentialId === id)) {
        return noSuchEntity(`No such ServiceSpecificCredential: ${id}`)
      }
      update(u, { ServiceSpecificCredentials: u.ServiceSpecificCredentials.filter((c) => c.ServiceSpecificCredentialId !== id) })
      return ok()
    },
    PutUserPermissionsBoundary: (params) => {
      const u = find(userName(params))
      const arn = required(params, "PermissionsBoundary")
      if (account.managedPolicy(arn) === undefined) return noSuchEntity(`Policy ${arn} does not exist or is not attachable.`)
      update(u, { PermissionsBoundary: arn })
      return ok()
    },
    DeleteUserPermissionsBoundary: (params) => {
      const u = find(userName(params))
      if (u.PermissionsBoundary === undefined) return noSuchEntity(`The user with name ${u.UserName} has no permissions boundary.`)
      const { PermissionsBoundary: _, ...rest } = u
      account.replaceUser(u.UserName, rest)
      return ok()
    }
  }

  return {
    apply: (action, params, now) => {
      try {
        return actions[action](params, now)
      } catch (e) {
        if (e instanceof Refused) return e.answer
        throw e
      }
    }
  }
}
