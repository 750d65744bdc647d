/**
 * The emulated account's policies with their documents: the AWS managed policies its users and
 * groups use, its customer managed policies (some with older versions than the default, one
 * older version allowing everything, as a policy tightened since), the permissions boundaries,
 * the inline policies a generated user or group may have, and each group's policies. Documents
 * are JSON text; the server URL-encodes them, as AWS does. Everything here is a constant or a
 * pure function of the account id.
 */
import type { AttachedPolicyRecord } from "./account.ts"

export interface PolicyVersionRecord {
  readonly VersionId: string
  /** The policy document, JSON text (the server URL-encodes it). */
  readonly Document: string
  readonly CreateDate: string
}

/** A managed policy, AWS's or the account's own, with every version kept. */
export interface ManagedPolicyRecord extends AttachedPolicyRecord {
  readonly PolicyId: string
  readonly Path: string
  readonly DefaultVersionId: string
  /** Oldest first; the default one among them. */
  readonly Versions: ReadonlyArray<PolicyVersionRecord>
  readonly CreateDate: string
  readonly AwsManaged: boolean
  /** Attachable to users and groups (a boundary-only policy is too, but is not offered to the generator). */
  readonly IsAttachable: boolean
}

export interface InlinePolicyRecord {
  readonly PolicyName: string
  /** JSON text. */
  readonly PolicyDocument: string
}

const doc = (...statements: ReadonlyArray<Record<string, unknown>>): string =>
  JSON.stringify({ Version: "2012-10-17", Statement: statements.length === 1 ? statements[0] : statements })

const allow = (Action: string | ReadonlyArray<string>, Resource: string | ReadonlyArray<string> = "*", extra: Record<string, unknown> = {}) => ({
  Effect: "Allow",
  Action,
  Resource,
  ...extra
})
const deny = (Action: string | ReadonlyArray<string>, Resource: string | ReadonlyArray<string> = "*") => ({ Effect: "Deny", Action, Resource })

/** Everything on everything: what makes an administrator. */
const ALLOW_ALL = doc(allow("*"))

/** The documents of AWS's managed policies, abridged but of the same kind (PowerUserAccess is everything *but* IAM). */
const AWS_DOCUMENTS: Readonly<Record<string, string>> = {
  AdministratorAccess: ALLOW_ALL,
  ReadOnlyAccess: doc(allow(["a4b:Get*", "acm:Describe*", "ec2:Describe*", "iam:Get*", "iam:List*", "s3:Get*", "s3:List*"])),
  PowerUserAccess: doc(
    { Effect: "Allow", NotAction: ["iam:*", "organizations:*", "account:*"], Resource: "*" },
    allow(["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles", "organizations:DescribeOrganization"])
  ),
  IAMReadOnlyAccess: doc(allow(["iam:GenerateCredentialReport", "iam:Get*", "iam:List*", "iam:SimulatePrincipalPolicy"])),
  AmazonS3ReadOnlyAccess: doc(allow(["s3:Get*", "s3:List*", "s3-object-lambda:Get*", "s3-object-lambda:List*"])),
  AmazonEC2FullAccess: doc(allow("ec2:*"), allow("elasticloadbalancing:*"), allow("cloudwatch:*")),
  CloudWatchLogsFullAccess: doc(allow(["logs:*", "cloudwatch:GenerateQuery"])),
  AWSLambdaBasicExecutionRole: doc(allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]))
}

