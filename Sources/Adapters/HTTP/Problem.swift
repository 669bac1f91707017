package import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
import UserDomain
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
        /// A stable code, e.g. `missing-at-sign`.
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
    static func validation(field: String, code: String, detail: String) -> Problem {
        Problem(
            .unprocessableContent, code: "validation", title: "The request is not valid.", detail: detail,
            errors: [FieldError(field: field, code: code, detail: detail)])
    }

    static func badRequest(_ code: String, _ detail: String, field: String? = nil) -> Problem {
        Problem(
            .badRequest, code: code, title: "The request is malformed.", detail: detail,
            errors: field.map { [FieldError(field: $0, code: code, detail: detail)] } ?? [])
    }

    /// The problem for any error a handler let through.
    static func from(_ error: any Error) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as UserError:
            return from(error)
        case let error as UserStoreError where error.code == .unavailable:
            return Problem(
                .serviceUnavailable, code: "unavailable", title: "The service is unavailable.",
                detail: "The user store can't be reached right now; retry shortly.", headers: [.retryAfter: "1"])
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

    static func from(_ error: UserError) -> Problem {
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
