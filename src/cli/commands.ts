/**
 * The command line: `run`, `check`, `validate-config`, `replay`, `demo` and `state`, their flags and help texts, and
 * how their failures become exit codes. The work itself is done elsewhere: a command loads the
 * config and hands it on. Each command imports what it runs when it runs (`load`), so that
 * `--help` loads no config schema, `validate-config` no AWS SDK, and `run --once` neither the
 * daemon nor `replay`.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { LogLevel } from "effect/LogLevel"
import { Argument, Command, Flag, GlobalFlag } from "effect/cli"
import type { ConfigError } from "../config/index.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import { InvalidInput, RunFailed } from "../common/exit.ts"
import type { ReplayError } from "../delivery/Replay.ts"
import { sinkDefinitions } from "../sinks/index.ts"

/** Modules of the implementation, imported by the command that runs them (Node keeps them loaded). */
const load = <A>(module: () => Promise<A>): Effect.Effect<A> => Effect.promise(module)

const exitCodes = [
  "Exit codes: 0 everything delivered (daemon: stopped by SIGTERM/SIGINT); 1 the run failed (IAM unreachable,",
  "ListUsers denied, a sink or the dead-letter file could not be opened); 2 invalid command line or config;",
  "3 finished, but some users or batches were dead-lettered (a sink unreachable or refusing them: see the",
  "dead-letter file); 130, 143 --once stopped by SIGINT, SIGTERM before every user was collected."
].join(" ")

/** The problems of the command line, config or file, printed once and plainly (no stack trace: nothing crashed). */
const invalid = (error: ConfigError | ReplayError | { readonly message: string }) =>
  Console.error(error.message).pipe(Effect.andThen(Effect.fail(new InvalidInput({ message: error.message }))))

/** A run that could not complete: said once in the log, then exit code 1. */
const failed = (error: { readonly message: string }) =>
  Effect.logError(`collection failed: ${error.message}`).pipe(
    Effect.andThen(Effect.fail(new RunFailed({ message: error.message })))
  )

/**
 * `run --once` from a config: the start-up checks, then the run with its logs, telemetry, live
 * progress and exit codes. `demo` runs through here too, so that `npm start` shows the product
 * as it ships. `prelude` runs first, inside the same logging and telemetry. The checks share the
 * run's accounts (its role sessions and request rates).
 */
const runOnceCommand = (
  config: AppConfig,
  logLevel: Option.Option<LogLevel>,
  requireHealthy: boolean,
  prelude: Effect.Effect<void> = Effect.void
) =>
  Effect.gen(function*() {
    const [{ runLayer, runOnceStrict }, { withTerminalProgress }, { observabilityLayer }, { startupChecks }] = yield* load(() =>
      Promise.all([
        import("../run/Runner.ts"),
        import("./progress.ts"),
        import("../run/observability.ts"),
        import("../check/checks.ts")
      ])
    )
    yield* prelude.pipe(
      Effect.andThen(startupChecks(config, requireHealthy)),
      Effect.andThen(runOnceStrict(config)),
      Effect.catchTags({ IamError: failed, DeadLetterError: failed, SinkError: failed, StateError: failed }),
      Effect.provide(runLayer(config)),
      withTerminalProgress,
      Effect.provide(observabilityLayer(config, { daemon: false, logLevel }))
    )
  })

const configFlag = Flag.String("config").pipe(
  Flag.withAlias("c"),
  Flag.withDescription("Path of the JSON config file (see config.example.json). ${ENV_VAR} in it is replaced from the environment.")
)

