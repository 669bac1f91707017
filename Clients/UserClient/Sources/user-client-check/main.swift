// Every operation of the user service and its documented errors, and every conditional write, through the
// client generated from its served document: `user-client-check BASE_URL [TOKEN]`. Every response must be one
// the document declares (never `.undocumented`), problems decoded as their documented type. Prints the
// registered user's id, e-mail and idempotency key on its last line (for scripts/client-check.sh's cross-check
// with curl) and exits 1 on the first failed check.
import Foundation
import HTTPTypes
import OpenAPIRuntime
import UserClient

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Adds `Authorization: Bearer TOKEN` to every request.
struct BearerToken: ClientMiddleware {
    let token: String
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

/// Changes the request for one operation: another method, or another content type.
struct Rewrite: ClientMiddleware {
    let operationID: String
    var method: HTTPRequest.Method?
    var contentType: String?
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if operationID == self.operationID {
            if let method { request.method = method }
            if let contentType { request.headerFields[.contentType] = contentType }
        }
        return try await next(request, body, baseURL)
    }
}

struct CheckFailed: Error, CustomStringConvertible {
    let description: String
}

/// Fails with what was expected and the response that came instead.
func unexpected(_ what: String, _ output: Any) -> CheckFailed {
    CheckFailed(description: "user-client-check: FAILED: \(what); got \(output)")
}

/// Checks a problem: its status, its code (the end of its type) and that it carries the request id.
func checkProblem(
    _ problem: Components.Schemas.Problem, _ status: Int, _ code: String, requestID: String?, _ what: String
) throws {
    guard problem.status == status, problem._type.hasSuffix("/\(code)"), problem.requestId != nil,
        requestID == problem.requestId
    else { throw unexpected("\(what): a \(status) \(code) problem with its request id", problem) }
}


let arguments = CommandLine.arguments
guard arguments.count >= 2, let base = URL(string: arguments[1]) else {
    FileHandle.standardError.write(Data("usage: user-client-check BASE_URL [TOKEN]\n".utf8))
    exit(64)
}
let token = arguments.count > 2 ? arguments[2] : nil
let client = Client.userService(serverURL: base, middlewares: token.map { [BearerToken(token: $0)] } ?? [])

