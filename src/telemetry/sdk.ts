/**
 * The OpenTelemetry SDK, loaded only when something is exported or scraped (see
 * `Telemetry.ts`). Spans leave through a `BatchSpanProcessor`, whose queue is bounded (it drops
 * spans rather than grow when the collector is down; OTEL_BSP_* tune it).
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { OtlpTarget, TelemetrySettings } from "./settings.ts"
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
  headers: Object.fromEntries(Object.entries(target.headers).map(([key, value]) => [key, Redacted.value(value)]))
})

export const sdkLayer = (settings: TelemetrySettings): Layer.Layer<Telemetry> =>
  Layer.unwrap(Effect.sync(() => {
    const spanProcessors = settings.traces === undefined
      ? []
      : [new BatchSpanProcessor(new OTLPTraceExporter(exporterOptions(settings.traces)))]
    const scrapeReader = settings.prometheus ? new ScrapeReader() : undefined
    const metricReaders: Array<MetricReader> = [
      ...(settings.metrics === undefined ? [] : [
        new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter(exporterOptions(settings.metrics)),
          exportIntervalMillis: Duration.toMillis(settings.metrics.interval)
        })
      ]),
      ...(scrapeReader === undefined ? [] : [scrapeReader])
    ]
    // Without the scope label: there is one scope, and repeating its name on every series says nothing.
    const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)
    const scrape = scrapeReader === undefined ? undefined : Effect.promise(() => scrapeReader.collect()).pipe(
      // Effect metrics carry no unit, so every metric would get an OpenMetrics "# UNIT <name> 1" line that says nothing.
      Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics).replace(/^# UNIT \S+ 1\n/gm, ""))
    )
    return Layer.merge(
      NodeSdk.layer(() => ({
        resource: settings.resource,
        spanProcessor: spanProcessors,
        metricReader: metricReaders
      })),
      Layer.succeed(Telemetry, Telemetry.of({ scrape }))
    )
  }))
