import Foundation

/// The test Redis of the package's tests (scripts/redis-test-server.sh, which the test command starts): its URL,
/// `redis-cli` against it, and servers of their own for tests that kill or reconfigure one. Unset: the tests fail,
/// never skip.
package enum TestRedis {
    package static var baseURL: String {
        get throws {
            guard let value = ProcessInfo.processInfo.environment["USERS_TEST_REDIS_URL"], !value.isEmpty else {
                throw NotConfigured()
            }
            return value
        }
    }

    package struct NotConfigured: Error, CustomStringConvertible {
        package var description: String { "USERS_TEST_REDIS_URL is not set: eval \"$(scripts/redis-test-server.sh start)\"." }
    }

    /// A prefix no other test uses.
    package static func uniquePrefix() -> String { "t.\(UUID().uuidString.prefix(8).lowercased()):" }

    /// The test server's URL with a key prefix.
    package static func url(prefix: String, base: String? = nil) throws -> String {
        "\(try base ?? baseURL)?prefix=\(prefix)"
    }

    /// Runs a command through redis-cli on the server of `url` (the test server by default); its output.
    @discardableResult
    package static func cli(_ arguments: [String], url: String? = nil) async throws -> String {
        guard let components = URLComponents(string: try url ?? baseURL), let port = components.port else {
            throw NotConfigured()
        }
        return try await run(
            "redis-cli",
            ["-h", "127.0.0.1", "-p", String(port), "-a", components.password ?? "", "--no-auth-warning"] + arguments)
    }

    /// A server of its own, for tests that kill, restart or reconfigure it.
    package struct Server {
        package let url: String
        package let directory: String
        private let control: String

        package static func start(persistent: Bool = false) async throws -> Server {
            guard let control = ProcessInfo.processInfo.environment["USERS_TEST_REDIS_CTL"] else { throw NotConfigured() }
            let output = try await run(control, persistent ? ["start", "persistent"] : ["start"])
            func value(_ name: String) throws -> String {
                guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("export \(name)=") }) else {
                    throw Failed(command: control, status: 0)
                }
                return String(line.dropFirst("export \(name)=".count)).trimmingCharacters(in: ["'"])
            }
            return Server(url: try value("USERS_TEST_REDIS_URL"), directory: try value("USERS_TEST_REDIS_DIR"), control: control)
        }

        /// SIGKILL, as a crash.
        package func kill() async throws { try await run(control, ["kill", directory]) }
        /// Starts it again on its port, folder and options.
        package func restart() async throws { try await run(control, ["restart", directory]) }

        package func stop() {
            _ = try? ProcessHarness.runBlocking(["stop", directory], at: URL(fileURLWithPath: control))
        }
    }

    @discardableResult
    package static func run(_ command: String, _ arguments: [String]) async throws -> String {
        try await ProcessHarness.offPool {
            let (status, output, _) = try ProcessHarness.runBlocking(
                [command] + arguments, at: URL(fileURLWithPath: "/usr/bin/env"))
            guard status == 0 else { throw Failed(command: command, status: status) }
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    package struct Failed: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        package var description: String { "\(command) exited with \(status)" }
    }
}