/// Calls every operation of the document, and its documented errors; returns how many checks passed.
func runOperationChecks(base: URL, token: String?) async throws -> Int {
    var checks = 0
    func check(_ condition: Bool, _ what: String) throws {
        guard condition else { throw CheckFailed(description: "user-client-check: FAILED: \(what)") }
        checks += 1
    }
    let authorized: [any ClientMiddleware] = token.map { [BearerToken(token: $0)] } ?? []
    let run = UUID().uuidString.prefix(8).lowercased()
    let requestID = "client-check-\(run)"

    // Health, the document, metrics.
    guard case .ok(let live) = try await client.live(headers: .init(xRequestID: requestID)) else {
        throw CheckFailed(description: "user-client-check: FAILED: GET /health/live")
    }
    try check(try live.body.json.status == .ok && live.headers.xRequestID == requestID, "live, echoing X-Request-ID")
    guard case .ok(let ready) = try await client.ready() else {
        throw CheckFailed(description: "user-client-check: FAILED: GET /health/ready")
    }
    try check(try ready.body.json.status == .ready && ready.headers.xRequestID != nil, "ready")
    guard case .ok(let document) = try await client.openAPIDocument() else {
        throw CheckFailed(description: "user-client-check: FAILED: GET /openapi.yaml")
    }
    let yaml = try await String(collecting: try document.body.yaml, upTo: 1 << 20)
    try check(yaml.hasPrefix("openapi: 3.1.0\n"), "the document")
    guard case .ok(let metrics) = try await client.metrics() else {
        throw CheckFailed(description: "user-client-check: FAILED: GET /metrics")
    }
    let exposition = try await String(collecting: try metrics.body.plainText, upTo: 16 << 20)
    try check(exposition.contains("# TYPE"), "metrics in the Prometheus text format")

    // Register three users; list them page by page and by e-mail.
    var registered: [Components.Schemas.User] = []
    var consistency = ""
    for index in 1...3 {
        let registration = Components.Schemas.Registration(
            email: "paging-\(run)-\(index)@example.com", displayName: "Zq\(run) \(index)")
        guard case .created(let created) = try await client.registerUser(body: .json(registration)) else {
            throw CheckFailed(description: "user-client-check: FAILED: register \(index)")
        }
        let user = try created.body.json
        try check(
            created.headers.location == "/users/\(user.id)" && created.headers.consistencyToken != nil,
            "register: Location and Consistency-Token")
        consistency = created.headers.consistencyToken ?? ""
        registered.append(user)
    }
    guard case .ok(let got) = try await client.getUser(path: .init(id: registered[0].id)) else {
        throw CheckFailed(description: "user-client-check: FAILED: GET /users/{id}")
    }
    try check(try got.body.json == registered[0] && got.headers.eTag == #""1""#, "get a user with its ETag")
    var seen: Set<String> = []
    var cursor: String?
    var pages = 0
    repeat {
        guard case .ok(let page) = try await client.listUsers(query: .init(limit: 2, cursor: cursor)) else {
            throw CheckFailed(description: "user-client-check: FAILED: GET /users?limit=2")
        }
        let body = try page.body.json
        try check(body.items.count <= 2, "a page holds at most limit users")
        try check((body.nextCursor == nil) == (page.headers.link == nil), "a Link header on every page but the last")
        seen.formUnion(body.items.map(\.id))
        cursor = body.nextCursor
        pages += 1
    } while cursor != nil && pages < 10_000
    try check(registered.allSatisfy { seen.contains($0.id) } && pages >= 2, "paging reaches every user")
    guard case .ok(let byEmail) = try await client.listUsers(query: .init(email: registered[1].email.uppercased()))
    else { throw CheckFailed(description: "user-client-check: FAILED: GET /users?email=") }
    let match = try byEmail.body.json
    try check(match.items.map(\.id) == [registered[1].id] && match.nextCursor == nil, "the e-mail filter, any case")

    // The directory: with the last write's token it includes the write; statistics too.
    guard case .ok(let search) = try await client.searchDirectory(
        query: .init(prefix: "zq\(run)", limit: 10), headers: .init(consistencyToken: consistency))
    else { throw CheckFailed(description: "user-client-check: FAILED: directory search with a Consistency-Token") }
    try check(
        Set(try search.body.json.items.map(\.id)) == Set(registered.map(\.id)),
        "the directory, read with the token, includes the writes")
    guard case .ok(let untokened) = try await client.searchDirectory(query: .init(prefix: "zq\(run)")) else {
        throw CheckFailed(description: "user-client-check: FAILED: directory search without a Consistency-Token")
    }
    try check(try untokened.body.json.items.count <= 3, "a directory search without a token")
    guard case .ok(let stats) = try await client.directoryStatistics(headers: .init(consistencyToken: consistency)) else {
        throw CheckFailed(description: "user-client-check: FAILED: directory statistics")
    }
    let counts = try stats.body.json
    try check(counts.total == counts.active + counts.deactivated && counts.active >= 3, "directory statistics")

    // The event history, page by page: the writes above are in it, in position order, as envelopes.
    var after: Int64 = 0
    var positions: [Int64] = []
    var historyUsers: Set<String> = []
    while true {
        guard case .ok(let page) = try await client.listEvents(query: .init(after: after, limit: 50)) else {
            throw CheckFailed(description: "user-client-check: FAILED: the event history")
        }
        let body = try page.body.json
        positions += body.items.map(\.position)
        for item in body.items where item.event._type == .user_registered {
            historyUsers.insert(item.event.userId)
        }
        guard let next = body.next else { break }
        after = next
    }
    try check(positions == positions.sorted() && Set(positions).count == positions.count, "the history in position order")
    try check(Set(registered.map(\.id)).isSubset(of: historyUsers), "the history holds the registrations")
    let output400e = try await client.listEvents(query: .init(limit: 0), headers: .init(xRequestID: requestID))
    guard case .badRequest(let badEventLimit) = output400e else { throw unexpected("events limit=0 is 400", output400e) }
    try checkProblem(
        try badEventLimit.body.applicationProblemJson, 400, "invalid-limit", requestID: requestID, "events limit=0")
    checks += 1

    // Every documented error, decoded as its documented type.
    let output400 = try await client.listUsers(query: .init(limit: 0), headers: .init(xRequestID: requestID))
    guard case .badRequest(let badLimit) = output400 else { throw unexpected("limit=0 is 400", output400) }
    try checkProblem(try badLimit.body.applicationProblemJson, 400, "invalid-limit", requestID: requestID, "limit=0")
    checks += 1
    let output400b = try await client.searchDirectory(headers: .init(xRequestID: requestID, consistencyToken: "999999999999"))
    guard case .badRequest(let badToken) = output400b else { throw unexpected("an unknown token is 400", output400b) }
    try checkProblem(
        try badToken.body.applicationProblemJson, 400, "invalid-consistency-token", requestID: requestID,
        "an unknown Consistency-Token")
    checks += 1
    if token != nil {
        let anonymous = Client.userService(serverURL: base)
        let output401 = try await anonymous.getUser(
            path: .init(id: registered[0].id), headers: .init(xRequestID: requestID))
        guard case .unauthorized(let unauthorized) = output401 else {
            throw unexpected("no token is 401", output401)
        }
        try checkProblem(
            try unauthorized.body.applicationProblemJson, 401, "unauthorized", requestID: requestID, "no token")
        try check(unauthorized.headers.wwwAuthenticate == "Bearer", "401 with WWW-Authenticate: Bearer")
    }
    let output404 = try await client.getUser(path: .init(id: UUID().uuidString.lowercased()), headers: .init(xRequestID: requestID))
    guard case .notFound(let notFound) = output404 else { throw unexpected("an unknown id is 404", output404) }
    try checkProblem(try notFound.body.applicationProblemJson, 404, "not-found", requestID: requestID, "unknown id")
    checks += 1
    let output409 = try await client.registerUser(
        headers: .init(xRequestID: requestID),
        body: .json(.init(email: registered[0].email.uppercased(), displayName: "Again")))
    guard case .conflict(let conflict) = output409 else { throw unexpected("a taken e-mail is 409", output409) }
    try checkProblem(try conflict.body.applicationProblemJson, 409, "email-taken", requestID: requestID, "taken")
    checks += 1
    let output412 = try await client.updateUser(
        path: .init(id: registered[0].id), headers: .init(xRequestID: requestID, ifMatch: #""7""#),
        body: .json(.init(displayName: "Stale")))
    guard case .preconditionFailed(let stale) = output412 else { throw unexpected("a stale If-Match is 412", output412) }
    try checkProblem(
        try stale.body.applicationProblemJson, 412, "precondition-failed", requestID: requestID, "stale If-Match")
    checks += 1
    let output413 = try await client.registerUser(
        headers: .init(xRequestID: requestID),
        body: .json(.init(email: "large-\(run)@example.com", displayName: String(repeating: "x", count: 80_000))))
    guard case .contentTooLarge(let tooLarge) = output413 else { throw unexpected("a large body is 413", output413) }
    try checkProblem(
        try tooLarge.body.applicationProblemJson, 413, "body-too-large", requestID: requestID, "a body over 64 KiB")
    checks += 1
    let textClient = Client.userService(
        serverURL: base, middlewares: authorized + [Rewrite(operationID: "updateUser", contentType: "text/plain")])
    let output415 = try await textClient.updateUser(
        path: .init(id: registered[0].id), headers: .init(xRequestID: requestID), body: .json(.init(displayName: "Text")))
    guard case .unsupportedMediaType(let unsupported) = output415 else {
        throw unexpected("a text/plain body is 415", output415)
    }
    try checkProblem(
        try unsupported.body.applicationProblemJson, 415, "unsupported-media-type", requestID: requestID, "text/plain")
    checks += 1
    let output422 = try await client.registerUser(
        headers: .init(xRequestID: requestID), body: .json(.init(email: "not an address", displayName: "Invalid")))
    guard case .unprocessableContent(let invalid) = output422 else { throw unexpected("an invalid e-mail is 422", output422) }
    let invalidProblem = try invalid.body.applicationProblemJson
    try checkProblem(invalidProblem, 422, "validation", requestID: requestID, "an invalid e-mail")
    try check(invalidProblem.errors?.first?.field == "email", "422 names the field")
    let putClient = Client.userService(serverURL: base, middlewares: [Rewrite(operationID: "live", method: .put)])
    let output405 = try await putClient.live(headers: .init(xRequestID: requestID))
    guard case .default(statusCode: 405, let notAllowed) = output405 else {
        throw unexpected("PUT /health/live is the default problem, 405", output405)
    }
    try checkProblem(
        try notAllowed.body.applicationProblemJson, 405, "method-not-allowed", requestID: requestID, "PUT")
    try check(notAllowed.headers.allow == "GET, HEAD", "405 with Allow: GET, HEAD")

    // Deactivate, reactivate, delete (unconditional here; the conditional forms are checked below).
    guard case .ok(let deactivated) = try await client.deactivateUser(path: .init(id: registered[2].id)) else {
        throw CheckFailed(description: "user-client-check: FAILED: deactivate")
    }
    try check(try deactivated.body.json.status == .deactivated, "deactivate")
    guard case .ok(let reactivated) = try await client.reactivateUser(path: .init(id: registered[2].id)) else {
        throw CheckFailed(description: "user-client-check: FAILED: reactivate")
    }
    try check(try reactivated.body.json.status == .active, "reactivate")
    for user in registered {
        guard case .noContent(let deleted) = try await client.deleteUser(path: .init(id: user.id)) else {
            throw CheckFailed(description: "user-client-check: FAILED: delete")
        }
        try check(deleted.headers.consistencyToken != nil, "delete, with a Consistency-Token")
    }
    print("user-client-check: every operation and its documented errors: \(checks) checks passed")
    return checks
}

/// Runs every check; returns how many passed.
func runChecks(_ client: Client) async throws -> Int {
    var checks = 0
    func check(_ condition: Bool, _ what: String) throws {
        guard condition else { throw CheckFailed(description: "user-client-check: FAILED: \(what)") }
        checks += 1
    }
    let email = "client-\(UUID().uuidString.prefix(8).lowercased())@example.com"
    let key = "check \(UUID().uuidString.prefix(8))/retry"
    let registration = Components.Schemas.Registration(email: email, displayName: "Client Check")
    guard case .created(let created) = try await client.registerUser(
        headers: .init(idempotencyKey: key), body: .json(registration))
    else { throw CheckFailed(description: "user-client-check: FAILED: register") }
    let user = try created.body.json
    try check(user.version == 1 && created.headers.eTag == #""1""#, "registered at version 1 with ETag \"1\"")
    guard case .created(let replayed) = try await client.registerUser(
        headers: .init(idempotencyKey: key), body: .json(registration))
    else { throw CheckFailed(description: "user-client-check: FAILED: idempotent retry") }
    try check(try replayed.body.json.id == user.id, "a retry with the same Idempotency-Key replays the first")

    let id = Operations.UpdateUser.Input.Path(id: user.id)
    func update(_ ifMatch: String?, _ name: String) async throws -> Operations.UpdateUser.Output {
        try await client.updateUser(
            path: id, headers: .init(ifMatch: ifMatch), body: .json(.init(displayName: name)))
    }
    guard case .ok(let renamed) = try await update(#""1""#, "Renamed") else {
        throw CheckFailed(description: "user-client-check: FAILED: PATCH with If-Match \"1\"")
    }
    try check(try renamed.body.json.version == 2, "PATCH with If-Match \"1\" applies")
    guard case .preconditionFailed = try await update(#""1""#, "Stale") else {
        throw CheckFailed(description: "user-client-check: FAILED: a stale If-Match is 412")
    }
    checks += 1
    guard case .ok(let any) = try await update("*", "Any") else {
        throw CheckFailed(description: "user-client-check: FAILED: If-Match * applies")
    }
    try check(try any.body.json.version == 3, "If-Match * applies to the current version")
    guard case .ok(let listed) = try await update(#""9", "3""#, "Listed") else {
        throw CheckFailed(description: "user-client-check: FAILED: an If-Match list matches on a member")
    }
    try check(try listed.body.json.version == 4, "an If-Match list matches on a member")
    guard case .preconditionFailed = try await update(#"W/"4""#, "Weak") else {
        throw CheckFailed(description: "user-client-check: FAILED: a weak If-Match never matches")
    }
    checks += 1
    guard case .ok(let unconditional) = try await update(nil, "Unconditional") else {
        throw CheckFailed(description: "user-client-check: FAILED: PATCH without If-Match")
    }
    try check(try unconditional.body.json.version == 5, "PATCH without If-Match applies")

    guard case .ok(let deactivated) = try await client.deactivateUser(
        path: .init(id: user.id), headers: .init(ifMatch: #""5""#))
    else { throw CheckFailed(description: "user-client-check: FAILED: deactivate with If-Match") }
    try check(try deactivated.body.json.status == .deactivated, "deactivate with If-Match")
    guard case .preconditionFailed = try await client.reactivateUser(
        path: .init(id: user.id), headers: .init(ifMatch: #""5""#))
    else { throw CheckFailed(description: "user-client-check: FAILED: reactivate with a stale If-Match is 412") }
    checks += 1
    guard case .ok(let reactivated) = try await client.reactivateUser(
        path: .init(id: user.id), headers: .init(ifMatch: #""6""#))
    else { throw CheckFailed(description: "user-client-check: FAILED: reactivate with If-Match") }
    try check(try reactivated.body.json.status == .active, "reactivate with If-Match")
    guard case .preconditionFailed = try await client.deleteUser(
        path: .init(id: user.id), headers: .init(ifMatch: #""6""#))
    else { throw CheckFailed(description: "user-client-check: FAILED: DELETE with a stale If-Match is 412") }
    checks += 1
    guard case .noContent = try await client.deleteUser(path: .init(id: user.id), headers: .init(ifMatch: #""7""#))
    else { throw CheckFailed(description: "user-client-check: FAILED: DELETE with If-Match") }
    checks += 1
    guard case .notFound = try await client.getUser(path: .init(id: user.id)) else {
        throw CheckFailed(description: "user-client-check: FAILED: the deleted user is 404")
    }
    checks += 1
    print("user-client-check: \(checks) checks passed")
    print("\(user.id) \(email) \(key)")
    return checks
}

do {
    _ = try await runOperationChecks(base: base, token: token)
    _ = try await runChecks(client)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