/** A stable 21-character policy id from a name (AWS's are `ANPA` and 17 characters). */
const policyId = (name: string, accountId: string): string => {
  let h = 0x811c9dc5
  for (const c of `${accountId}/${name}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193)
  let id = ""
  for (let i = 0; i < 17; i++) {
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0
    id += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[h % 32]
  }
  return `ANPA${id}`
}

const awsManaged = (name: string, path = "/"): ManagedPolicyRecord => ({
  PolicyName: name,
  PolicyArn: `arn:aws:iam::aws:policy${path}${name}`,
  PolicyId: policyId(name, "aws"),
  Path: path,
  DefaultVersionId: "v1",
  Versions: [{ VersionId: "v1", Document: AWS_DOCUMENTS[name]!, CreateDate: "2015-02-06T18:39:46Z" }],
  CreateDate: "2015-02-06T18:39:46Z",
  AwsManaged: true,
  IsAttachable: true
})

/** The AWS managed policies users may be attached to, in the order of the generator's pool. */
export const AWS_MANAGED: ReadonlyArray<ManagedPolicyRecord> = [
  awsManaged("AdministratorAccess"),
  awsManaged("ReadOnlyAccess"),
  awsManaged("PowerUserAccess"),
  awsManaged("IAMReadOnlyAccess"),
  awsManaged("AmazonS3ReadOnlyAccess"),
  awsManaged("AmazonEC2FullAccess"),
  awsManaged("CloudWatchLogsFullAccess"),
  awsManaged("AWSLambdaBasicExecutionRole", "/service-role/")
]

const customer = (
  accountId: string,
  name: string,
  path: string,
  versions: ReadonlyArray<string>,
  created: string,
  attachable = true
): ManagedPolicyRecord => ({
  PolicyName: name,
  PolicyArn: `arn:aws:iam::${accountId}:policy${path}${name}`,
  PolicyId: policyId(name, accountId),
  Path: path,
  DefaultVersionId: `v${versions.length}`,
  Versions: versions.map((Document, i) => ({
    VersionId: `v${i + 1}`,
    Document,
    CreateDate: new Date(Date.parse(created) + i * 90 * 86_400_000).toISOString().replace(".000Z", "Z")
  })),
  CreateDate: created,
  AwsManaged: false,
  IsAttachable: attachable
})

/**
 * The account's customer managed policies users may be attached to, in the order of the
 * generator's pool. DeployPipeline allowed everything in its first version and was tightened
 * since: only the default version counts. BreakGlass allows everything behind an MFA condition.
 */
export const customerPolicies = (accountId: string): ReadonlyArray<ManagedPolicyRecord> => [
  customer(accountId, "DeployPipeline", "/", [
    ALLOW_ALL,
    doc(allow(["codepipeline:*", "codebuild:*", "codedeploy:*"]), allow("s3:PutObject", "arn:aws:s3:::artifacts-*/*"))
  ], "2018-04-10T09:00:00Z"),
  customer(accountId, "S3DataLakeAccess", "/engineering/", [
    doc(allow("s3:*", ["arn:aws:s3:::datalake-*", "arn:aws:s3:::datalake-*/*"]))
  ], "2019-03-18T10:30:00Z"),
  customer(accountId, "BillingReadOnly", "/finance/", [
    doc(allow(["aws-portal:View*", "ce:Get*", "budgets:View*"]))
  ], "2017-05-12T13:30:00Z"),
  customer(accountId, "BreakGlass", "/security/", [
    doc(allow("*", "*", { Condition: { Bool: { "aws:MultiFactorAuthPresent": "true" } } }))
  ], "2018-08-08T08:30:00Z")
]

/**
 * The permissions boundaries generated users may have: a customer boundary that allows a
 * developer's services only (it takes administration away), AWS's PowerUserAccess (everything
 * but IAM: it takes administration away too), and AdministratorAccess (a boundary that allows
 * everything, so it takes nothing away).
 */
export const boundaryPolicies = (accountId: string): ReadonlyArray<ManagedPolicyRecord> => [
  customer(accountId, "DeveloperBoundary", "/boundaries/", [
    doc(allow(["s3:*", "ec2:*", "lambda:*", "logs:*", "cloudwatch:*", "dynamodb:*"]), deny("iam:*"))
  ], "2021-06-01T12:00:00Z", false),
  AWS_MANAGED[2]!,
  AWS_MANAGED[0]!
]

/** Every managed policy of the account with its documents (AWS's, the account's own, the boundaries), by ARN. */
export const managedPoliciesOf = (accountId: string): ReadonlyArray<ManagedPolicyRecord> => {
  const all = new Map<string, ManagedPolicyRecord>()
  for (const p of [...AWS_MANAGED, ...customerPolicies(accountId), ...boundaryPolicies(accountId)]) all.set(p.PolicyArn, p)
  return [...all.values()]
}

/**
 * The documents of the inline policies generated users have (the generator picks their names),
 * and of the two it adds to a few: BreakGlassInline allows everything, QuarantineDenyAll denies
 * everything (AWS's advice for a user whose key leaked).
 */
const INLINE_DOCUMENTS: Readonly<Record<string, string>> = {
  AllowS3Upload: doc(allow(["s3:PutObject", "s3:AbortMultipartUpload"], "arn:aws:s3:::uploads-*/*")),
  AssumeDeployRole: doc(allow("sts:AssumeRole", "arn:aws:iam::*:role/deploy")),
  KmsDecrypt: doc(allow(["kms:Decrypt", "kms:DescribeKey"])),
  SecretsRead: doc(allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "arn:aws:secretsmanager:*:*:secret:app/*")),
  SqsConsume: doc(allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"])),
  BreakGlassInline: ALLOW_ALL,
  QuarantineDenyAll: doc(deny("*"))
}

/** The document of a generated inline policy (a name the table does not know gets a harmless one). */
export const inlineDocument = (name: string): string =>
  INLINE_DOCUMENTS[name] ?? doc({ Sid: name.replace(/[^A-Za-z0-9]/g, ""), ...allow("sts:GetCallerIdentity") })

/** The policies of each of the account's groups, by group name: AWS's or the account's own, and inline ones. */
export interface GroupPolicies {
  readonly attached: ReadonlyArray<string>
  readonly inline: ReadonlyArray<InlinePolicyRecord>
}

const inline = (PolicyName: string, PolicyDocument: string): InlinePolicyRecord => ({ PolicyName, PolicyDocument })

/** Policy names (attached ones resolved in the account's pool) of each group; Admins and Security can do everything. */
export const GROUP_POLICIES: Readonly<Record<string, GroupPolicies>> = {
  Admins: { attached: ["AdministratorAccess"], inline: [] },
  ReadOnly: { attached: ["ReadOnlyAccess"], inline: [] },
  Billing: { attached: ["BillingReadOnly"], inline: [inline("BillingConsole", doc(allow(["aws-portal:*Billing", "aws-portal:*Usage"])))] },
  Ops: { attached: ["AmazonEC2FullAccess", "CloudWatchLogsFullAccess"], inline: [] },
  DataScience: { attached: ["S3DataLakeAccess", "AmazonS3ReadOnlyAccess"], inline: [inline("SageMakerNotebooks", doc(allow("sagemaker:*")))] },
  Support: { attached: [], inline: [inline("SupportCenter", doc(allow(["support:*", "trustedadvisor:Describe*"])))] },
  Security: { attached: ["IAMReadOnlyAccess", "BreakGlass"], inline: [inline("SecurityHubAdmin", doc(allow(["securityhub:*", "guardduty:*"])))] },
  Contractors: { attached: ["ReadOnlyAccess"], inline: [inline("DenyIamChanges", doc(deny(["iam:Create*", "iam:Delete*", "iam:Put*", "iam:Attach*"])))] },
  CI: { attached: ["DeployPipeline"], inline: [] },
  // the spec user's group
  Developers: { attached: ["PowerUserAccess"], inline: [] }
}