const run = Command.make(
  "run",
  {
    config: configFlag,
    once: Flag.Boolean("once").pipe(
      Flag.withDescription("Collect one snapshot, deliver it and exit, instead of running as a daemon."),
      Flag.withDefault(false)
    ),
    requireHealthy: Flag.Boolean("require-healthy").pipe(
      Flag.withDescription(
        "Do not start (exit code 1) when a start-up check fails (the checks of `iam-ocsf check`); without it, each " +
          "failed check is logged as a warning with its fix and the run starts anyway."
      ),
      Flag.withDefault(false)
    )
  },
  Effect.fn(function*({ config: file, once, requireHealthy }) {
    const { loadConfig } = yield* load(() => import("../run/AppConfig.ts"))
    const config = yield* loadConfig(file).pipe(Effect.catch(invalid))
    const logLevel = yield* GlobalFlag.LogLevel
    if (once && config.coordination !== undefined) {
      const message = "--once reads every account in this process, and coordination shares them among workers: " +
        "run the daemon (without --once) as a worker, or use a config without the coordination section"
      yield* Console.error(message)
      return yield* new InvalidInput({ message })
    }
    if (once) {
      yield* runOnceCommand(config, logLevel, requireHealthy)
    } else {
      const [{ daemon }, { observabilityLayer }, { checkLayer, startupChecks }] = yield* load(() =>
        Promise.all([import("../run/Daemon.ts"), import("../run/observability.ts"), import("../check/checks.ts")])
      )
      // With coordination the daemon is one worker of several (pg-boss loaded only then).
      const start = config.coordination === undefined
        ? daemon({ config, configFile: file })
        : load(() => import("../coordination/Worker.ts")).pipe(
          Effect.flatMap(({ workerDaemon }) => workerDaemon({ config, configFile: file }))
        )
      // The checks at start only: each run of the daemon logs what goes wrong in it.
      yield* startupChecks(config, requireHealthy).pipe(
        Effect.provide(checkLayer(config)),
        Effect.andThen(start),
        Effect.catchTag("OpsServerError", (error) =>
          Effect.logError(error.message).pipe(Effect.andThen(Effect.fail(new RunFailed({ message: error.message }))))),
        Effect.provide(observabilityLayer(config, { daemon: true, logLevel }))
      )
    }
  })
).pipe(
  Command.withDescription(
    "Inventory the account's IAM users and deliver them as OCSF User Inventory Info (5003) events to the sinks " +
      "of the config file: as a daemon (a run at start, then every schedule.interval with a little jitter; " +
      "SIGHUP re-reads the config file for the next run; SIGTERM/SIGINT deliver what was collected, within " +
      "schedule.shutdownTimeout, then exit; server.port serves /healthz, /readyz and /metrics) or once with " +
      "--once (a live progress line on a terminal). Logs are JSON on stderr (log.level, log.format); traces " +
      "and metrics go to OTEL_EXPORTER_OTLP_ENDPOINT when set. Users that cannot be collected and batches a sink " +
      "refuses go to the dead-letter file, never silently away. It starts with the checks of `iam-ocsf check` " +
      "(the daemon at start only), logging each failed one with its fix; --require-healthy makes a failed one " +
      "stop the start (exit code 1). With a coordination section the daemon is one worker of several sharing the " +
      "accounts through PostgreSQL (see `iam-ocsf status`); --once is then refused. " + exitCodes
  ),
  Command.withExamples([
    { command: "iam-ocsf run --config config.json --once", description: "One snapshot, then exit" },
    { command: "iam-ocsf run --config /etc/iam-ocsf/config.json", description: "Run as a daemon" },
    { command: "iam-ocsf run --config config.json --require-healthy", description: "A daemon that does not start unless every check passes" }
  ])
)

const check = Command.make(
  "check",
  {
    config: configFlag,
    format: Flag.Literals("format", ["table", "json"]).pipe(
      Flag.withDescription(
        "table (default: one line per check, ✓ passed, ! warning, ✗ failed, with the reason and the fix) or json " +
          "(one object: { ok, summary: { ok, warn, fail }, checks: [{ name, account, status, detail, fix }] })."
      ),
      Flag.withDefault("table")
    )
  },
  Effect.fn(function*({ config: file, format }) {
    const [{ loadConfig }, { checkCommand }, { observabilityLayer }] = yield* load(() =>
      Promise.all([import("../run/AppConfig.ts"), import("../check/checks.ts"), import("../run/observability.ts")])
    )
    const config = yield* loadConfig(file).pipe(Effect.catch(invalid))
    yield* checkCommand(config, format).pipe(
      Effect.provide(observabilityLayer(config, { daemon: false, logLevel: yield* GlobalFlag.LogLevel }))
    )
  })
).pipe(
  Command.withDescription(
    "Verify, without collecting, everything a run of this config needs, and print one line per check on stdout: " +
      "the base credentials (sts:GetCallerIdentity), the organization's discovery and the role of each account " +
      "(sts:AssumeRole), each IAM action the strategy calls there (one minimal read each: MaxItems=1; no credential " +
      "report is generated) and which strategy auto would use, every sink (a file sink's folder writable, an http " +
      "sink's host reachable and its healthcheck URL answering 2xx, a kafka sink's brokers answering with its topic), " +
      "the dead-letter file's folder and the state store. Warnings (!) do not fail the check. Exit codes: 0 every " +
      "check passed (warnings allowed); 1 at least one failed; 2 invalid command line or config."
  ),
  Command.withExamples([
    { command: "iam-ocsf check --config config.json", description: "Is this config ready to run?" },
    { command: "iam-ocsf check --config config.json --format json | jq '.checks[] | select(.status != \"ok\")'", description: "What is not green" }
  ])
)

