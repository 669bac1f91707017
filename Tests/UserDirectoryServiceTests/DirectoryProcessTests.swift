import Foundation
import Testing
import UserDirectoryService
import UserDomain
import UserPorts
import UserPortsTesting

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `users-directory serve` as a process: started, SIGKILLed mid-stream, restarted on the same database.
@Suite("users-directory serve", .plainPassOnly, .serialized)
struct DirectoryProcessTests {
    /// The directory the service answers, in `SourceService.directory()`'s form.
    static func directory(_ base: String) async throws -> [String]? {
        guard let (status, data) = try? await ProcessHarness.request("GET", base + "/directory/users?limit=100"),
            status == 200
        else { return nil }
        struct Page: Decodable {
            struct Item: Decodable {
                var id: String, email: String, displayName: String, status: String, version: Int
            }
            var items: [Item]
        }
        return try JSONDecoder().decode(Page.self, from: data).items.map {
            "\($0.id) \($0.email) \($0.displayName) \($0.status) v\($0.version)"
        }.sorted()
    }

    static func ready(_ base: String) async -> Bool {
        (try? await ProcessHarness.request("GET", base + "/health/ready"))?.0 == 200
    }

    static func killHard(_ process: ChildProcess) async {
        kill(process.processIdentifier, SIGKILL)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
    }

    /// Registers and renames `count` users, then publishes the events not published yet.
    static func writeAndPublish(_ source: SourceService, _ published: Locked<Int>, _ count: Int, _ tag: String)
        async throws
    {
        for index in 0..<count {
            let user = try await source.users.register(email: "\(tag)\(index)@example.com", displayName: "\(tag) \(index)")
            _ = try await source.users.rename(user.id, to: "\(tag) \(index) renamed")
        }
        let events = try await source.allEvents()
        try await source.publish(Array(events.dropFirst(published.withLock { $0 })))
        published.withLock { $0 = events.count }
    }

