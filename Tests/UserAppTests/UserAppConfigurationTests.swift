import Configuration
import Logging
import Foundation
import Testing
@testable import ServiceSupport
@testable import UserApp
import UserHTTP
import UserPorts

@Suite("UserApp configuration")
struct UserAppConfigurationTests {
    @Test("store URLs parse; others are refused with a ConfigurationError for users.store")
    func storeURLs() throws {
        #expect(try StoreLocation("memory:") == .memory)
        #expect(try StoreLocation("sqlite:data/users.sqlite") == .sqlite(path: "data/users.sqlite"))
        #expect(try StoreLocation("postgres://u:p@h/db") == .postgres(url: "postgres://u:p@h/db"))
        #expect(try StoreLocation("postgresql://u:secret@h/db").description == "postgresql://u:***@h/db")
        for bad in ["mysql://x", "sqlite:", "users.sqlite", ""] {
            #expect(throws: ConfigurationError.self) { try StoreLocation(bad) }
        }
        do {
            _ = try StoreLocation("mysql://u:SECRET@h/db")
            Issue.record("a MySQL URL was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == "users.store")
            #expect(!error.description.contains("--help"), "an embedding app has no --help: \(error)")
            #expect(!error.description.contains("SECRET"), "the URL, which may hold a password, is not repeated")
        }
        do {
            _ = try EventDestination("kafka")
            Issue.record("an unknown publisher was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == "users.publisher")
        }
    }

    @Test("defaults: SQLite users.sqlite on 127.0.0.1:8080, events kept in the outbox")
    func defaults() async throws {
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(arguments: [:], environment: [:]))
        #expect(configuration.store == .sqlite(path: "users.sqlite"))
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8080)
        #expect(configuration.publisher.description == "none")
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
            } catch let error as ConfigurationError {
                #expect(error.key == key)
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
        #expect(configuration.publisher.description == "log")  // file
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

        let open = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: ["users.host": .string("0.0.0.0"), "users.store": .string("memory:")], environment: [:]))
        do {
            try await UserServer.run(configuration: open, logger: Logger(label: "test"))
            Issue.record("serving 0.0.0.0 without tokens was allowed")
        } catch let error as ConfigurationError {
            #expect(error.key == "users.host")
            #expect(error.description.contains("without API tokens"))
        }
    }

    static func tokens(_ environment: [String: String]) async throws -> [String] {
        try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(arguments: [:], environment: environment)
        ).apiTokens
    }

    @Test("the tokens variable has no comment syntax; a configured source without a token is an error")
    func tokenVariable() async throws {
        #expect(try await Self.tokens(["USERS_API_TOKENS": "#Zk9s/tok"]) == ["#Zk9s/tok"])
        #expect(try await Self.tokens(["USERS_API_TOKENS": " a ,,b, "]) == ["a", "b"])
        #expect(try await Self.tokens([:]) == [])
        for empty in ["", " ", ",", " , ,"] {
            await #expect(throws: ConfigurationError.self, "\(empty)") { try await Self.tokens(["USERS_API_TOKENS": empty]) }
        }
        await #expect(throws: ConfigurationError.self) { try await Self.tokens(["USERS_API_TOKENS": "has space"]) }
        await #expect(throws: ConfigurationError.self) { try await Self.tokens(["USERS_API_TOKENS": "tab\u{7}bell"]) }
        do {
            _ = try await Self.tokens(["USERS_API_TOKENS": "good,bad secret"])
            Issue.record("a token with a space is refused")
        } catch let error as ConfigurationError {
            #expect(error.key == "users.apiTokens")
            #expect(error.description.contains("Token 2"))
            #expect(!error.description.contains("secret"), "the message never repeats a token")
        }
    }

    @Test("the tokens file: one a line, trimmed; blank lines and # comments skipped; none at all is an error")
    func tokenFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID())")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("  # a comment\n\n  first  \r\nsec#ond\n\t#indented comment\nthird".utf8).write(to: file)
        #expect(try await Self.tokens(["USERS_API_TOKENS_FILE": file.path]) == ["first", "sec#ond", "third"])
        for text in ["", "\n\n", "# only\n  # comments\n"] {
            try Data(text.utf8).write(to: file)
            await #expect(throws: ConfigurationError.self, "\(text)") {
                try await Self.tokens(["USERS_API_TOKENS_FILE": file.path])
            }
        }
        try Data("ok\nnot ok\n".utf8).write(to: file)
        await #expect(throws: ConfigurationError.self) { try await Self.tokens(["USERS_API_TOKENS_FILE": file.path]) }
        await #expect(throws: ConfigurationError.self) {
            try await Self.tokens(["USERS_API_TOKENS_FILE": file.path + ".missing"])
        }
    }

    @Test("an unreadable tokens file and an event log that can't be opened are configuration errors naming the key")
    func fileKeys() async throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-folder-\(UUID())")
        do {
            _ = try await Self.tokens(["USERS_API_TOKENS_FILE": missing.appendingPathComponent("tokens").path])
            Issue.record("a missing tokens file was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == "users.apiTokensFile")
        }
        do {
            _ = try JSONLinesPublisher(path: missing.appendingPathComponent("events.log").path)
            Issue.record("an event log in a missing folder was opened")
        } catch let error as ConfigurationError {
            #expect(error.key == "users.publisher")
            #expect(error.description.contains("users.publisher"))
        }
    }

    @Test("the store URL is read as a secret and printed through the redaction")
    func storeRedacted() async throws {
        let configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(
                arguments: [:], environment: ["USERS_STORE": "postgres://u:Zm9v/YmFy+SECRET=@127.0.0.1:1/db"]))
        #expect(configuration.store.description == "postgres://u:***@127.0.0.1:1/db")
    }
}

