import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs the built `users` binary like a person would.
// Serialized: Foundation.Process launched and waited for from many threads at once was seen to leave a child
// unreaped and its waitUntilExit() hanging.
@Suite("users binary", .plainPassOnly, .serialized)
struct UsersBinaryTests {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("users")
    }

    /// A port that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A TCP connection to 127.0.0.1:`port`: its descriptor (the caller closes it), or `nil` when nothing accepts.
    static func connectLoopback(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        if connected { return fd }
        close(fd)
        return nil
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func request(_ method: String, _ url: String, body: String? = nil) async throws -> (Int, Data) {
        let (status, data, _) = try await exchange(method, url, body: body)
        return (status, data)
    }

    /// A request with headers; the response's status, body and `Consistency-Token`.
    static func exchange(_ method: String, _ url: String, body: String? = nil, headers: [String: String] = [:])
        async throws -> (Int, Data, consistencyToken: String?)
    {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, data, http?.value(forHTTPHeaderField: "Consistency-Token"))
    }

    static func waitUntilLive(_ base: String) async throws {
        // Until it answers; the five minutes are a safety net against a hang, not a deadline.
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            if let (status, _) = try? await request("GET", base + "/health/live"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("users serve did not come up at \(base)")
    }

    static func stop(_ process: Process) async {
        kill(process.processIdentifier, SIGTERM)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
    }

    @Test("serve on a SQLite file, register, SIGTERM, serve again, read the user back")
    func serveStopServe() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-bin-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = "sqlite:" + directory.appendingPathComponent("users.sqlite").path
        let port = try Self.freePort()
        let base = "http://127.0.0.1:\(port)"

        var server = try Self.start(["serve", "--store", store, "--port", String(port)])
        try await Self.waitUntilLive(base)
        let (status, data) = try await Self.request(
            "POST", base + "/users", body: #"{"email":"Ada@Example.com","displayName":"Ada"}"#)
        #expect(status == 201)
        let id = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["id"] as? String)
        let (metricsStatus, metrics) = try await Self.request("GET", base + "/metrics")
        #expect(metricsStatus == 200)
        #expect(
            String(decoding: metrics, as: UTF8.self).contains(
                #"hb_requests{http_route="/users",http_request_method="POST",http_response_status_code="201"} 1"#),
            "swift-metrics counts requests into the Prometheus registry")
        await Self.stop(server)
        #expect(server.terminationStatus == 0, "serve exits cleanly on SIGTERM")

        server = try Self.start(["serve", "--store", store, "--port", String(port)])
        try await Self.waitUntilLive(base)
        let (again, body) = try await Self.request("GET", base + "/users/\(id)")
        #expect(again == 200)
        #expect(
            (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["email"] as? String == "Ada@Example.com")
        await Self.stop(server)
        #expect(server.terminationStatus == 0)
    }

    @Test("serve applies users.http.idleTimeoutMs: a connection that sends nothing is closed")
    func serveClosesIdleConnections() async throws {
        let port = try Self.freePort()
        let server = try Self.start(
            ["serve", "--store", "memory:", "--port", String(port)], environment: ["USERS_HTTP_IDLE_TIMEOUT_MS": "300"])
        try await Self.waitUntilLive("http://127.0.0.1:\(port)")
        let fd = try #require(Self.connectLoopback(port))
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
        await Self.stop(server)
        #expect(server.terminationStatus == 0)
    }

    @Test("a bad store URL is a clear error and a non-zero exit, with the password hidden")
    func badStore() async throws {
        let (status, _, errors) = try await Self.run(["migrate", "--store", "mysql://root:hunter2@db/users"])
        #expect(status != 0)
        #expect(errors.contains("memory:, sqlite:PATH or postgres://"))
        #expect(!errors.contains("hunter2"))
    }

    /// Runs `users ARGUMENTS` to completion; returns the exit status, stdout and stderr. The wait runs on a
    /// Dispatch thread: blocking the cooperative pool (two threads on two cores) would stall every other test
    /// of the process meanwhile.
    static func run(_ arguments: [String]) async throws -> (Int32, String, String) {
        try await offPool { try runBlocking(arguments) }
    }

    /// Runs `body` on a Dispatch thread and returns its result.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    static func runBlocking(_ arguments: [String]) throws -> (Int32, String, String) {
        let directory = FileManager.default.temporaryDirectory
        let errorsFile = directory.appendingPathComponent("users-stderr-\(UUID())")
        _ = FileManager.default.createFile(atPath: errorsFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorsFile) }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorsFile)
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let errors = (try? String(contentsOf: errorsFile, encoding: .utf8)) ?? ""
        return (process.terminationStatus, text, errors)
    }

    @Test("user commands work on the store directly and exit with codes that tell outcomes apart")
    func userCommands() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-cli-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = ["--store", "sqlite:" + directory.appendingPathComponent("users.sqlite").path]
        let (registered, json, _) = try await Self.run(
            ["register", "--email", "Ada@Example.com", "--name", "Ada", "--json"] + store)
        #expect(registered == 0)
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["id"] as? String)
        #expect(try await Self.run(["register", "--email", "ada@example.com", "--name", "Dup"] + store).0 == 4)
        #expect(try await Self.run(["register", "--email", "no-at-sign", "--name", "Bad"] + store).0 == 65)
        #expect(try await Self.run(["find", "--email", "ADA@EXAMPLE.COM"] + store).1.contains(id))
        #expect(try await Self.run(["find", "--email", "nobody@example.com"] + store).0 == 3)
        #expect(try await Self.run(["rename", id, "--name", "Countess", "--expect-version", "1"] + store).0 == 0)
        #expect(try await Self.run(["rename", id, "--name", "Stale", "--expect-version", "1"] + store).0 == 4)
        #expect(try await Self.run(["deactivate", id] + store).0 == 0)
        #expect(try await Self.run(["change-email", id, "--email", "x@example.com"] + store).0 == 4)
        #expect(try await Self.run(["export"] + store).1.split(separator: "\n").count == 1)
        #expect(try await Self.run(["delete", id] + store).0 == 0)
        #expect(try await Self.run(["get", id] + store).0 == 3)
        #expect(try await Self.run(["get", "not-a-uuid"] + store).0 == 64)
        #expect(try await Self.run(["list", "--cursor", "not-a-cursor"] + store).0 == 65, "refused input, as --limit")
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

        let (first, _, errors) = try await Self.run(["import", file.path, "--batch-size", "7"] + store)
        #expect(first == 65, "some lines were invalid")
        #expect(errors.contains("line 4: rejected:"))
        #expect(errors.contains("line 11: rejected: The line is not a JSON object."))
        #expect(errors.contains("line 21: already present:"))
        #expect(errors.contains("imported 22 users, 1 already present, 2 rejected (25 records)"))

        let (second, report, _) = try await Self.run(["import", file.path, "--json"] + store)
        #expect(second == 65)
        let rejections = report.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rejections.count == 25)
        #expect(rejections.filter { $0["code"] as? String == "email-taken" }.count == 23)
        #expect(rejections.compactMap { $0["line"] as? Int } == Array(1...25))

        let (exported, users, _) = try await Self.run(["export"] + store)
        #expect(exported == 0)
        #expect(users.split(separator: "\n").count == 22)
        let copy = directory.appendingPathComponent("export.jsonl")
        try Data(users.utf8).write(to: copy)
        let other = ["--store", "sqlite:" + directory.appendingPathComponent("copy.sqlite").path]
        let (copied, _, copyErrors) = try await Self.run(["import", copy.path] + other)
        #expect(copied == 0, "an export imports cleanly")
        #expect(copyErrors.contains("imported 22 users, 0 already present, 0 rejected (22 records)"))
        #expect(try await Self.run(["import", directory.appendingPathComponent("missing.csv").path] + other).0 == 66)
    }

    @Test("events and projections commands; serve keeps the directory and honours Consistency-Token")
    func eventsAndDirectory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-events-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("users.sqlite").path
        let store = ["--store", "sqlite:" + path]
        #expect(try await Self.run(["register", "--email", "ada@example.com", "--name", "Ada"] + store).0 == 0)
        #expect(try await Self.run(["register", "--email", "bob@example.com", "--name", "Bob"] + store).0 == 0)
        let (_, status, _) = try await Self.run(["events", "status", "--json"] + store)
        let statusObject = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
        #expect(statusObject["pending"] as? Int == 2, "no relay ran: both events wait in the outbox")
        #expect(statusObject["dead"] as? Int == 0)
        let (tailed, tail, _) = try await Self.run(["events", "tail", "--no-follow"] + store)
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
            try await Self.run(["events", "tail", "--no-follow", "--after", "1"] + store).1.split(separator: "\n").count == 1)
        #expect(try await Self.run(["events", "dead"] + store).1.isEmpty)
        #expect(try await Self.run(["events", "retry", "--all"] + store).1.contains("0 dead events"))
        #expect(try await Self.run(["events", "retry"] + store).0 == 64, "positions or --all")
        let (rebuilt, rebuild, _) = try await Self.run(["projections", "rebuild"] + store)
        #expect(rebuilt == 0)
        #expect(rebuild.contains("from 2 events: 2 active, 0 deactivated"))

        let port = try Self.freePort()
        let base = "http://127.0.0.1:\(port)"
        let server = try Self.start(["serve", "--port", String(port)] + store)
        try await Self.waitUntilLive(base)
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
        let (_, stats) = try await Self.request("GET", base + "/directory/stats")
        #expect((try JSONSerialization.jsonObject(with: stats) as? [String: Any])?["total"] as? Int == 3)
        await Self.stop(server)
        #expect(server.terminationStatus == 0)
    }
}
