/**
 * Telemetry never decides a run's outcome: an OTLP exporter wrapped here reports its failures
 * (a collector answering 400, down, or not answering within the export timeout) as log warnings
 * on stderr, and tells the SDK every export went well. The SDK only uses a failed export to
 * reject a flush or a shutdown, which would reach the program as a defect (exit 1) and print the
 * exporter's error where the events are; it never retries one (the exporter's own retries are
 * over by then). Once closed, when the process ends, nothing more is sent or waited for.
 */
import { type ExportResult, ExportResultCode } from "@opentelemetry/core"
import type { AggregationOption, AggregationTemporality, InstrumentType, PushMetricExporter, ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"

export type Report = (level: "warn" | "info" | "debug", message: string) => void

interface Exporter<Items> {
  export(items: Items, resultCallback: (result: ExportResult) => void): void
  forceFlush?(): Promise<void>
  shutdown(): Promise<void>
}

/** What went wrong, as short as an operator needs: an HTTP status and the start of its body, or the error. */
const describe = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const { code, data } = error as Error & { code?: unknown; data?: unknown }
  if (typeof code !== "number") return error.message
  const body = typeof data === "string" && data.trim() !== "" ? `: ${data.trim().slice(0, 200)}` : ""
  return `HTTP ${code} ${error.message}${body}`
}

class Guarded<Items, Inner extends Exporter<Items>> {
  protected readonly inner: Inner
  /** "traces to <url>" or "metrics to <url>", for the log. */
  private readonly what: string
  private readonly report: Report
  private failing = false
  private closed = false

  constructor(inner: Inner, what: string, report: Report) {
    this.inner = inner
    this.what = what
    this.report = report
  }

  export(items: Items, resultCallback: (result: ExportResult) => void): void {
    if (this.closed) return resultCallback({ code: ExportResultCode.SUCCESS })
    const settle = (result: ExportResult) => {
      this.record(result)
      resultCallback({ code: ExportResultCode.SUCCESS })
    }
    try {
      this.inner.export(items, settle)
    } catch (error) {
      settle({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) })
    }
  }

  /** One warning per outage, not one per export: a daemon's collector may be down for hours. */
  private record(result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      if (this.failing) this.report("info", `telemetry: ${this.what} exported again`)
      this.failing = false
      return
    }
    const message = `telemetry: ${this.what} not exported (${describe(result.error)}); the run is not affected`
    this.report(this.failing ? "debug" : "warn", message)
    this.failing = true
  }

  forceFlush(): Promise<void> {
    return this.closed ? Promise.resolve() : (this.inner.forceFlush?.() ?? Promise.resolve()).catch(() => {})
  }

  /** The exporter's own shutdown waits for exports in flight; those are bounded by their timeout. */
  shutdown(): Promise<void> {
    this.closed = true
    this.inner.shutdown().catch(() => {})
    return Promise.resolve()
  }

  /** After the last flush: later exports (the SDK's own at shutdown) are dropped, and nothing is awaited. */
  close(): void {
    this.closed = true
  }
}

export class GuardedSpanExporter extends Guarded<Array<ReadableSpan>, SpanExporter> implements SpanExporter {}

/** The OTLP metric exporters choose their temporality and aggregation (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE). */
type OtlpMetricExporter = PushMetricExporter & Required<Pick<PushMetricExporter, "selectAggregation" | "selectAggregationTemporality">>

export class GuardedMetricExporter extends Guarded<ResourceMetrics, OtlpMetricExporter> implements PushMetricExporter {
  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality(instrumentType)
  }
  selectAggregation(instrumentType: InstrumentType): AggregationOption {
    return this.inner.selectAggregation(instrumentType)
  }
}
