/**
 * The `strict-cloud` profile: `strict` plus OCSF's cloud profile, like
 * `test/fixtures/ocsf/corrected-cloud.json`. IAM is global, so there is no region; the
 * partition (aws, aws-cn, aws-us-gov) is in the ARN and tells GovCloud and China apart.
 */
import * as Schema from "effect/Schema"
import type { IamUser } from "../iam/IamUser.ts"
import type { MapContext } from "./common.ts"
import { AwsAccount, AwsOrganization, awsOrganization, parseUserArn, StrictEvent, StrictMetadata, toStrictEvent } from "./strict.ts"

export const StrictCloudEvent = Schema.Struct({
  ...StrictEvent.fields,
  metadata: Schema.Struct({ ...StrictMetadata.fields, profiles: Schema.Tuple([Schema.Literal("cloud")]) }),
  cloud: Schema.Struct({
    provider: Schema.Literal("AWS"),
    cloud_partition: Schema.NonEmptyString,
    account: AwsAccount,
    org: Schema.optionalKey(AwsOrganization)
  })
})
export type StrictCloudEvent = typeof StrictCloudEvent.Type

export const toStrictCloudEvent = (u: IamUser, ctx: MapContext): StrictCloudEvent => {
  const event = toStrictEvent(u, ctx)
  return {
    ...event,
    metadata: { ...event.metadata, profiles: ["cloud"] },
    cloud: {
      provider: "AWS",
      cloud_partition: parseUserArn(u.Arn).partition,
      account: event.user.account,
      ...awsOrganization(ctx.account)
    }
  }
}