    @Test("SIGKILLed mid-stream and restarted on its database: converges, every event applied once")
    func killedMidStream() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("directory-proc-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = try SourceService(exchange: FollowerBroker.unique("dir"), token: "events-token-7")
        let queue = FollowerBroker.unique("q")
        let port = try ProcessHarness.freePort()
        let base = "http://127.0.0.1:\(port)"
        try await withService(source.application()) {
            try await withService(source.publisher) {
                try #require(try await source.waitUntilServing())
                let arguments = [
                    "serve", "--source", try FollowerBroker.url, "--exchange", source.exchange,
                    "--queue", queue, "--events", source.baseURL.absoluteString,
                    "--store", "sqlite:" + folder.appendingPathComponent("directory.sqlite").path,
                    "--port", String(port),
                ]
                let environment = ["DIRECTORY_EVENTS_TOKEN": "events-token-7"]
                // A failed expectation must not leave the process running.
                let running = Locked<Int32?>(nil)
                defer { if let pid = running.withLock({ $0 }) { kill(pid, SIGKILL) } }
                let published = Locked(0)
                try await Self.writeAndPublish(source, published, 20, "before")
                var server = try ProcessHarness.start(arguments, environment: environment, executable: "users-directory")
                running.withLock { $0 = server.processIdentifier }
                try #require(try await Patience.waitUntil(pollingEvery: .milliseconds(50)) { await Self.ready(base) })
                // Mid-stream: a stream of events published while the process is killed.
                let streamEnded = Locked(false)
                let stream = Task {
                    defer { streamEnded.withLock { $0 = true } }
                    try await Self.writeAndPublish(source, published, 50, "during")
                }
                // Until the directory is mid-stream, or the stream ended (then its error, if any, is thrown below).
                _ = try await Patience.waitUntil(pollingEvery: .milliseconds(5)) {
                    if streamEnded.withLock({ $0 }) { return true }
                    return (try await Self.directory(base)?.count ?? 0) > 30
                }
                await Self.killHard(server)
                running.withLock { $0 = nil }
                try await stream.value
                try await Self.writeAndPublish(source, published, 10, "after")
                server = try ProcessHarness.start(arguments, environment: environment, executable: "users-directory")
                running.withLock { $0 = server.processIdentifier }
                let converged = try await Patience.waitUntil(pollingEvery: .milliseconds(50)) {
                    try await Self.directory(base) == source.directory()
                }
                await ProcessHarness.stop(server)
                running.withLock { $0 = nil }
                try #require(converged, "the restarted directory shows the source's users at their versions")
            }
        }
    }
    /// Runs `body` with the URL of a fresh schema of the test PostgreSQL server (first on the search path),
    /// dropped afterwards; made with psql, which comes with the server `scripts/test.sh` starts.
    static func withFreshPostgresSchema<T>(_ body: (String) async throws -> T) async throws -> T {
        guard let base = ProcessInfo.processInfo.environment["USERS_TEST_POSTGRES_URL"], !base.isEmpty else {
            throw PostgresSchemaError.notConfigured
        }
        func psql(_ sql: String) throws {
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["psql", base, "-qc", sql]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw PostgresSchemaError.psqlFailed(sql) }
        }
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try psql("CREATE SCHEMA \(schema)")
        defer { try? psql("DROP SCHEMA \(schema) CASCADE") }
        return try await body(base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)")
    }

    @Test(
        "end to end across processes: a POST /users on users serve appears in users-directory serve",
        arguments: ["sqlite", "postgres", "redis"])
    func acrossProcesses(_ replica: String) async throws {
        if replica == "postgres" {
            try await Self.withFreshPostgresSchema { url in try await acrossProcesses(replicaStore: url) }
        } else if replica == "redis" {
            try await acrossProcesses(replicaStore: try TestRedis.url(prefix: TestRedis.uniquePrefix()))
        } else {
            try await acrossProcesses(replicaStore: nil)
        }
    }

    /// The end-to-end run, the directory's replica at `replicaStore` (a SQLite file when `nil`).
    func acrossProcesses(replicaStore: String?) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("directory-e2e-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let exchange = FollowerBroker.unique("e2e")
        let (usersPort, directoryPort) = (try ProcessHarness.freePort(), try ProcessHarness.freePort())
        let (users, directory) = ("http://127.0.0.1:\(usersPort)", "http://127.0.0.1:\(directoryPort)")
        let service = try ProcessHarness.start(
            [
                "serve", "--store", "sqlite:" + folder.appendingPathComponent("users.sqlite").path,
                "--publisher", try FollowerBroker.url, "--port", String(usersPort),
            ], environment: ["USERS_AMQP_EXCHANGE": exchange])
        let follower = try ProcessHarness.start([
            "serve", "--source", try FollowerBroker.url, "--exchange", exchange,
            "--queue", FollowerBroker.unique("q"), "--events", users,
            "--store", replicaStore ?? "sqlite:" + folder.appendingPathComponent("directory.sqlite").path,
            "--port", String(directoryPort),
        ], executable: "users-directory")
        let ready = try await Patience.waitUntil(pollingEvery: .milliseconds(50)) { await Self.ready(directory) }
        let (status, _, token) = try await ProcessHarness.exchange(
            "POST", users + "/users", body: #"{"email":"ada@example.com","displayName":"Ada Lovelace"}"#)
        // Read-your-writes across the services: the write's token, sent at once to the directory service,
        // is honoured (it waits for the event to come through the broker), never answered from before it.
        let (readStatus, read, _) = try await ProcessHarness.exchange(
            "GET", directory + "/directory/users?prefix=ada", headers: ["Consistency-Token": token ?? ""])
        let arrived = try await Patience.waitUntil(pollingEvery: .milliseconds(50)) {
            try await Self.directory(directory)?.contains { $0.contains("ada@example.com Ada Lovelace active v1") }
                ?? false
        }
        // Its figures, for a scraper: what it applied, where it stands, its consumer's state.
        let (metricsStatus, metrics) = try await ProcessHarness.request("GET", directory + "/metrics")
        let exposition = String(decoding: metrics, as: UTF8.self)
        await ProcessHarness.stop(follower)
        await ProcessHarness.stop(service)
        #expect(ready)
        #expect(status == 201)
        #expect(token != nil, "the write's Consistency-Token")
        #expect(readStatus == 200, "the token honoured by the directory service")
        #expect(String(decoding: read, as: UTF8.self).contains("Ada Lovelace"), "the read includes the write")
        #expect(arrived, "the registration reached the directory service")
        #expect(metricsStatus == 200)
        for name in [
            "users_directory_applied_total", "users_directory_position", "users_directory_lag_seconds",
            "users_rabbitmq_consumer_state",
        ] {
            #expect(exposition.contains(name), "\(name) in /metrics")
        }
    }

    @Test("refusals retrying can't fix exit 78 at start (broker login, events token), secrets unprinted; a token's newline is trimmed")
    func permanentRefusalsAtStart() async throws {
        let broker = try FollowerBroker.url
        guard let at = broker.lastIndex(of: "@"), let colon = broker[..<at].lastIndex(of: ":") else {
            Issue.record("USERS_TEST_AMQP_URL has no user:password@")
            return
        }
        let secret = "Wr0ng-\(UUID().uuidString.prefix(6))"
        let wrongBroker = String(broker[...colon]) + secret + String(broker[at...])
        let usersPort = try ProcessHarness.freePort()
        let users = "http://127.0.0.1:\(usersPort)"
        let token = "events-token-\(UUID().uuidString.prefix(8))"
        let service = try ProcessHarness.start(
            ["serve", "--store", "memory:", "--port", String(usersPort)], environment: ["USERS_API_TOKENS": token])
        defer { if service.isRunning { service.terminate() } }
        try await ProcessHarness.waitUntilLive(users)
        func directory(source: String, token: String) -> [String] {
            [
                "serve", "--source", source, "--exchange", FollowerBroker.unique("x"),
                "--queue", FollowerBroker.unique("q"), "--events", users, "--store", "memory:", "--port", "0",
            ]
        }
        // The broker refuses the login.
        let (loginStatus, loginOutput) = try await ProcessHarness.run(
            directory(source: wrongBroker, token: token), environment: ["DIRECTORY_EVENTS_TOKEN": token],
            executable: "users-directory")
        #expect(loginStatus == 78, "\(loginOutput)")
        #expect(loginOutput.contains("Retrying won't help"), "\(loginOutput)")
        #expect(!loginOutput.contains(secret))
        // The user service refuses the token (401).
        let wrongToken = "not-\(token)"
        let (tokenStatus, tokenOutput) = try await ProcessHarness.run(
            directory(source: broker, token: wrongToken), environment: ["DIRECTORY_EVENTS_TOKEN": wrongToken],
            executable: "users-directory")
        #expect(tokenStatus == 78, "\(tokenOutput)")
        #expect(tokenOutput.contains("401"), "\(tokenOutput)")
        #expect(!tokenOutput.contains(wrongToken))
        // The right token with a trailing newline (as read from a file): trimmed, the directory becomes ready.
        let port = try ProcessHarness.freePort()
        var arguments = directory(source: broker, token: token)
        arguments[arguments.count - 1] = String(port)
        let follower = try ProcessHarness.start(
            arguments, environment: ["DIRECTORY_EVENTS_TOKEN": token + "\n"], executable: "users-directory")
        defer { if follower.isRunning { follower.terminate() } }
        let ready = try await Patience.waitUntil(pollingEvery: .milliseconds(50)) {
            await Self.ready("http://127.0.0.1:\(port)")
        }
        #expect(ready, "a token with a trailing newline was not trimmed")
        await ProcessHarness.stop(follower)
        await ProcessHarness.stop(service)
    }

    @Test("a broker that can't be reached at start: the directory keeps trying, and /health/ready names the broker")
    func unreachableBrokerNamedByReadiness() async throws {
        let port = try ProcessHarness.freePort()
        let base = "http://127.0.0.1:\(port)"
        let follower = try ProcessHarness.start([
            "serve", "--source", "amqp://app:secret@127.0.0.1:1/v", "--events", "http://127.0.0.1:1",
            "--store", "memory:", "--port", String(port),
        ], executable: "users-directory")
        defer { if follower.isRunning { follower.terminate() } }
        try await ProcessHarness.waitUntilLive(base)
        let (status, body) = try await ProcessHarness.request("GET", base + "/health/ready")
        #expect(status == 503)
        let detail = String(decoding: body, as: UTF8.self)
        #expect(detail.contains("broker consumer is not connected"), "\(detail)")
        #expect(!detail.contains("secret"))
        await ProcessHarness.stop(follower)
        #expect(follower.terminationStatus == 0)
    }

    @Test("--config: the file's HTTP limits are applied (an idle connection is closed at its idleTimeoutMs)")
    func configFile() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("directory-config-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try ProcessHarness.freePort()
        let file = folder.appendingPathComponent("directory.json").path
        try #"{"directory": {"store": "memory:", "events": "http://127.0.0.1:1", "http": {"idleTimeoutMs": 300}}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let follower = try ProcessHarness.start(
            ["serve", "--config", file, "--port", String(port), "--queue", FollowerBroker.unique("q"),
             "--exchange", FollowerBroker.unique("cfg")],
            environment: ["DIRECTORY_SOURCE": try FollowerBroker.url], executable: "users-directory")
        try await ProcessHarness.waitUntilLive("http://127.0.0.1:\(port)")
        let fd = try #require(ProcessHarness.connectLoopback(port))
        defer { close(fd) }
        // A receive timeout far above the idle timeout: recv returns 0 (closed) long before it, or -1 after it.
        var wait = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        let received = await Task.detached {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0)
        }.value
        await ProcessHarness.stop(follower)
        #expect(received == 0, "the directory service closed the idle connection")
    }
}

/// Why a fresh PostgreSQL schema could not be made for a process test.
enum PostgresSchemaError: Error, CustomStringConvertible {
    case notConfigured
    case psqlFailed(String)

    var description: String {
        switch self {
        case .notConfigured: "USERS_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh."
        case .psqlFailed(let sql): "psql failed to run \(sql)"
        }
    }
}