const validateConfig = Command.make(
  "validate-config",
  { file: Argument.String("file").pipe(Argument.withDescription("Path of the JSON config file")) },
  Effect.fn(function*({ file }) {
    const [{ loadConfig }, { describeConfig }] = yield* load(() =>
      Promise.all([import("../run/AppConfig.ts"), import("../run/describeConfig.ts")])
    )
    const config = yield* loadConfig(file).pipe(Effect.catch(invalid))
    yield* Console.log(describeConfig(config))
  })
).pipe(
  Command.withDescription(
    "Check a config file without touching AWS: print the effective config (defaults filled in, secrets " +
      "shown as <redacted>) or every problem with its JSON path. Exit code 2 when invalid."
  )
)

const replayCommand = Command.make(
  "replay",
  {
    config: configFlag,
    deadLetter: Flag.String("dead-letter").pipe(
      Flag.withDescription("The dead-letter file to replay (default: deadLetter.path of the config)."),
      Flag.optional
    ),
    sink: Flag.String("sink").pipe(
      Flag.withDescription("Send every batch to this sink of the config, instead of the sink named in each record."),
      Flag.optional
    )
  },
  Effect.fn(function*({ config: file, deadLetter, sink }) {
    const [{ loadConfig }, { formatReplay, replay, ReplayIncomplete }] = yield* load(() =>
      Promise.all([import("../run/AppConfig.ts"), import("../delivery/Replay.ts")])
    )
    const config = yield* loadConfig(file).pipe(Effect.catch(invalid))
    const path = Option.getOrElse(deadLetter, () => config.deadLetter.path)
    // A file named on the command line must exist; the config's may not yet (it is made on the first record).
    const summary = yield* replay(config, path, Option.getOrUndefined(sink), { mustExist: Option.isSome(deadLetter) }).pipe(
      Effect.catchTags({
        ReplayError: invalid,
        SinkError: failed
      })
    )
    const line = `replay finished: ${formatReplay(summary)}`
    if (summary.keptBatches === 0) return yield* Effect.logInfo(line)
    yield* Effect.logWarning(line)
    return yield* new ReplayIncomplete({ kept: summary.keptBatches, path })
  })
).pipe(
  Command.withDescription(
    "Send the events of the dead-letter file's batches again, each to the sink named in its record (or all to " +
      "--sink), and rewrite the file without the batches delivered (user records stay). Without the config's " +
      "dead-letter file there is nothing to replay (exit 0); a --dead-letter file that does not exist is an error. " +
      "Exit codes: 0 every batch delivered; 1 a sink could not be opened; 2 invalid command line, config or file " +
      "(--dead-letter naming no file included); 3 some batches failed again and stay in the file."
  ),
  Command.withExamples([
    { command: "iam-ocsf replay --config config.json", description: "Replay the config's dead-letter file" },
    { command: "iam-ocsf replay --config config.json --dead-letter old.ndjson --sink archive", description: "Replay to one sink" }
  ])
)

const demo = Command.make(
  "demo",
  {
    users: Flag.Int("users").pipe(
      Flag.withDescription("Generated users in the emulated account, besides the spec's two examples"),
      Flag.withDefault(8)
    )
  },
  Effect.fn(function*({ users }) {
    if (users < 0 || users > 1e9) return yield* invalid({ message: `--users: expected an integer between 0 and 1000000000; found ${users}` })
    // The emulator is tooling, not the product: loaded only by this command.
    const { emulatorScoped } = yield* Effect.promise(() => import("../../emulator/index.ts"))
    const emulator = yield* emulatorScoped({ users })
    const { defaultConfig } = yield* load(() => import("../run/defaultConfig.ts"))
    const config = defaultConfig({
      aws: { endpoint: emulator.url, accessKeyId: "AKIAEMULATOR", secretAccessKey: "emulator-secret" },
      delivery: { batchWindow: "100ms" },
      deadLetter: { path: "out/demo-dead-letter.ndjson" }
    })
    yield* runOnceCommand(
      config,
      yield* GlobalFlag.LogLevel,
      false,
      Effect.logInfo(`embedded IAM emulator listening on ${emulator.url}; events follow on stdout`)
    )
  }, Effect.scoped)
).pipe(
  Command.withDescription(
    "Run once against an embedded IAM emulator (no AWS account or credentials needed) and print the events " +
      "to stdout, as `run --once` would with a stdout sink: the same logs on stderr, the same exit codes, and " +
      "traces and metrics to OTEL_EXPORTER_OTLP_ENDPOINT when set. This is what `npm start` does."
  )
)

