/** The `ocsf` section of the config file: the shape of the events (`spec`, `strict`, `strict-cloud`). */
import * as Schema from "effect/Schema"
import { withDefault } from "../config/fields.ts"
import { OcsfProfile } from "./index.ts"

export const OcsfConfig = Schema.Struct({
  profile: OcsfProfile.pipe(withDefault("spec"))
})
export type OcsfConfig = typeof OcsfConfig.Type
