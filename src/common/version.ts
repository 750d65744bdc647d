/** The version `--version`, the OpenTelemetry resource and the User-Agent report. */
export const version = "0.1.0"