const status = Command.make(
  "status",
  {
    config: configFlag,
    format: Flag.Literals("format", ["table", "json"]).pipe(
      Flag.withDescription("table (default) or json (one object: the database, the queue's counts and the accounts)."),
      Flag.withDefault("table")
    )
  },
  Effect.fn(function*({ config: file, format }) {
    const [{ loadConfig }, { showStatus }] = yield* load(() =>
      Promise.all([import("../run/AppConfig.ts"), import("../coordination/status.ts")])
    )
    const config = yield* loadConfig(file).pipe(Effect.catch(invalid))
    yield* showStatus(config, format)
  })
).pipe(
  Command.withDescription(
    "With coordination (workers sharing accounts through PostgreSQL): every account with its last run (when, by " +
      "which worker, how it ended), the worker collecting it now, its jobs queued and when it is next due; the " +
      "queue's jobs queued, active, completed, failed and expired. Exit codes: 0 shown; 1 the database cannot be " +
      "read; 2 invalid command line or config, or no coordination section."
  ),
  Command.withExamples([{ command: "iam-ocsf status --config config.json", description: "What the workers are doing" }])
)

const stateShow = Command.make(
  "show",
  {
    config: configFlag,
    format: Flag.Literals("format", ["table", "json"]).pipe(
      Flag.withDescription("table (default) or json (one object: the store's path and its accounts)."),
      Flag.withDefault("table")
    )
  },
  Effect.fn(function*({ config: file, format }) {
    // SQLite and the store load only for the commands that use them.
    const [{ loadConfig }, { showState }] = yield* load(() =>
      Promise.all([import("../run/AppConfig.ts"), import("../state/commands.ts")])
    )
    const config = yield* loadConfig(file).pipe(Effect.catch(invalid))
    yield* showState(config, format)
  })
).pipe(
  Command.withDescription(
    "Show what the state store (state.path) holds: each account with its users tracked, its last complete run, " +
      "its last run and the last time its full snapshot was sent. Exit codes: 0 shown (also when there is no " +
      "store yet); 1 the store cannot be read (e.g. written by a newer iam-ocsf); 2 invalid command line or config."
  )
)

const stateReset = Command.make(
  "reset",
  {
    config: configFlag,
    account: Flag.String("account").pipe(
      Flag.withDescription("Forget only this account (12-digit id); default: every account."),
      Flag.optional
    )
  },
  Effect.fn(function*({ config: file, account }) {
    const [{ loadConfig }, { resetState }] = yield* load(() =>
      Promise.all([import("../run/AppConfig.ts"), import("../state/commands.ts")])
    )
    const config = yield* loadConfig(file).pipe(Effect.catch(invalid))
    yield* resetState(config, Option.getOrUndefined(account))
  })
).pipe(
  Command.withDescription(
    "Forget the state of every account (or of --account): its next run records a new baseline and sends its " +
      "full snapshot instead of changes. Exit codes: 0 done; 1 the store cannot be written; 2 invalid command " +
      "line or config, or --account is not in the store."
  ),
  Command.withExamples([
    { command: "iam-ocsf state reset --config config.json --account 123456789012", description: "Re-baseline one account" }
  ])
)

const state = Command.make("state").pipe(
  Command.withDescription(
    "The state kept between runs for ocsf.emit \"changes\" and \"both\" (state.path): what the last complete run of " +
      "each account saw of its users."
  ),
  Command.withSubcommands([stateShow, stateReset])
)

export const cli = Command.make("iam-ocsf").pipe(
  Command.withDescription(
    "Inventories AWS IAM users (ListUsers and per-user keys, MFA, console access, tags, groups, policies) and " +
      `delivers them as OCSF events to sinks chosen in a config file (${sinkDefinitions.map((d) => d.type).join(", ")}).`
  ),
  Command.withSubcommands([run, check, validateConfig, replayCommand, demo, state, status])
)
