/**
 * Events as a run makes them, without a run: for feeding sinks at volume in the delivery, replay
 * and Kafka tests and in the sinks benchmark.
 */
import * as Schema from "effect/Schema"
import { makeAccount } from "../emulator/index.ts"
import { IamUser } from "../src/iam/IamUser.ts"
import { eventKey, mapperFor } from "../src/ocsf/index.ts"
import type { Envelope } from "../src/delivery/Sink.ts"

const decodeUser = Schema.decodeUnknownSync(IamUser)

/**
 * `count` events as a run makes them (the emulator's generated users through the spec mapper),
 * without collecting them over HTTP: for feeding sinks at volume.
 */
export const ocsfEnvelopes = (count: number, seed = 1): Array<Envelope> => {
  const account = makeAccount({ users: Math.max(0, count - 2), seed })
  const map = mapperFor("spec")
  const collectedAt = new Date()
  return [...account.userNames()].slice(0, count).map((name) => {
    const event = map(decodeUser(account.expected(name)), { collectedAt })
    return { key: eventKey(event), json: JSON.stringify(event) }
  })
}
