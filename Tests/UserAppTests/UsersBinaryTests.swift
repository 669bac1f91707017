import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs the built `users` binary like a person would.
@Suite("users binary")
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

    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func request(_ method: String, _ url: String, body: String? = nil) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    static func waitUntilLive(_ base: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
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

    @Test("a bad store URL is a clear error and a non-zero exit, with the password hidden")
    func badStore() throws {
        let (status, _, errors) = try Self.run(["migrate", "--store", "mysql://root:hunter2@db/users"])
        #expect(status != 0)
        #expect(errors.contains("memory:, sqlite:PATH or postgres://"))
        #expect(!errors.contains("hunter2"))
    }

    /// Runs `users ARGUMENTS` to completion; returns the exit status, stdout and stderr.
    static func run(_ arguments: [String]) throws -> (Int32, String, String) {
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
    func userCommands() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-cli-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = ["--store", "sqlite:" + directory.appendingPathComponent("users.sqlite").path]
        let (registered, json, _) = try Self.run(
            ["register", "--email", "Ada@Example.com", "--name", "Ada", "--json"] + store)
        #expect(registered == 0)
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["id"] as? String)
        #expect(try Self.run(["register", "--email", "ada@example.com", "--name", "Dup"] + store).0 == 4)
        #expect(try Self.run(["register", "--email", "no-at-sign", "--name", "Bad"] + store).0 == 65)
        #expect(try Self.run(["find", "--email", "ADA@EXAMPLE.COM"] + store).1.contains(id))
        #expect(try Self.run(["find", "--email", "nobody@example.com"] + store).0 == 3)
        #expect(try Self.run(["rename", id, "--name", "Countess", "--expect-version", "1"] + store).0 == 0)
        #expect(try Self.run(["rename", id, "--name", "Stale", "--expect-version", "1"] + store).0 == 4)
        #expect(try Self.run(["deactivate", id] + store).0 == 0)
        #expect(try Self.run(["change-email", id, "--email", "x@example.com"] + store).0 == 4)
        #expect(try Self.run(["export"] + store).1.split(separator: "\n").count == 1)
        #expect(try Self.run(["delete", id] + store).0 == 0)
        #expect(try Self.run(["get", id] + store).0 == 3)
        #expect(try Self.run(["get", "not-a-uuid"] + store).0 == 64)
    }
}
