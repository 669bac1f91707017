package import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
import NIOHTTP1
package import UserDomain
import UserPorts

/// An RFC 9457 problem (`application/problem+json`): what every error of the user API answers.
///
/// `type` is a stable URI per kind of problem (`…/problems/email-taken`); `detail` is safe to show: it
/// never holds SQL, secrets or stack traces. Validation problems list the fields at fault in `errors`.
public struct Problem: Error, HTTPResponseError, Sendable {
    /// One field at fault.
    public struct FieldError: Codable, Sendable, Hashable {
        /// The JSON field, e.g. `email`.
        public var field: String
        /// A stable code, the refusal's case name, e.g. `missingAtSign`.
        public var code: String
        /// A sentence a person can read.
        public var detail: String
    }

    /// The base of every `type` URI.
    public static let typeBase = "https://swift-user-domain.github.io/problems/"

    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The last segment of the `type` URI, e.g. `email-taken`.
    public var code: String
    /// A short, fixed summary of the kind of problem.
    public var title: String
    /// What happened in this case.
    public var detail: String
    /// The fields at fault, for validation problems.
    public var errors: [FieldError]
    /// Extra response headers (`Retry-After`, …).
    public var headers: HTTPFields

    /// Creates a problem.
    public init(
        _ status: HTTPResponse.Status, code: String, title: String, detail: String, errors: [FieldError] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    private struct Body: Encodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var instance: String
        var requestId: String?
        var errors: [FieldError]?
    }

    /// The problem+json response, with the request's id and path.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let requestID = (context as? UserRequestContext)?.requestID
        let body = Body(
            type: Self.typeBase + code, title: title, status: status.code, detail: detail, instance: request.uri.path,
            requestId: requestID, errors: errors.isEmpty ? nil : errors)
        let data = try JSONEncoder.sorted.encode(body)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension JSONEncoder {
    /// Sorted keys, no escaped slashes: stable bytes for the same value.
    package static let sorted: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

extension Problem {
    package static func validation(field: String, code: String, detail: String) -> Problem {
        Problem(
            .unprocessableContent, code: "validation", title: "The request is not valid.", detail: detail,
            errors: [FieldError(field: field, code: code, detail: detail)])
    }

    package static func badRequest(_ code: String, _ detail: String, field: String? = nil) -> Problem {
        Problem(
            .badRequest, code: code, title: "The request is malformed.", detail: detail,
            errors: field.map { [FieldError(field: $0, code: code, detail: detail)] } ?? [])
    }

    /// The problem for any error a handler let through.
    package static func from(_ error: any Error) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as UserError:
            return from(error)
        case let error as UserStoreError where error.code == .unavailable:
            return Problem(
                .serviceUnavailable, code: "unavailable", title: "The service is unavailable.",
                detail: "The user store can't be reached right now; retry shortly.", headers: [.retryAfter: "1"])
        case let error as UserStoreError where error.code == .dataLost:
            return Problem(
                .serviceUnavailable, code: "directory-incomplete", title: "The directory is not complete yet.",
                detail: "The directory's store lost data; it is being rebuilt from the event history. Retry shortly.",
                headers: [.retryAfter: "1"])
        case is NIOTooManyBytesError:
            return Problem(
                .contentTooLarge, code: "body-too-large", title: "The request body is too large.",
                detail: "The request body is larger than the server accepts.")
        case let error as HTTPError:
            return Problem(
                error.status, code: "http-\(error.status.code)", title: error.status.reasonPhrase,
                detail: error.status.reasonPhrase)
        default:
            return Problem(
                .internalServerError, code: "internal", title: "Internal server error.",
                detail: "The server failed to process the request.")
        }
    }

