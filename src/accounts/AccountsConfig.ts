/**
 * The `accounts` section of the config file: which AWS accounts a run inventories and how it gets
 * into each. Absent, a run reads the one account its credentials belong to. `list` names accounts
 * and the role to assume in each; `organization` discovers them with AWS Organizations at the
 * start of every run. The role is never a default: AWS's `OrganizationAccountAccessRole` is full
 * administrator, and an inventory needs only read access (see the README for the role's policy).
 */
import * as Schema from "effect/Schema"
import { durationField } from "../config/durations.ts"
import { intBetween, Secret, withDefault } from "../config/fields.ts"

const accountIdExpected = `a 12-digit AWS account id like "123456789012"`
export const AccountId = Schema.String.annotate({ expected: accountIdExpected }).check(
  Schema.isPattern(/^\d{12}$/, { expected: accountIdExpected })
)

const ouIdExpected = `an organizational unit id like "ou-ab12-cd34ef56" or a root id like "r-ab12"`
/** A root (`r-…`) or an organizational unit (`ou-…`) of the organization. */
export const ParentId = Schema.String.annotate({ expected: ouIdExpected }).check(
  Schema.isPattern(/^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/, { expected: ouIdExpected })
)

const roleNameExpected = `an IAM role name like "iam-ocsf-reader" (letters, digits and +=,.@_- ; at most 64)`
/** A role name, without path: assumed as `arn:<partition>:iam::<account>:role/<name>`. */
export const RoleName = Schema.String.annotate({ expected: roleNameExpected }).check(
  Schema.isPattern(/^[\w+=,.@-]{1,64}$/, { expected: roleNameExpected })
)

const roleArnExpected = `a role ARN like "arn:aws:iam::123456789012:role/iam-ocsf-reader"`
export const RoleArn = Schema.String.annotate({ expected: roleArnExpected }).check(
  Schema.isPattern(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/, { expected: roleArnExpected })
)

const oneRole = Schema.makeFilter((entry: { readonly roleArn?: string; readonly roleName?: string }) =>
  entry.roleArn !== undefined && entry.roleName !== undefined
    ? "give roleArn or roleName, not both"
    : undefined
)

/** An account named in `accounts.list`. Without a role, it is read with the base credentials. */
export const ListedAccount = Schema.Struct({
  id: AccountId,
  /** The role to assume, in full. */
  roleArn: Schema.optionalKey(RoleArn),
  /** Or only its name: the ARN is built from the account id. */
  roleName: Schema.optionalKey(RoleName),
  /** The role's trust policy condition `sts:ExternalId`; a secret (`${ENV}`). */
  externalId: Schema.optionalKey(Secret),
  /** Shown in logs and events; default: the name Organizations gives, or the id. */
  name: Schema.optionalKey(Schema.NonEmptyString)
}).check(oneRole)
export type ListedAccount = typeof ListedAccount.Type

const AccountOrParent = Schema.Union([AccountId, ParentId]).annotate({
  expected: `an account id ("123456789012") or an organizational unit id ("ou-ab12-cd34ef56")`
})

export const OrganizationConfig = Schema.Struct({
  /** The role to assume in every discovered account (no default: name a least-privilege role). */
  roleName: RoleName,
  externalId: Schema.optionalKey(Secret),
  /** Discover only the accounts under these roots or OUs (recursively); absent: every account. */
  parents: Schema.optionalKey(Schema.Array(ParentId)),
  /** Keep only these accounts, or the accounts under these OUs; absent: all discovered. */
  include: Schema.optionalKey(Schema.Array(AccountOrParent)),
  /** Leave out these accounts, or the accounts under these OUs (the management account too). */
  exclude: Schema.optionalKey(Schema.Array(AccountOrParent))
})
export type OrganizationConfig = typeof OrganizationConfig.Type

const listOrOrganization = Schema.makeFilter((accounts: {
  readonly list?: ReadonlyArray<ListedAccount>
  readonly organization?: OrganizationConfig
}) => {
  if (accounts.list === undefined && accounts.organization === undefined) {
    return "give list or organization (or leave the accounts section out to read the credentials' own account)"
  }
  const ids = (accounts.list ?? []).map((a) => a.id)
  const twice = ids.find((id, i) => ids.indexOf(id) !== i)
  return twice === undefined ? undefined : `account ${twice} is listed twice`
})

export const AccountsConfig = Schema.Struct({
  list: Schema.optionalKey(Schema.Array(ListedAccount)),
  organization: Schema.optionalKey(OrganizationConfig),
  /** `RoleSessionName` of every assumed session: what CloudTrail shows of this tool. */
  sessionName: RoleName.pipe(withDefault("iam-ocsf")),
  /** How long each assumed session lasts (it is renewed before it expires); 15m to 12h, AWS's bounds for a role session. */
  sessionDuration: durationField({ minimum: "15m", maximum: "12h", default: "1h" }),
  /** Accounts collected at once; each has its own request rate, so this multiplies the calls in flight. */
  concurrency: intBetween(1, 64).pipe(withDefault(4))
}).check(listOrOrganization)
export type AccountsConfig = typeof AccountsConfig.Type
