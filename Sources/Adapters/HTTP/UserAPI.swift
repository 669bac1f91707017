import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import UserDomain
public import UserPorts
public import ServiceSupport

/// The REST API of the user service, on Hummingbird 2.
///
/// Resource endpoints read and write the write model, so a client always reads its own writes:
/// `POST /users`, `GET /users/{id}`, `GET /users?email=…`, `GET /users?limit=&cursor=`, `PATCH /users/{id}`
/// (honouring `If-Match`), `POST /users/{id}/deactivate`, `POST /users/{id}/reactivate`,
/// `DELETE /users/{id}`; plus `GET /health/live`, `GET /health/ready`, `GET /metrics` (when given an
/// exposition), `GET /openapi.yaml` (the OpenAPI 3.1 document of this API), and the directory queries on the
/// read model, `GET /directory/users?prefix=` and `GET /directory/stats` (when given `DirectoryQueries`).
/// Writes answer with a `Consistency-Token` header; a directory read that sends it back waits until the read
/// model has caught up with that write (503 with `Retry-After` when it does not in time). Every error is an RFC 9457
/// problem (see `Problem`); every response carries `X-Request-ID`. `HEAD` is answered wherever `GET` is.
public struct UserAPI<Repository: UserRepository>: Sendable {
    /// Limits and rules of the API.
    public typealias Configuration = UserAPIConfiguration

    private let service: UserUseCases<Repository>
    private let configuration: Configuration
    private let readiness: @Sendable () async throws -> Void
    private let metrics: (@Sendable () -> [UInt8])?
    private let directory: DirectoryQueries?
    /// The history `GET /events` reads (``servingEvents(from:)``).
    var events: (any EventHistoryReading)?
    /// What `GET /health/ready` reports besides its status (``reportingHealth(_:)``).
    var healthDetails: (@Sendable () async -> [String: String])?
    private let idempotency: IdempotencyCache

    /// Creates the API over the use cases, and the directory's read side when given.
    ///
    /// - Parameters:
    ///   - service: the use cases the routes call.
    ///   - configuration: the API's limits and rules.
    ///   - readiness: what `GET /health/ready` checks; it throws when the service is not ready.
    ///   - metrics: the Prometheus text exposition that `GET /metrics` serves (for instance a
    ///     `PrometheusCollectorRegistry`'s `emitToBuffer`); without it there is no `/metrics` route.
    ///   - directory: the directory queries that `GET /directory/users` and `GET /directory/stats` answer
    ///     from the read model; `nil` (a `UserSystem` without its directory): no directory routes.
    public init(
        service: UserUseCases<Repository>, configuration: Configuration = .init(),
        readiness: @escaping @Sendable () async throws -> Void,
        metrics: (@Sendable () -> [UInt8])? = nil,
        directory: DirectoryQueries? = nil
    ) {
        self.service = service
        self.configuration = configuration
        self.readiness = readiness
        self.metrics = metrics
        self.directory = directory
        self.idempotency = IdempotencyCache(
            capacity: configuration.idempotencyKeys, maximumBytes: configuration.idempotencyBytes)
    }

    /// A router with every route and the request-id, metrics and problem middleware; with `tokens`, every
    /// route but the health checks and `/openapi.yaml` (`/metrics` included) requires one of them as a bearer
    /// token.
    ///
    /// Requests are counted and timed through swift-metrics with the names of Hummingbird's `MetricsMiddleware`
    /// (`hb.requests`, `http.server.request.duration`, `hb.request.errors`, `http.server.active_requests`,
    /// labelled by route template, method and status), by a middleware that keeps Hummingbird's single-write
    /// path for the response.
    public func makeRouter(tokens: [String] = []) -> Router<UserRequestContext> {
        // HEAD wherever GET (RFC 9110, section 9.3.2): Hummingbird answers it with the GET handler's status and
        // headers (Content-Length included) and no body.
        let router = Router(context: UserRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: RequestIDMiddleware())
        router.add(
            middleware: MethodNotAllowedMiddleware(
                servesMetrics: metrics != nil, servesDirectory: directory != nil, servesEvents: events != nil))
        if !tokens.isEmpty { router.add(middleware: BearerAuthenticationMiddleware(tokens: tokens)) }
        addRoutes(to: router)
        return router
    }

