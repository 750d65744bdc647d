/**
 * The `telemetry` section: the same settings as the standard OpenTelemetry variables, for
 * deployments that prefer one file. A variable that is set wins over the file (operators
 * override a baked-in file from the environment), and with neither nothing is exported.
 */
import * as Schema from "effect/Schema"
import { durationBetween, durationField } from "../config/durations.ts"
import { httpUrl, withDefault } from "../config/fields.ts"

// The OTLP exporters use Node's http module, not fetch: every port is open to them.
const OtlpEndpoint = httpUrl("http://otel-collector:4318", {
  secretsGoTo: `a header: "headers": { "Authorization": "\${TOKEN}" }`
})

export const TelemetryConfig = Schema.Struct({
  /** `service.name` of spans and metrics; OTEL_SERVICE_NAME. */
  serviceName: Schema.NonEmptyString.pipe(withDefault("iam-ocsf")),
  /** Base URL of an OTLP/HTTP receiver (`/v1/traces` and `/v1/metrics` are appended); OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: Schema.optionalKey(OtlpEndpoint),
  /** OTEL_TRACES_EXPORTER. Default: "otlp" when an endpoint is set, else "none". */
  traces: Schema.optionalKey(Schema.Literals(["otlp", "none"])),
  /** OTEL_METRICS_EXPORTER. Default: "otlp" when an endpoint is set, else "none". */
  metrics: Schema.optionalKey(Schema.Literals(["otlp", "none"])),
  /**
   * "http/protobuf" (default, the OpenTelemetry default) or "http/json"; OTEL_EXPORTER_OTLP_PROTOCOL
   * and its _TRACES_/_METRICS_ forms. gRPC is not supported (see `settings.ts`).
   */
  protocol: Schema.optionalKey(Schema.Literals(["http/protobuf", "http/json"])),
  /**
   * Deadline of each export, its retries included, and the longest a finished run waits for its
   * last spans and metrics to leave (default 10s); OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds).
   */
  timeout: Schema.optionalKey(durationBetween("100ms", "1m")),
  /** Extra resource attributes; OTEL_RESOURCE_ATTRIBUTES (its keys win). */
  resourceAttributes: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  /** Headers of every OTLP request, such as a collector's API key; OTEL_EXPORTER_OTLP_HEADERS (its keys win). */
  headers: Schema.optionalKey(Schema.Record(Schema.String, Schema.RedactedFromValue(Schema.String))),
  /** How often metrics are pushed; OTEL_METRIC_EXPORT_INTERVAL (milliseconds). */
  metricInterval: durationField({ minimum: "1s", maximum: "1h", default: "60s" })
})
export type TelemetryConfig = typeof TelemetryConfig.Type