@Suite("Bind addresses")
struct BindAddressTests {
    @Test("loopback is decided on the resolved addresses, not on the name's text")
    func loopback() async {
        #expect(await BindAddress.resolve("127.0.0.1") == [BindAddress(numeric: "127.0.0.1", isLoopback: true)])
        #expect(await BindAddress.resolve("127.8.9.10").allSatisfy(\.isLoopback))
        #expect(await BindAddress.resolve("::1") == [BindAddress(numeric: "::1", isLoopback: true)])
        #expect(await BindAddress.resolve("::ffff:127.0.0.1").allSatisfy(\.isLoopback))
        let localhost = await BindAddress.resolve("localhost")
        #expect(!localhost.isEmpty && localhost.allSatisfy(\.isLoopback))
        #expect(await BindAddress.resolve("0.0.0.0") == [BindAddress(numeric: "0.0.0.0", isLoopback: false)])
        #expect(await BindAddress.resolve("::").allSatisfy { !$0.isLoopback })
        #expect(await BindAddress.resolve("128.0.0.1").allSatisfy { !$0.isLoopback })
        #expect(await BindAddress.resolve("::2").allSatisfy { !$0.isLoopback })
        #expect(await BindAddress.resolve("127.evil.invalid").isEmpty, "a name that does not resolve is no address")
    }
}

@Suite("UserApp configuration: values of the wrong type")
struct UserAppConfigurationTypeTests {
    static func configuration(yaml: String) async throws -> UserAppConfiguration {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("users-\(UUID()).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(arguments: [:], environment: [:], file: file.path))
    }

    @Test("tokens may be a list in a file; a value of another type is an error, never 'no tokens'")
    func tokensOfOtherTypes() async throws {
        #expect(try await Self.configuration(yaml: "users:\n  apiTokens: [tokA, tokB]\n").apiTokens == ["tokA", "tokB"])
        // (A map is read as nested keys, and an empty list as no value: swift-configuration's reading, which
        // leaves "no tokens", that is loopback only.)
    }

    @Test("a list where text or a number is read is an error naming the key, not the default")
    func otherKeys() async throws {
        for (key, value) in [("store", "[a, b]"), ("port", "[1]"), ("host", "[a]"), ("publisher", "[x]")] {
            do {
                _ = try await Self.configuration(yaml: "users:\n  \(key): \(value)\n")
                Issue.record("users.\(key): \(value) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.key == "users.\(key)")
            }
        }
    }

    @Test("a configuration file that does not parse is an error that shows none of its content")
    func malformedFile() async throws {
        do {
            _ = try await Self.configuration(yaml: "users:\n  store: \"postgres://u:SECRET\\q@127.0.0.1:1/db\"\n")
            Issue.record("a malformed file was accepted")
        } catch let error as ConfigurationError {
            #expect(!error.description.contains("SECRET"))
            #expect(error.description.contains("can't be read as YAML"))
        }
    }
}
