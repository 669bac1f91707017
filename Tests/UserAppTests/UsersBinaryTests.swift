import Foundation
import Testing
import UserPortsTesting

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs the built `users` binary like a person would.
// Serialized: Foundation.Process launched and waited for from many threads at once was seen to leave a child
// unreaped and its waitUntilExit() hanging.
@Suite("users binary", .plainPassOnly, .serialized)
struct UsersBinaryTests {
    @Test("serve on a SQLite file, register, SIGTERM, serve again, read the user back")
    func serveStopServe() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: ProcessHarness.binary().path))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-bin-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = "sqlite:" + directory.appendingPathComponent("users.sqlite").path
        let port = try ProcessHarness.freePort()
        let base = "http://127.0.0.1:\(port)"

        var server = try ProcessHarness.start(["serve", "--store", store, "--port", String(port)])
        try await ProcessHarness.waitUntilLive(base)
        let (status, data) = try await ProcessHarness.request(
            "POST", base + "/users", body: #"{"email":"Ada@Example.com","displayName":"Ada"}"#)
        #expect(status == 201)
        let id = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["id"] as? String)
        let (metricsStatus, metrics) = try await ProcessHarness.request("GET", base + "/metrics")
        #expect(metricsStatus == 200)
        #expect(
            String(decoding: metrics, as: UTF8.self).contains(
                #"hb_requests{http_route="/users",http_request_method="POST",http_response_status_code="201"} 1"#),
            "swift-metrics counts requests into the Prometheus registry")
        await ProcessHarness.stop(server)
        #expect(server.terminationStatus == 0, "serve exits cleanly on SIGTERM")

        server = try ProcessHarness.start(["serve", "--store", store, "--port", String(port)])
        try await ProcessHarness.waitUntilLive(base)
        let (again, body) = try await ProcessHarness.request("GET", base + "/users/\(id)")
        #expect(again == 200)
        #expect(
            (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["email"] as? String == "Ada@Example.com")
        await ProcessHarness.stop(server)
        #expect(server.terminationStatus == 0)
    }

    @Test("serve applies users.http.idleTimeoutMs: a connection that sends nothing is closed")
    func serveClosesIdleConnections() async throws {
        let port = try ProcessHarness.freePort()
        let server = try ProcessHarness.start(
            ["serve", "--store", "memory:", "--port", String(port)], environment: ["USERS_HTTP_IDLE_TIMEOUT_MS": "300"])
        try await ProcessHarness.waitUntilLive("http://127.0.0.1:\(port)")
        let fd = try #require(ProcessHarness.connectLoopback(port))
        defer { close(fd) }
        // A receive timeout far above the idle timeout: recv returns 0 (closed) long before it, or -1 after it.
        var wait = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        let started = ContinuousClock.now
        let received = await Task.detached {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0)
        }.value
        #expect(received == 0, "the server closed the idle connection")
        #expect(ContinuousClock.now - started < .seconds(10))
        await ProcessHarness.stop(server)
        #expect(server.terminationStatus == 0)
    }

    @Test("users directory serve is the directory service's command, as users-directory serve is")
    func directoryAlias() async throws {
        let (status, help, _) = try await ProcessHarness.run(["directory", "serve", "--help"])
        #expect(status == 0)
        #expect(help.contains("--source") && help.contains("DIRECTORY_SOURCE"))
        let (own, ownHelp, _) = try await ProcessHarness.run(["serve", "--help"], executable: "users-directory")
        #expect(own == 0)
        #expect(ownHelp.contains("--source"))
    }

    @Test("a bad store URL is a clear error and a non-zero exit, with the password hidden")
    func badStore() async throws {
        let (status, _, errors) = try await ProcessHarness.run(["migrate", "--store", "mysql://root:hunter2@db/users"])
        #expect(status != 0)
        #expect(errors.contains("memory:, sqlite:PATH or postgres://"))
        #expect(!errors.contains("hunter2"))
    }

    @Test("user commands work on the store directly and exit with codes that tell outcomes apart")
    func userCommands() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-cli-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = ["--store", "sqlite:" + directory.appendingPathComponent("users.sqlite").path]
        let (registered, json, _) = try await ProcessHarness.run(
            ["register", "--email", "Ada@Example.com", "--name", "Ada", "--json"] + store)
        #expect(registered == 0)
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["id"] as? String)
        #expect(try await ProcessHarness.run(["register", "--email", "ada@example.com", "--name", "Dup"] + store).0 == 4)
        #expect(try await ProcessHarness.run(["register", "--email", "no-at-sign", "--name", "Bad"] + store).0 == 65)
        #expect(try await ProcessHarness.run(["find", "--email", "ADA@EXAMPLE.COM"] + store).1.contains(id))
        #expect(try await ProcessHarness.run(["find", "--email", "nobody@example.com"] + store).0 == 3)
        #expect(try await ProcessHarness.run(["rename", id, "--name", "Countess", "--expect-version", "1"] + store).0 == 0)
        #expect(try await ProcessHarness.run(["rename", id, "--name", "Stale", "--expect-version", "1"] + store).0 == 4)
        #expect(try await ProcessHarness.run(["deactivate", id] + store).0 == 0)
        #expect(try await ProcessHarness.run(["change-email", id, "--email", "x@example.com"] + store).0 == 4)
        #expect(try await ProcessHarness.run(["export"] + store).1.split(separator: "\n").count == 1)
        #expect(try await ProcessHarness.run(["delete", id] + store).0 == 0)
        #expect(try await ProcessHarness.run(["get", id] + store).0 == 3)
        #expect(try await ProcessHarness.run(["get", "not-a-uuid"] + store).0 == 64)
        #expect(try await ProcessHarness.run(["list", "--cursor", "not-a-cursor"] + store).0 == 65, "refused input, as --limit")
    }

    @Test("import registers a file in batches, reports each rejected line, and is safe to rerun; export round-trips")
    func importFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-import-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = ["--store", "sqlite:" + directory.appendingPathComponent("users.sqlite").path]
        var lines = (0..<25).map { #"{"email":"user\#($0)@example.com","displayName":"User \#($0)"}"# }
        lines[3] = #"{"email":"no-at-sign","displayName":"Bad"}"#
        lines[10] = "not json"
        lines[20] = #"{"email":"USER1@example.com","displayName":"Duplicate"}"#
        let file = directory.appendingPathComponent("users.jsonl")
        try Data(lines.joined(separator: "\n").utf8).write(to: file)

        let (first, _, errors) = try await ProcessHarness.run(["import", file.path, "--batch-size", "7"] + store)
        #expect(first == 65, "some lines were invalid")
        #expect(errors.contains("line 4: rejected:"))
        #expect(errors.contains("line 11: rejected: The line is not a JSON object."))
        #expect(errors.contains("line 21: already present:"))
        #expect(errors.contains("imported 22 users, 1 already present, 2 rejected (25 records)"))

        let (second, report, _) = try await ProcessHarness.run(["import", file.path, "--json"] + store)
        #expect(second == 65)
        let rejections = report.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rejections.count == 25)
        #expect(rejections.filter { $0["code"] as? String == "email-taken" }.count == 23)
        #expect(rejections.compactMap { $0["line"] as? Int } == Array(1...25))

        let (exported, users, _) = try await ProcessHarness.run(["export"] + store)
        #expect(exported == 0)
        #expect(users.split(separator: "\n").count == 22)
        let copy = directory.appendingPathComponent("export.jsonl")
        try Data(users.utf8).write(to: copy)
        let other = ["--store", "sqlite:" + directory.appendingPathComponent("copy.sqlite").path]
        let (copied, _, copyErrors) = try await ProcessHarness.run(["import", copy.path] + other)
        #expect(copied == 0, "an export imports cleanly")
        #expect(copyErrors.contains("imported 22 users, 0 already present, 0 rejected (22 records)"))
        #expect(try await ProcessHarness.run(["import", directory.appendingPathComponent("missing.csv").path] + other).0 == 66)
    }

    @Test("events and projections commands; serve keeps the directory and honours Consistency-Token")
    func eventsAndDirectory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-events-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("users.sqlite").path
        let store = ["--store", "sqlite:" + path]
        #expect(try await ProcessHarness.run(["register", "--email", "ada@example.com", "--name", "Ada"] + store).0 == 0)
        #expect(try await ProcessHarness.run(["register", "--email", "bob@example.com", "--name", "Bob"] + store).0 == 0)
        let (_, status, _) = try await ProcessHarness.run(["events", "status", "--json"] + store)
        let statusObject = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
        #expect(statusObject["pending"] as? Int == 2, "no relay ran: both events wait in the outbox")
        #expect(statusObject["dead"] as? Int == 0)
        let (tailed, tail, _) = try await ProcessHarness.run(["events", "tail", "--no-follow"] + store)
        #expect(tailed == 0)
        let lines = tail.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.map { $0["position"] as? Int } == [1, 2])
        #expect(
            lines.compactMap { ($0["event"] as? [String: Any])?["type"] as? String } == [
                "user.registered", "user.registered",
            ])
        #expect(
            try await ProcessHarness.run(["events", "tail", "--no-follow", "--after", "1"] + store).1.split(separator: "\n").count == 1)
        #expect(try await ProcessHarness.run(["events", "dead"] + store).1.isEmpty)
        #expect(try await ProcessHarness.run(["events", "retry", "--all"] + store).1.contains("0 dead events"))
        #expect(try await ProcessHarness.run(["events", "retry"] + store).0 == 64, "positions or --all")
        let (rebuilt, rebuild, _) = try await ProcessHarness.run(["projections", "rebuild"] + store)
        #expect(rebuilt == 0)
        #expect(rebuild.contains("from 2 events: 2 active, 0 deactivated"))

        let port = try ProcessHarness.freePort()
        let base = "http://127.0.0.1:\(port)"
        let server = try ProcessHarness.start(["serve", "--port", String(port)] + store)
        try await ProcessHarness.waitUntilLive(base)
        var request = URLRequest(url: URL(string: base + "/users")!)
        request.httpMethod = "POST"
        request.httpBody = Data(#"{"email":"Carol@Example.com","displayName":"Carol"}"#.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (_, response) = try await URLSession.shared.data(for: request)
        let token = try #require((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Consistency-Token"))
        var search = URLRequest(url: URL(string: base + "/directory/users?prefix=carol")!)
        search.setValue(token, forHTTPHeaderField: "Consistency-Token")
        let (body, searched) = try await URLSession.shared.data(for: search)
        #expect((searched as? HTTPURLResponse)?.statusCode == 200)
        let items = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["items"] as? [[String: Any]]
        #expect(items?.map { $0["email"] as? String } == ["Carol@Example.com"], "the projection in serve caught up")
        let (_, stats) = try await ProcessHarness.request("GET", base + "/directory/stats")
        #expect((try JSONSerialization.jsonObject(with: stats) as? [String: Any])?["total"] as? Int == 3)
        await ProcessHarness.stop(server)
        #expect(server.terminationStatus == 0)
    }
}
