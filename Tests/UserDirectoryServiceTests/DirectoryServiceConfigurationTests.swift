import Configuration
import Foundation
import Testing
import ServiceSupport
@testable import UserDirectoryService
import UserAppCore
import UserHTTP

@Suite("users-directory serve configuration")
struct DirectoryServiceConfigurationTests {
    func read(
        _ arguments: [String: ConfigContent] = [:], environment: [String: String], file: String? = nil
    ) async throws -> DirectoryServiceConfiguration {
        try DirectoryServiceConfiguration(
            reader: try await ServiceConfiguration.reader(arguments: arguments, environment: environment, file: file))
    }

    let required = ["DIRECTORY_SOURCE": "amqp://dir:s3cret@127.0.0.1:5672/v", "DIRECTORY_EVENTS": "http://127.0.0.1:8080"]

    @Test("defaults, with the two required keys from the environment")
    func defaults() async throws {
        let configuration = try await read(environment: required)
        #expect(configuration.source == "amqp://dir:s3cret@127.0.0.1:5672/v")
        #expect(configuration.events == "http://127.0.0.1:8080")
        #expect(configuration.exchange == "users.events" && configuration.queue == "users.directory")
        #expect(configuration.store == "sqlite:directory.sqlite")
        #expect(configuration.host == "127.0.0.1" && configuration.port == 8081)
        #expect(configuration.connections == HTTPConnectionLimits())
        #expect(configuration.consistencyTimeout == .seconds(5))
        #expect(configuration.apiTokens.isEmpty && configuration.eventsToken == nil)
    }

    @Test("a missing broker or events URL is refused naming its key")
    func required() async throws {
        for (environment, key) in [
            (["DIRECTORY_EVENTS": "http://127.0.0.1:8080"], "directory.source"),
            (["DIRECTORY_SOURCE": "amqp://127.0.0.1"], "directory.events"),
        ] {
            do {
                _ = try await read(environment: environment)
                Issue.record("read without \(key)")
            } catch let error as ConfigurationError {
                #expect(error.key == key)
            }
        }
    }

    @Test("flags beat the environment, which beats the file; the HTTP limits, tokens and timeout are read")
    func layers() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dir-config-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("directory.yaml").path
        try """
            directory:
              queue: from-file
              port: 9001
              consistencyTimeoutMs: 750
              http:
                idleTimeoutMs: 2000
                requestHeadTimeoutMs: 500
                maxConnections: 50
            """.write(toFile: file, atomically: true, encoding: .utf8)
        var environment = required
        environment["DIRECTORY_PORT"] = "9002"
        environment["DIRECTORY_EVENTS_TOKEN"] = "events-token\n"
        environment["DIRECTORY_API_TOKENS"] = "t1, t2"
        let configuration = try await read(["directory.port": .int(9003)], environment: environment, file: file)
        #expect(configuration.port == 9003, "the flag")
        #expect(configuration.queue == "from-file")
        #expect(configuration.consistencyTimeout == .milliseconds(750))
        #expect(configuration.connections.idleTimeout == .seconds(2))
        #expect(configuration.connections.requestHeadTimeout == .milliseconds(500))
        #expect(configuration.connections.maximumConnections == 50)
        #expect(configuration.eventsToken == "events-token", "trimmed")
        #expect(configuration.apiTokens == ["t1", "t2"])
        let fromEnvironment = try await read(environment: environment, file: file)
        #expect(fromEnvironment.port == 9002, "the environment over the file")
    }

    @Test("a value of the wrong kind or out of range is refused naming its key, never replaced by the default")
    func wrongValues() async throws {
        for (variable, value, key) in [
            ("DIRECTORY_PORT", "80a", "directory.port"), ("DIRECTORY_PORT", "70000", "directory.port"),
            ("DIRECTORY_HTTP_IDLE_TIMEOUT_MS", "0", "directory.http.idleTimeoutMs"),
            ("DIRECTORY_CONSISTENCY_TIMEOUT_MS", "soon", "directory.consistencyTimeoutMs"),
            ("DIRECTORY_API_TOKENS", " , ", "directory.apiTokens"),
        ] {
            var environment = required
            environment[variable] = value
            do {
                _ = try await read(environment: environment)
                Issue.record("\(variable)=\(value) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.key == key, "\(variable)=\(value)")
                #expect(!error.description.contains("s3cret"))
            }
        }
    }
}
