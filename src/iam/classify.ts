/**
 * The one place where SDK and transport failures become `IamError` reasons. Codes come from
 * the IAM API reference and the SDK's own retry tables (throttling and transient codes).
 */
import { AccessDenied, BadData, IamError, NotFound, Pending, Rejected, Throttled, Unavailable } from "./IamError.ts"

const throttlingCodes = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "SlowDown",
  "PriorRequestNotComplete",
  "BandwidthLimitExceeded"
])
const deniedCodes = new Set(["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure"])
const notFoundCodes = new Set([
  "NoSuchEntity",
  "NoSuchEntityException",
  // GetCredentialReport: no report, or one too old to download (both HTTP 410): generate one.
  "ReportNotPresent",
  "CredentialReportNotPresentException",
  "ReportExpired",
  "CredentialReportExpiredException"
])
/** GetCredentialReport while a report is being generated (HTTP 404, despite the status). */
const pendingCodes = new Set(["ReportInProgress", "CredentialReportNotReadyException"])
/**
 * LimitExceeded means "beyond an account quota" for the actions that create things; for
 * GenerateCredentialReport, the only such action called here, it means too many generations
 * at once: one is under way, so wait for it.
 */
const pendingWhenLimited = new Set(["GenerateCredentialReport"])
const limitCodes = new Set(["LimitExceeded", "LimitExceededException"])
const transientCodes = new Set([
  // A session that ended before its announced expiry: the door renews it, then tries again.
  "ExpiredToken",
  "ExpiredTokenException",
  "RequestExpired",
  "ServiceFailure",
  "ServiceFailureException",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "InternalFailure",
  "InternalError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET"
])

interface SdkLikeError {
  readonly name?: unknown
  readonly code?: unknown
  readonly message?: unknown
  readonly Code?: unknown
  readonly $metadata?: { readonly httpStatusCode?: number }
  readonly $retryable?: { readonly throttling?: boolean }
}

export const classify = (action: string, userName: string | undefined, error: unknown): IamError => {
  // Already classified: a role session that could not be renewed fails the IAM request signed
  // with it, with AssumeRole's own error from the STS door.
  if (error instanceof IamError) return error
  const e = (typeof error === "object" && error !== null ? error : {}) as SdkLikeError
  const code = String(e.Code ?? (e.name !== "Error" && e.name !== undefined ? e.name : e.code ?? "Unknown"))
  const message = typeof e.message === "string" ? e.message : String(error)
  const status = e.$metadata?.httpStatusCode
  const fields = status === undefined ? { code, message } : { code, message, status }
  const errno = typeof e.code === "string" ? e.code : undefined
  const reason = throttlingCodes.has(code) || status === 429 || e.$retryable?.throttling === true
    ? new Throttled(fields)
    : deniedCodes.has(code)
    ? new AccessDenied(fields)
    : notFoundCodes.has(code)
    ? new NotFound(fields)
    : pendingCodes.has(code) || (limitCodes.has(code) && pendingWhenLimited.has(action))
    ? new Pending(fields)
    : transientCodes.has(code) || (errno !== undefined && transientCodes.has(errno)) || (status !== undefined && status >= 500)
    ? new Unavailable(fields)
    : status !== undefined && status >= 200 && status < 300
    // An answer arrived, but it is not one to believe (`AnswerError`: `queryXml.ts`), or the SDK could not read it.
    ? new BadData(fields)
    : status === undefined && e.$retryable !== undefined
    ? new Unavailable(fields)
    : new Rejected(fields)
  return userName === undefined
    ? new IamError({ action, reason })
    : new IamError({ action, userName, reason })
}
