/**
 * OpenTelemetry for the whole process: Effect spans become OpenTelemetry spans exported over
 * OTLP, and the Effect metrics of `metrics.ts` are pushed over OTLP and/or kept for the
 * operations endpoint to scrape. With nothing to export the SDK is not even loaded (`sdk.ts` is
 * imported on demand): Effect's own tracer keeps no finished spans, so nothing accumulates in a
 * daemon that runs for months.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { needsSdk, shownUrl, type TelemetrySettings } from "./settings.ts"

export interface TelemetryService {
  /** Every metric in the Prometheus text format; undefined when no scrape reader is installed. */
  readonly scrape: Effect.Effect<string> | undefined
}

export class Telemetry extends Context.Service<Telemetry, TelemetryService>()("iam-ocsf/Telemetry") {
  static readonly none: Layer.Layer<Telemetry> = Layer.succeed(Telemetry, Telemetry.of({ scrape: undefined }))

  /** Released when the program ends: queued spans and the last metrics are flushed then. */
  static readonly layer = (settings: TelemetrySettings): Layer.Layer<Telemetry> =>
    Layer.unwrap(
      Effect.gen(function*() {
        for (const warning of settings.warnings) yield* Effect.logWarning(`telemetry: ${warning}`)
        if (!needsSdk(settings)) return Telemetry.none
        const exported = [
          settings.traces && `traces to ${shownUrl(settings.traces.url)} (${settings.traces.protocol})`,
          settings.metrics &&
          `metrics to ${shownUrl(settings.metrics.url)} (${settings.metrics.protocol}) every ${
            Duration.format(settings.metrics.interval)
          }`
        ].filter(Boolean)
        if (exported.length > 0) {
          yield* Effect.logInfo(`telemetry: exporting ${exported.join(", ")} as ${settings.resource.serviceName}`)
        }
        const sdk = yield* Effect.promise(() => import("./sdk.ts"))
        return sdk.sdkLayer(settings)
      })
    )
}
