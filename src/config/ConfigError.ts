/**
 * The one error of a config that cannot be used, whatever is wrong with it: every problem, one line
 * each, so that a person can fix them all in one go.
 */
import * as Schema from "effect/Schema"

/**
 * A configuration that cannot be used: unreadable file, invalid JSON, or values the schema
 * rejects. `problems` holds one line per problem (`<json path>: <what is wrong>`), all of them.
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  /** The file name (or any label of where the text came from). */
  source: Schema.String,
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return [`${this.source}: invalid configuration`, ...this.problems.map((problem) => `  - ${problem}`)].join("\n")
  }
}
