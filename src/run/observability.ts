/**
 * Where the `log` and `telemetry` sections of the config become the logger and the OpenTelemetry
 * layer of `iam-ocsf run` (and of `demo`, which runs as `run --once` does).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { LogLevel } from "effect/LogLevel"
import type { AppConfig } from "./AppConfig.ts"
import { loggingLayer } from "../telemetry/logging.ts"
import { otelEnvironment, resolveTelemetry } from "../telemetry/settings.ts"
import { Telemetry } from "../telemetry/Telemetry.ts"

import { version as serviceVersion } from "../common/version.ts"

/**
 * Logs and telemetry of `iam-ocsf run`, from the config file and the OTEL_* variables. The scrape
 * reader for /metrics exists only in the daemon with `server.port` set; OTLP export only when
 * configured (see `telemetry/settings.ts`).
 */
export const observabilityLayer = (
  config: AppConfig,
  options: { readonly daemon: boolean; readonly logLevel: Option.Option<LogLevel> }
) =>
  Layer.unwrap(Effect.map(otelEnvironment, (env) =>
    Telemetry.layer(resolveTelemetry(config.telemetry, {
      env,
      version: serviceVersion,
      prometheus: options.daemon && config.server.port !== undefined
    }))
  )).pipe(
    Layer.provideMerge(loggingLayer(config.log, Option.getOrUndefined(options.logLevel)))
  )
