/**
 * The `state` section of the config file: where the state of each account is kept between runs
 * (for `ocsf.emit` "changes" and "both"). One SQLite file; absent, it sits beside the dead-letter
 * file, so that the two files a run writes besides its events share one folder.
 */
import * as nodePath from "node:path"
import * as Schema from "effect/Schema"

export const STATE_FILE_NAME = "state.sqlite"

export const StateConfig = Schema.Struct({
  /** The state store's file (created with its folder); absent: `state.sqlite` in the dead-letter file's folder. */
  path: Schema.optionalKey(Schema.NonEmptyString)
})
export type StateConfig = typeof StateConfig.Type

/** The state store's file: `state.path`, or `state.sqlite` beside `deadLetter.path`. */
export const statePath = (state: StateConfig, deadLetterPath: string): string =>
  state.path ?? nodePath.join(nodePath.dirname(deadLetterPath), STATE_FILE_NAME)
