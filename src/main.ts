#!/usr/bin/env node
/**
 * The `iam-ocsf` executable. A bare `--version` is answered at once, with nothing else loaded
 * (3 modules and 48 MB, where effect/cli needs 240 modules and 90 MB before it parses anything:
 * `npm run bench -- --only startup`); everything else goes to the command line (`cli/program.ts`).
 */
import { asksOnlyVersion, canColor, versionLine } from "./cli/versionLine.ts"
import { version } from "./common/version.ts"

const args = process.argv.slice(2)
if (asksOnlyVersion(args)) {
  const colors = canColor({
    noColor: process.env["NO_COLOR"],
    forceColor: process.env["FORCE_COLOR"],
    term: process.env["TERM"],
    stdoutIsTerminal: process.stdout.isTTY === true
  })
  process.stdout.write(`${versionLine("iam-ocsf", version, colors)}\n`)
} else {
  const { runProgram } = await import("./cli/program.ts")
  runProgram()
}
