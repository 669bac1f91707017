import Foundation
import Testing
import UserPortsTesting

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `users serve` and the store commands against hostile configuration, run as the built binary.
extension UsersBinaryTests {

    @Test(
        "a store URL's password never reaches a log line or an exit message, however it is spelled",
        arguments: [
            "postgres://u:Zm9v/YmFy+SECRET=@127.0.0.1:1/db", "postgres://u:pa?ss=SECRET@127.0.0.1:1/db",
            "postgres://u@127.0.0.1:1/db?sslpassword=SECRET", "postgres://u@127.0.0.1:1/db?%70assword=SECRET",
            "postgres://u@127.0.0.1:1/db?pass%77ord=SECRET", "postgres://u:SECRET@127.0.0.1:1/db",
        ])
    func storePasswordRedacted(_ url: String) async throws {
        let directory = [
            "directory", "serve", "--port", "0", "--source", "amqp://g:guest@127.0.0.1:1/v", "--events", "http://127.0.0.1:1",
        ]
        for command in [["migrate"], ["list"], ["serve", "--port", "0"], directory] {
            let (status, output) = try await ProcessHarness.run(
                command + ["--store", url], environment: ["USERS_LOG_LEVEL": "trace"])
            #expect(status == 69 || status == 78, "\(command): \(status) \(output)")
            #expect(output.contains("postgres://u"), "the error names the store: \(output)")
            #expect(!output.contains("SECRET"), "\(command): \(output)")
            #expect(!output.contains("Zm9v"), "\(command): \(output)")
        }
    }

    @Test("an unknown store kind from the command line names the key and --help; the message itself names neither")
    func storeKindNamedForTheCLI() async throws {
        let (status, output) = try await ProcessHarness.run(["list", "--store", "mysql://u:SECRET@h/db"], environment: [:])
        #expect(status == 78)
        #expect(output.contains("memory:, sqlite:PATH or postgres://") && output.contains("(users.store; see --help)"))
        #expect(!output.contains("SECRET"))
    }

    @Test("serve's exit codes: 78 for configuration (a refused public bind, a host that does not resolve), 69 for an unreachable store")
    func serveExitCodes() async throws {
        let memory = ["--store", "memory:", "--port", "0"]
        let (publicBind, publicOutput) = try await ProcessHarness.run(["serve", "--host", "0.0.0.0"] + memory, environment: [:])
        #expect(publicBind == 78, "\(publicOutput)")
        #expect(publicOutput.contains("without API tokens"))
        #expect(!publicOutput.contains("listening"))
        let (prefix, prefixOutput) = try await ProcessHarness.run(["serve", "--host", "127.evil.invalid"] + memory, environment: [:])
        #expect(prefix == 78, "a name that looks like loopback is resolved, not trusted: \(prefixOutput)")
        #expect(prefixOutput.contains("does not resolve"))
        let (unreachable, unreachableOutput) = try await ProcessHarness.run(
            ["serve", "--store", "postgres://u@127.0.0.1:1/db", "--port", "0"], environment: [:])
        #expect(unreachable == 69, "\(unreachableOutput)")
        #expect(!unreachableOutput.contains("listening"))
        let (noToken, noTokenOutput) = try await ProcessHarness.run(["serve"] + memory, environment: ["USERS_API_TOKENS": " , "])
        #expect(noToken == 78, "a configured token source without a token never switches authentication off")
        #expect(noTokenOutput.contains("holds no token"))
    }

    @Test("a configuration error exits 78 from every command, naming the key, migrate's and serve's included")
    func configurationExitCodes() async throws {
        for command in [["migrate"], ["list"], ["serve", "--port", "0"]] {
            let (status, output) = try await ProcessHarness.run(
                command + ["--store", "memory:"], environment: ["USERS_RELAY_BATCH_SIZE": "0"])
            #expect(status == 78, "\(command): \(status) \(output)")
            #expect(output.contains("users.relay.batchSize"), "\(command): \(output)")
        }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-folder-\(UUID())/events.log")
        let (status, output) = try await ProcessHarness.run(
            ["serve", "--store", "memory:", "--port", "0"], environment: ["USERS_PUBLISHER": "log:\(log.path)"])
        #expect(status == 78, "an event log that can't be opened is the configuration's fault: \(status) \(output)")
        #expect(output.contains("users.publisher"))
        #expect(!output.contains("listening"))
    }

    @Test("serve exits 69 when its port is taken, and says it listens only once it does")
    func serveListening() async throws {
        let port = try ProcessHarness.freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("users-serve-\(UUID())")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let server = ChildProcess()
        server.executableURL = ProcessHarness.binary()
        server.arguments = ["serve", "--store", "memory:", "--port", "\(port)"]
        server.environment = ProcessInfo.processInfo.environment.merging(["USERS_API_TOKENS": "#Zk9s/tok"]) { $1 }
        server.standardError = try FileHandle(forWritingTo: log)
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        let base = "http://127.0.0.1:\(port)"
        try await ProcessHarness.waitUntilLive(base)
        let (taken, takenOutput) = try await ProcessHarness.run(["serve", "--store", "memory:", "--port", "\(port)"], environment: [:])
        #expect(taken == 69, "\(takenOutput)")
        #expect(takenOutput.contains("Can't listen on 127.0.0.1:\(port)"))
        #expect(!takenOutput.contains("users serve listening"))

        // The token from the variable is a token, '#' and all: no header is 401, the token is 200.
        #expect(try await ProcessHarness.request("GET", base + "/users").0 == 401)
        var request = URLRequest(url: URL(string: base + "/users")!)
        request.setValue("Bearer #Zk9s/tok", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        await ProcessHarness.stop(server)
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(output.contains("users serve listening address=127.0.0.1:\(port)"), "\(output)")
        #expect(!output.contains("no API tokens configured"))
    }

    @Test("a configuration file that does not parse: exit 78, and none of its content (a password) printed")
    func malformedConfigFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("users-bad-\(UUID()).yaml")
        try Data("users:\n  store: \"postgres://u:SECRET\\q@127.0.0.1:1/db\"\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        for command in [["migrate"], ["list"], ["serve", "--port", "0"]] {
            let (status, output) = try await ProcessHarness.run(command + ["--config", file.path], environment: [:])
            #expect(status == 78, "\(command): \(status) \(output)")
            #expect(!output.contains("SECRET"), "\(command): \(output)")
        }
    }
}