    /// The problem for an error of the request's HTTP/1.1 framing, which NIO's decoder reports through the
    /// request body stream once the head has been delivered (a chunk size that is not hexadecimal or
    /// overflows, a `Transfer-Encoding` that is not `chunked`), or for a client that hung up in mid-body;
    /// `nil` for any other error.
    ///
    /// They are the client's fault, never a 500: 400, or 501 for a transfer coding of the registry that this
    /// server does not implement (RFC 9112, section 6.1; `gzip` alone also breaks section 6.3's rule that
    /// `chunked` comes last, but the client is better told what is missing). The response closes the
    /// connection: after a framing error the decoder has stopped and the rest of the stream can't be trusted.
    package static func framing(_ error: any Error, headers: HTTPFields) -> (problem: Problem, clientGone: Bool)? {
        switch error {
        case HTTPParserError.invalidEOFState, is ChannelError, is IOError:
            // The connection ended (or reset) before the body did: no one reads the answer.
            return (
                Problem(
                    .badRequest, code: "incomplete-request", title: "The request is malformed.",
                    detail: "The connection closed before the request body was complete.",
                    headers: [.connection: "close"]),
                true
            )
        case let error as HTTPParserError:
            var problem: Problem
            if case .unknown = error, let codings = headers[.transferEncoding] {
                problem = transferCodingProblem(codings)
            } else if case .headerOverflow = error {
                problem = Problem(
                    .requestHeaderFieldsTooLarge, code: "headers-too-large",
                    title: "The request header fields are too large.",
                    detail: "The request's header fields are larger than the server accepts.")
            } else {
                let detail =
                    switch error {
                    case .invalidChunkSize: "A chunk size of the request body is not a hexadecimal number that fits."
                    case .invalidContentLength: "The Content-Length of the request is not a valid length."
                    case .unexpectedContentLength: "The request has both Content-Length and Transfer-Encoding."
                    default: "The request is not well-formed HTTP/1.1 (\(error))."
                    }
                problem = .badRequest("malformed-request", detail)
            }
            problem.headers[.connection] = "close"
            return (problem, false)
        default:
            return nil
        }
    }

    /// 501 when every coding of a `Transfer-Encoding` value is one of the registry's (RFC 9110, section 18.7)
    /// but some are not implemented here; 400 for anything else (an unknown coding, like `xchunked`, or no
    /// coding): the body's length can't be determined (RFC 9112, section 6.3).
    package static func transferCodingProblem(_ value: String) -> Problem {
        let registered: Set<String> = ["chunked", "compress", "deflate", "gzip", "trailers", "x-compress", "x-gzip"]
        let codings = value.split(separator: ",").map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
        if !codings.isEmpty, codings.allSatisfy(registered.contains) {
            return Problem(
                .notImplemented, code: "unsupported-transfer-coding", title: "The transfer coding is not implemented.",
                detail: "This server implements only the chunked transfer coding, not \(value).")
        }
        return .badRequest(
            "invalid-transfer-encoding", "Transfer-Encoding must be chunked (it was \(value)).")
    }

    package static func from(_ error: UserError) -> Problem {
        switch error {
        case .invalidEmail(let problem):
            return .validation(field: "email", code: problem.rawValue, detail: problem.description)
        case .invalidDisplayName(let problem):
            return .validation(field: "displayName", code: problem.rawValue, detail: problem.description)
        case .notFound:
            return Problem(.notFound, code: "not-found", title: "No such user.", detail: error.description)
        case .emailTaken:
            return Problem(
                .conflict, code: "email-taken", title: "The e-mail address is taken.", detail: error.description)
        case .versionConflict:
            return Problem(
                .conflict, code: "version-conflict", title: "The user changed meanwhile.", detail: error.description)
        case .illegalTransition:
            return Problem(
                .conflict, code: "illegal-transition", title: "Not allowed in the user's status.",
                detail: error.description)
        case .invalidPageSize:
            return .badRequest("invalid-limit", error.description, field: "limit")
        case .invalidCursor:
            return .badRequest("invalid-cursor", error.description, field: "cursor")
        }
    }
}
