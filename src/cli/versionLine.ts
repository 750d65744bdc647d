/**
 * What `iam-ocsf --version` prints, without loading the command line: `main.ts` answers a bare
 * `--version` with it before anything else is imported, so that a cron job or a deploy script
 * asking for the version does not pay for effect/cli, the config schemas and the AWS SDK. The line
 * is effect/cli's own (`CliOutput.defaultFormatter`'s `formatVersion`, coloured when its
 * `TerminalCapabilities` say stdout can show colours); `test/cli.test.ts` compares the two. No
 * imports: this module is the whole cost of that answer.
 */

/** What effect/cli's `TerminalCapabilities` reads from the process to decide on colours. */
export interface ColorSignals {
  readonly noColor: string | undefined
  readonly forceColor: string | undefined
  readonly term: string | undefined
  readonly stdoutIsTerminal: boolean
}

const isPresent = (value: string | undefined): value is string => value !== undefined && value.length > 0

/** effect/cli's rule: never on a dumb terminal or with NO_COLOR; with FORCE_COLOR (not 0 or false) or on a terminal. */
export const canColor = (signals: ColorSignals): boolean =>
  signals.term !== "dumb" && !isPresent(signals.noColor) &&
  ((isPresent(signals.forceColor) && signals.forceColor !== "0" && signals.forceColor.toLowerCase() !== "false") ||
    signals.stdoutIsTerminal)

/** `iam-ocsf v0.1.0`, the name and version in bold and the `v` dim when coloured. */
export const versionLine = (name: string, version: string, colors: boolean): string =>
  colors ? `\x1b[1m${name}\x1b[0m \x1b[2mv\x1b[0m\x1b[1m${version}\x1b[0m` : `${name} v${version}`

/** The arguments that only ask for the version (effect/cli's `--version` and its alias `-v`). */
export const asksOnlyVersion = (args: ReadonlyArray<string>): boolean =>
  args.length === 1 && (args[0] === "--version" || args[0] === "-v")
