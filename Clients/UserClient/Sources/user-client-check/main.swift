// Every conditional write of the user service through the client generated from its served document:
// `user-client-check BASE_URL [TOKEN]`. Prints the registered user's id, e-mail and idempotency key on its
// last line (for scripts/client-check.sh's cross-check with curl) and exits 1 on the first failed check.
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

struct CheckFailed: Error, CustomStringConvertible {
    let description: String
}


let arguments = CommandLine.arguments
guard arguments.count >= 2, let base = URL(string: arguments[1]) else {
    FileHandle.standardError.write(Data("usage: user-client-check BASE_URL [TOKEN]\n".utf8))
    exit(64)
}
let client = Client.userService(
    serverURL: base, middlewares: arguments.count > 2 ? [BearerToken(token: arguments[2])] : [])

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
    _ = try await runChecks(client)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
