import Configuration
import Logging
import Foundation
import Testing
import UserApp
import UserHTTP
import UserPorts

@Suite("UserApp configuration")
struct UserAppConfigurationTests {
    @Test("store URLs parse; others are refused with invalid-configuration")
    func storeURLs() throws {
        #expect(try StoreLocation("memory:") == .memory)
        #expect(try StoreLocation("sqlite:data/users.sqlite") == .sqlite(path: "data/users.sqlite"))
        #expect(try StoreLocation("postgres://u:p@h/db") == .postgres(url: "postgres://u:p@h/db"))
        #expect(try StoreLocation("postgresql://u:secret@h/db").description == "postgresql://u:***@h/db")
        for bad in ["mysql://x", "sqlite:", "users.sqlite", ""] {
            #expect(throws: UserStoreError.self) { try StoreLocation(bad) }
        }
    }

    @Test("defaults: SQLite users.sqlite on 127.0.0.1:8080, events kept in the outbox")
    func defaults() async throws {
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(arguments: [:], environment: [:]))
        #expect(configuration.store == .sqlite(path: "users.sqlite"))
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8080)
        #expect(configuration.publisher == .none)
        #expect(configuration.http.maximumBodySize == 65536)
        #expect(configuration.connections == HTTPConnectionLimits())
        #expect(configuration.connections.idleTimeout == .seconds(75))
        #expect(configuration.connections.requestHeadTimeout == .seconds(10))
        #expect(configuration.connections.maximumConnections == 1024)
    }

    @Test("connection limits: users.http.idleTimeoutMs, requestHeadTimeoutMs, maxConnections")
    func connectionLimits() async throws {
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: [:],
                environment: [
                    "USERS_HTTP_IDLE_TIMEOUT_MS": "1500", "USERS_HTTP_REQUEST_HEAD_TIMEOUT_MS": "250",
                    "USERS_HTTP_MAX_CONNECTIONS": "20",
                ]))
        #expect(
            configuration.connections
                == HTTPConnectionLimits(
                    idleTimeout: .milliseconds(1500), requestHeadTimeout: .milliseconds(250), maximumConnections: 20))
    }

    @Test("a value of the wrong kind or out of range is refused, naming the key, never replaced by the default")
    func invalidValues() async throws {
        let cases: [(String, String, String)] = [
            ("USERS_PORT", "80a", "users.port"), ("USERS_PORT", "70000", "users.port"),
            ("USERS_RELAY_BATCH_SIZE", "0", "users.relay.batchSize"),
            ("USERS_HTTP_MAX_BODY_SIZE", "big", "users.http.maxBodySize"),
            ("USERS_HTTP_REQUIRE_IF_MATCH", "maybe", "users.http.requireIfMatch"),
            ("USERS_POSTGRES_MAX_CONNECTIONS", "-1", "users.postgres.maxConnections"),
            ("USERS_POSTGRES_LOOKUP_CONNECTIONS", "65", "users.postgres.lookupConnections"),
            ("USERS_SQLITE_SYNCHRONOUS", "off", "users.sqlite.synchronous"),
            ("USERS_HTTP_IDLE_TIMEOUT_MS", "0", "users.http.idleTimeoutMs"),
            ("USERS_HTTP_REQUEST_HEAD_TIMEOUT_MS", "soon", "users.http.requestHeadTimeoutMs"),
            ("USERS_HTTP_MAX_CONNECTIONS", "0", "users.http.maxConnections"),
        ]
        for (variable, value, key) in cases {
            let reader = try await UserAppConfiguration.reader(arguments: [:], environment: [variable: value])
            do {
                _ = try UserAppConfiguration(reader: reader)
                Issue.record("\(variable)=\(value) was accepted")
            } catch let error as UserStoreError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.description.contains(key), "\(error.description) names \(key)")
            }
        }
        let good = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: [:],
                environment: [
                    "USERS_PORT": "9090", "USERS_HTTP_REQUIRE_IF_MATCH": "yes", "USERS_SQLITE_SYNCHRONOUS": "FULL",
                    "USERS_RELAY_BATCH_SIZE": "250",
                ]))
        #expect(good.port == 9090)
        #expect(good.http.requiresIfMatch)
        #expect(good.sqliteSynchronousFull)
        #expect(good.relay.batchSize == 250)
    }

    @Test("command line beats environment beats file beats default")
    func precedence() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("users-\(UUID()).json")
        try Data(#"{"users":{"store":"sqlite:from-file.sqlite","port":7001,"host":"0.0.0.0","publisher":"log"}}"#.utf8)
            .write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: ["users.store": .string("memory:")],
                environment: ["USERS_PORT": "7002", "USERS_HTTP_REQUIRE_IF_MATCH": "true"],
                file: file.path))
        #expect(configuration.store == .memory)  // argument
        #expect(configuration.port == 7002)  // environment over file
        #expect(configuration.host == "0.0.0.0")  // file over default
        #expect(configuration.publisher == .log(path: nil))  // file
        #expect(configuration.http.requiresIfMatch)  // environment
    }

    @Test("a YAML file works too")
    func yaml() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("users-\(UUID()).yaml")
        try Data("users:\n  store: \"memory:\"\n  port: 7003\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(arguments: [:], environment: [:], file: file.path))
        #expect(configuration.store == .memory)
        #expect(configuration.port == 7003)
    }
}

@Suite("UserApp security rules")
struct UserAppSecurityTests {
    @Test("tokens come from the environment and a file; serving beyond loopback without them is refused")
    func tokens() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID())")
        try Data("# comment\nfrom-file\n\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: [:], environment: ["USERS_API_TOKENS": "a, b", "USERS_API_TOKENS_FILE": file.path]))
        #expect(configuration.apiTokens == ["a", "b", "from-file"])

        var open = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: ["users.host": .string("0.0.0.0"), "users.store": .string("memory:")], environment: [:]))
        #expect(!open.bindsLoopbackOnly)
        await #expect(throws: UserStoreError.self) {
            try await UserServer.run(configuration: open, logger: Logger(label: "test"))
        }
        open.host = "127.0.0.1"
        #expect(open.bindsLoopbackOnly)
    }
}
