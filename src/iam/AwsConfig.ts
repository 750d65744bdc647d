/**
 * The `aws` section of the config file: where the AWS calls go (signing region, an optional
 * IAM-compatible endpoint) and with which credentials (static ones, or the SDK's standard chain).
 */
import * as Schema from "effect/Schema"
import { httpUrl, Secret, withDefault } from "../config/fields.ts"

const region = /^[a-z]{2}(-[a-z]+)+-\d+$/
const Region = Schema.String.annotate({ expected: `an AWS region like "us-east-1"` }).check(
  Schema.isPattern(region, { expected: `an AWS region like "us-east-1"` })
)

// The AWS SDK uses Node's http module, not fetch: every port is open to it.
const Endpoint = httpUrl("http://127.0.0.1:4566", { secretsGoTo: `"accessKeyId" and "secretAccessKey"` })

const credentialsGoTogether = Schema.makeFilter((aws: {
  readonly accessKeyId?: string
  readonly secretAccessKey?: unknown
  readonly sessionToken?: unknown
}) => {
  const hasId = aws.accessKeyId !== undefined
  const hasSecret = aws.secretAccessKey !== undefined
  if (hasId !== hasSecret) {
    return `accessKeyId and secretAccessKey go together; found only ${hasId ? "accessKeyId" : "secretAccessKey"}`
  }
  if (aws.sessionToken !== undefined && !hasId) {
    return "sessionToken needs accessKeyId and secretAccessKey; found only sessionToken"
  }
  return undefined
})

export const AwsConfig = Schema.Struct({
  /** IAM is global; the region picks the signing region. */
  region: Region.pipe(withDefault("us-east-1")),
  /** With `secretAccessKey` (both or neither); absent: the standard credential chain. */
  accessKeyId: Schema.optionalKey(Schema.NonEmptyString),
  secretAccessKey: Schema.optionalKey(Secret),
  sessionToken: Schema.optionalKey(Secret),
  /** An IAM-compatible endpoint, such as the project's emulator. */
  endpoint: Schema.optionalKey(Endpoint)
}).check(credentialsGoTogether)
export type AwsConfig = typeof AwsConfig.Type
