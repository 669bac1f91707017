package import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Running the package's executables (`users`, `users-directory`) as a person would, for the package's own
/// process tests (package access: not part of the testing library's public API).
package enum ProcessHarness {
    /// A readiness or liveness wait gave up (five minutes: a safety net against a hang, not a deadline).
    package struct NeverCameUp: Error, CustomStringConvertible {
        package let description: String
    }

    /// An executable built beside the running test binary.
    package static func binary(_ name: String = "users") -> URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent(name)
    }

    /// A port that was free a moment ago.
    package static func freePort() throws -> Int {
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
        guard bound else { throw NeverCameUp(description: "no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A TCP connection to 127.0.0.1:`port`: its descriptor (the caller closes it), or `nil` when nothing accepts.
    package static func connectLoopback(_ port: Int) -> Int32? {
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

    /// Starts `executable ARGUMENTS` with `environment` added to this process's, its output discarded.
    package static func start(
        _ arguments: [String], environment: [String: String] = [:], executable: String = "users"
    ) throws -> ChildProcess {
        let process = ChildProcess()
        process.executableURL = binary(executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// A request; the response's status and body.
    package static func request(_ method: String, _ url: String, body: String? = nil) async throws -> (Int, Data) {
        let (status, data, _) = try await exchange(method, url, body: body)
        return (status, data)
    }

    /// A request with headers; the response's status, body and `Consistency-Token`.
    package static func exchange(
        _ method: String, _ url: String, body: String? = nil, headers: [String: String] = [:]
    ) async throws -> (Int, Data, consistencyToken: String?) {
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

    /// Waits until `base`/health/live answers 200.
    package static func waitUntilLive(_ base: String) async throws {
        // Until it answers; the five minutes are a safety net against a hang, not a deadline.
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            if let (status, _) = try? await request("GET", base + "/health/live"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NeverCameUp(description: "the service did not come up at \(base)")
    }

    /// SIGTERM, then waits for the exit (on a Dispatch thread, not the cooperative pool).
    package static func stop(_ process: ChildProcess) async {
        kill(process.processIdentifier, SIGTERM)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
    }

    /// Runs `executable ARGUMENTS` to completion; returns the exit status, stdout and stderr. The wait runs on a
    /// Dispatch thread: blocking the cooperative pool (two threads on two cores) would stall every other test
    /// of the process meanwhile.
    package static func run(_ arguments: [String], executable: String = "users") async throws -> (Int32, String, String) {
        try await offPool { try runBlocking(arguments, executable: executable) }
    }

    /// Runs `body` on a Dispatch thread and returns its result.
    package static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// ``run(_:executable:)`` on the calling thread.
    package static func runBlocking(_ arguments: [String], executable: String = "users") throws -> (Int32, String, String) {
        try runBlocking(arguments, at: binary(executable))
    }

    /// Runs the program at `program` with `arguments` to completion, on the calling thread; returns the exit status,
    /// stdout and stderr.
    package static func runBlocking(_ arguments: [String], at program: URL) throws -> (Int32, String, String) {
        let directory = FileManager.default.temporaryDirectory
        let errorsFile = directory.appendingPathComponent("users-stderr-\(UUID())")
        _ = FileManager.default.createFile(atPath: errorsFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorsFile) }
        let process = ChildProcess()
        process.executableURL = program
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

    /// Runs `executable ARGUMENTS` with `environment` added to this process's, to completion: the exit status and
    /// everything it wrote (stdout and stderr together).
    package static func run(_ arguments: [String], environment: [String: String], executable: String = "users")
        async throws -> (Int32, String)
    {
        try await offPool {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("users-out-\(UUID())")
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: file) }
            let process = ChildProcess()
            process.executableURL = binary(executable)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let handle = try FileHandle(forWritingTo: file)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            process.waitUntilExit()
            return (process.terminationStatus, (try? String(contentsOf: file, encoding: .utf8)) ?? "")
        }
    }
}
