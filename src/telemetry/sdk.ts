/**
 * The OpenTelemetry SDK, loaded only when something is exported or scraped (see
 * `Telemetry.ts`), with the OTLP exporters of the protocol chosen (only those are loaded).
 * Spans leave through a `BatchSpanProcessor`, whose queue is bounded (it drops spans rather than
 * grow when the collector is down; OTEL_BSP_* tune it). Export failures are warnings, never the
 * run's outcome (`guardedExporter.ts`), and the last export when the process ends is bounded by
 * the export timeout.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { GuardedMetricExporter, GuardedSpanExporter, type Report } from "./guardedExporter.ts"
import { type OtlpTarget, shownUrl, type TelemetrySettings } from "./settings.ts"
import { Telemetry } from "./Telemetry.ts"

/** Collects only when asked: what /metrics reads. */
class ScrapeReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const exporterOptions = (target: OtlpTarget) => ({
  url: target.url,
  timeoutMillis: Duration.toMillis(target.timeout),
  headers: Object.fromEntries(Object.entries(target.headers).map(([key, value]) => [key, Redacted.value(value)]))
})

const traceExporter = async (target: OtlpTarget) =>
  target.protocol === "http/json"
    ? new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter(exporterOptions(target))
    : new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter(exporterOptions(target))

const metricExporter = async (target: OtlpTarget) =>
  target.protocol === "http/json"
    ? new (await import("@opentelemetry/exporter-metrics-otlp-http")).OTLPMetricExporter(exporterOptions(target))
    : new (await import("@opentelemetry/exporter-metrics-otlp-proto")).OTLPMetricExporter(exporterOptions(target))

const what = (signal: string, target: OtlpTarget) => `${signal} to ${shownUrl(target.url)}`

export const sdkLayer = (settings: TelemetrySettings): Layer.Layer<Telemetry> =>
  Layer.unwrap(Effect.gen(function*() {
    // The exporters report from the SDK's callbacks, outside any fiber: through this layer's
    // logger, so their warnings are log lines on stderr like any other.
    const context = yield* Effect.context<never>()
    const report: Report = (level, message) =>
      void Effect.runForkWith(context)(
        level === "warn" ? Effect.logWarning(message) : level === "info" ? Effect.logInfo(message) : Effect.logDebug(message)
      )

    const spanExporter = settings.traces === undefined ? undefined : new GuardedSpanExporter(
      yield* Effect.promise(() => traceExporter(settings.traces!)),
      what("traces", settings.traces),
      report
    )
    const pushExporter = settings.metrics === undefined ? undefined : new GuardedMetricExporter(
      yield* Effect.promise(() => metricExporter(settings.metrics!)),
      what("metrics", settings.metrics),
      report
    )
    const spanProcessors = spanExporter === undefined ? [] : [new BatchSpanProcessor(spanExporter)]
    const pushReader = settings.metrics === undefined || pushExporter === undefined ? undefined : new PeriodicExportingMetricReader({
      exporter: pushExporter,
      exportIntervalMillis: Duration.toMillis(settings.metrics.interval)
    })
    const scrapeReader = settings.prometheus ? new ScrapeReader() : undefined
    const metricReaders: Array<MetricReader> = [
      ...(pushReader === undefined ? [] : [pushReader]),
      ...(scrapeReader === undefined ? [] : [scrapeReader])
    ]

    // The last spans and metrics leave together when the program ends. Each export gives up at
    // its timeout (retries included), so this wait is bounded; the margin only covers the
    // exporter's own bookkeeping. Then the exporters are closed: the SDK's shutdown that follows
    // sends nothing more (a second copy of the metrics) and waits for nothing.
    const timeouts = [settings.traces, settings.metrics].flatMap((t) => t === undefined ? [] : [Duration.toMillis(t.timeout)])
    const lastExport = Effect.promise(() =>
      Promise.allSettled([
        ...spanProcessors.map((processor) => processor.forceFlush()),
        ...(pushReader === undefined ? [] : [pushReader.forceFlush()])
      ])
    ).pipe(
      Effect.interruptible,
      Effect.timeoutOption(Math.max(...timeouts) + 1000),
      Effect.flatMap(Option.match({
        onNone: () => Effect.logWarning("telemetry: the last spans and metrics did not leave in time; not waiting longer"),
        onSome: () => Effect.void
      })),
      Effect.ensuring(Effect.sync(() => {
        spanExporter?.close()
        pushExporter?.close()
      }))
    )
    const lastExportLayer = timeouts.length === 0 ? Layer.empty : Layer.effectDiscard(Effect.addFinalizer(() => lastExport))

    // Without the scope label: there is one scope, and repeating its name on every series says nothing.
    const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)
    const scrape = scrapeReader === undefined ? undefined : Effect.promise(() => scrapeReader.collect()).pipe(
      // Effect metrics carry no unit, so every metric would get an OpenMetrics "# UNIT <name> 1" line that says nothing.
      Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics).replace(/^# UNIT \S+ 1\n/gm, ""))
    )
    const sdk = NodeSdk.layer(() => ({
      resource: settings.resource,
      spanProcessor: spanProcessors,
      metricReader: metricReaders,
      // What is left for the SDK's own shutdown after `lastExport` takes no time.
      shutdownTimeout: 1000
    }))
    // Built after the SDK, so released (the last export) before the SDK shuts down.
    return Layer.merge(
      lastExportLayer.pipe(Layer.provideMerge(sdk)),
      Layer.succeed(Telemetry, Telemetry.of({ scrape }))
    )
  }))