    /// Adds the routes to a router of the embedding application (which should add `RequestIDMiddleware`, and
    /// create the router with `options: .autoGenerateHeadEndpoints` so that HEAD is served wherever GET is).
    public func addRoutes(to router: Router<UserRequestContext>) {
        router.get("health/live") { _, _ in Self.json(["status": "ok"], status: .ok) }
        router.get("health/ready") { _, _ in
            do {
                try await readiness()
                var body = await healthDetails?() ?? [:]
                body["status"] = "ready"
                return Self.json(body, status: .ok)
            } catch {
                throw Problem(
                    .serviceUnavailable, code: "not-ready", title: "The service is not ready.",
                    detail: "The user store can't be reached.", headers: [.retryAfter: "1"])
            }
        }
        let document = ByteBuffer(string: OpenAPIDocument.yaml)
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: document))
        }
        if let metrics {
            router.get("metrics") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
            }
        }
        let users = router.group("users")
        users.post { request, context in try await register(request, context) }
        users.get { request, context in try await list(request, context) }
        users.get(":id") { _, context in
            let user = try await service.user(try Self.userID(context))
            return try Self.userResponse(user, status: .ok)
        }
        users.patch(":id") { request, context in try await update(request, context) }
        users.post(":id/deactivate") { request, context in
            let (id, condition) = (try Self.userID(context), try ifMatch(request))
            let (user, token) = try await service.withConsistencyToken { service in
                try await Self.preconditioned(condition) {
                    try await service.deactivate(id, precondition: condition?.precondition ?? .none)
                }
            }
            return try Self.userResponse(user, status: .ok, token: token)
        }
        users.post(":id/reactivate") { request, context in
            let (id, condition) = (try Self.userID(context), try ifMatch(request))
            let (user, token) = try await service.withConsistencyToken { service in
                try await Self.preconditioned(condition) {
                    try await service.reactivate(id, precondition: condition?.precondition ?? .none)
                }
            }
            return try Self.userResponse(user, status: .ok, token: token)
        }
        users.delete(":id") { request, context in
            let id = try Self.userID(context)
            let condition = try ifMatch(request, required: configuration.requiresIfMatch)
            let (_, token) = try await service.withConsistencyToken { service in
                try await Self.preconditioned(condition) {
                    try await service.delete(id, precondition: condition?.precondition ?? .none)
                }
            }
            var response = Response(status: .noContent)
            if let token { response.headers[.consistencyToken] = token.description }
            return response
        }
        if let directory { DirectoryRoutes.add(to: router, directory) }
        if let events { Self.addEventRoutes(to: router, events) }
    }

    // MARK: Handlers

    /// `POST /users`, honouring `Idempotency-Key`: a retry with the same key and registration gets the first
    /// response; the same key with another registration is 422. Registrations are compared by their fields,
    /// not their bytes, so a retry whose JSON is spelled differently (another client, another key order) is
    /// the same request.
    private func register(_ request: Request, _ context: UserRequestContext) async throws -> Response {
        let body = try Self.parse(RegistrationRequest.self, try await jsonBody(request))
        guard let field = request.headers[HTTPField.Name("Idempotency-Key")!] else {
            return try await registerResponse(body).response
        }
        guard (1...255).contains(field.utf8.count) else {
            throw Problem.badRequest("invalid-idempotency-key", "Idempotency-Key must be 1 to 255 characters.")
        }
        // Compared after percent-decoding: a client generated by swift-openapi-generator sends `a b` as
        // `a%20b`, curl sends it as is, and both mean one key.
        let key = IdempotencyCache.Key(scope: context.caller, key: percentDecoded(field) ?? field)
        var fields = ByteBuffer(string: body.email)
        fields.writeInteger(UInt8(0))
        fields.writeString(body.displayName)
        let digest = IdempotencyCache.digest(fields)
        switch await idempotency.begin(key, digest: digest) {
        case .replay(let stored):
            return Response(status: stored.status, headers: stored.headers, body: .init(byteBuffer: stored.body))
        case .mismatch:
            throw Problem(
                .unprocessableContent, code: "idempotency-key-reused", title: "The Idempotency-Key was used before.",
                detail: "This Idempotency-Key was sent with another registration.")
        case .inProgress:
            throw Problem(
                .conflict, code: "idempotency-key-in-progress", title: "The first request is still running.",
                detail: "A request with this Idempotency-Key is still being processed; retry shortly.")
        case .proceed:
            do {
                let (response, bytes) = try await registerResponse(body)
                await idempotency.finish(
                    key, digest: digest,
                    response: .init(status: response.status, headers: response.headers, body: bytes))
                return response
            } catch {
                await idempotency.abandon(key)
                throw error
            }
        }
    }

    private func registerResponse(_ body: RegistrationRequest) async throws -> (response: Response, body: ByteBuffer) {
        let (user, token) = try await service.withConsistencyToken { service in
            try await service.register(email: body.email, displayName: body.displayName)
        }
        let bytes = ByteBuffer(bytes: UserRepresentation(user).json)
        var headers: HTTPFields = [
            .contentType: "application/json", .eTag: "\"\(user.version)\"", .location: "/users/\(user.id)",
        ]
        if let token { headers[.consistencyToken] = token.description }
        return (Response(status: .created, headers: headers, body: .init(byteBuffer: bytes)), bytes)
    }

    private func update(_ request: Request, _ context: UserRequestContext) async throws -> Response {
        let id = try Self.userID(context)
        let condition = try ifMatch(request, required: configuration.requiresIfMatch)
        let body = try await decode(UpdateRequest.self, request)
        let (user, token) = try await service.withConsistencyToken { service in
            try await Self.preconditioned(condition) {
                try await service.update(
                    id, displayName: body.displayName, email: body.email,
                    precondition: condition?.precondition ?? .none)
            }
        }
        return try Self.userResponse(user, status: .ok, token: token)
    }

    private func list(_ request: Request, _ context: UserRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        if let email = query["email"] {
            let match = try await service.user(email: String(email))
            return Self.json(
                bytes: PageRepresentation(items: match.map { [UserRepresentation($0)] } ?? [], nextCursor: nil).json)
        }
        var limit = configuration.defaultPageSize
        if let text = query["limit"] {
            guard let value = Int(text), (1...configuration.maximumPageSize).contains(value) else {
                throw Problem.badRequest(
                    "invalid-limit", "limit must be a whole number from 1 to \(configuration.maximumPageSize).",
                    field: "limit")
            }
            limit = value
        }
        let cursor = try query["cursor"].map { try PageCursor(encoded: String($0)) }
        let page = try await service.users(after: cursor, limit: limit)
        var response = Self.json(
            bytes: PageRepresentation(
                items: page.users.map(UserRepresentation.init), nextCursor: page.nextCursor?.encoded
            )
            .json)
        if let next = page.nextCursor {
            response.headers[HTTPField.Name("Link")!] = "</users?limit=\(limit)&cursor=\(next.encoded)>; rel=\"next\""
        }
        return response
    }

    // MARK: Helpers

    /// Reads and decodes a JSON body: 415 for another content type, 413 above the size limit, 400 for
    /// malformed JSON or missing fields.
    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        try Self.parse(type, try await jsonBody(request))
    }

    /// Reads a JSON body: 415 for another content type, 413 above the size limit.
    private func jsonBody(_ request: Request) async throws -> ByteBuffer {
        let contentType = request.headers[.contentType].map {
            $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard contentType == "application/json" else {
            throw Problem(
                .unsupportedMediaType, code: "unsupported-media-type", title: "The body must be JSON.",
                detail: "Send the body as application/json.")
        }
        // NIO decodes `gzip, chunked` as chunked and hands on the gzip bytes: a coding other than chunked is
        // refused before the body is read (501 for a registered one, RFC 9112 section 6.1).
        // (A value that does not end in chunked leaves the body's length unknown: NIO's decoder reports that
        // as a framing error, answered by RequestIDMiddleware with the connection closed.)
        if let codings = request.headers[.transferEncoding].map({ value in
            value.split(separator: ",").map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
        }), codings.last == "chunked", codings.count > 1, let value = request.headers[.transferEncoding] {
            // The framing itself is sound (it ends in chunked): the connection can carry on once the body is
            // drained.
            throw Problem.transferCodingProblem(value)
        }
        return try await request.body.collect(upTo: configuration.maximumBodySize)
    }

    /// Decodes JSON: 400 for malformed JSON, a missing field or a field of the wrong type.
    private static func parse<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            switch error {
            case .keyNotFound(let key, _):
                throw Problem.badRequest(
                    "missing-field", "The field \(key.stringValue) is missing.", field: key.stringValue)
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                let field = context.codingPath.map(\.stringValue).joined(separator: ".")
                throw Problem.badRequest("wrong-type", "The field \(field) has the wrong type.", field: field)
            default:
                throw Problem.badRequest("malformed-json", "The body is not valid JSON.")
            }
        }
    }

    /// The request's `If-Match` (see ``IfMatch``), `nil` when absent.
    ///
    /// - Throws: 428 when required and absent; 400 when it is not `*` or a list of entity tags.
    private func ifMatch(_ request: Request, required: Bool = false) throws -> IfMatch? {
        guard let value = request.headers[.ifMatch] else {
            if required {
                throw Problem(
                    .preconditionRequired, code: "if-match-required", title: "If-Match is required.",
                    detail: "Send If-Match with the ETag you last read.")
            }
            return nil
        }
        guard let condition = IfMatch(value) else {
            throw Problem.badRequest(
                "invalid-if-match", "If-Match must be * or a list of ETags of this API, like \"3\".")
        }
        return condition
    }

    /// Runs a write under the request's `If-Match`: when it sent one and the user is at none of the versions
    /// it names, the write is refused with 412. Without `If-Match` (or with `*`) the write applies to the
    /// current version and never fails with a version the client did not send.
    private static func preconditioned<T>(_ condition: IfMatch?, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch UserError.versionConflict(let id, _, let actual) where condition != nil {
            let now = actual.map { "at version \($0) (ETag \"\($0)\")" } ?? "at another version"
            throw Problem(
                .preconditionFailed, code: "precondition-failed", title: "The user changed meanwhile.",
                detail: "User \(id) is \(now), which If-Match does not name with a strong ETag.")
        }
    }

    private static func userID(_ context: UserRequestContext) throws -> UserID {
        let text = try context.parameters.require("id")
        guard let id = UserID(text) else {
            throw Problem(.notFound, code: "not-found", title: "No such user.", detail: "No user has the id \(text).")
        }
        return id
    }

    static func userResponse(_ user: User, status: HTTPResponse.Status, token: EventPosition? = nil) throws
        -> Response
    {
        var response = json(bytes: UserRepresentation(user).json, status: status)
        response.headers[.eTag] = "\"\(user.version)\""
        if let token { response.headers[.consistencyToken] = token.description }
        return response
    }

    /// A JSON response from the bytes the representations wrote.
    static func json(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder.sorted.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ value: [String: String], status: HTTPResponse.Status) -> Response {
        let data = (try? JSONEncoder.sorted.encode(value)) ?? Data("{}".utf8)  // strings always encode
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
