import Foundation
import Logging
import ServiceLifecycle
import Testing
import UserDomain
import UserPortsTesting
import UserRabbitMQ

/// `users serve --publisher amqp://…` against the test broker (started by scripts/test.sh: USERS_TEST_AMQP_URL).
@Suite("users serve with a RabbitMQ publisher", .plainPassOnly, .serialized)
struct ServeBrokerTests {
    static func brokerURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["USERS_TEST_AMQP_URL"], !url.isEmpty else {
            throw TestSetupError(
                "USERS_TEST_AMQP_URL is not set: run the tests with scripts/test.sh, which starts a throwaway RabbitMQ.")
        }
        return url
    }

    struct TestSetupError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The envelopes a consumer received, in order.
    actor Received {
        var envelopes: [UserEventEnvelope] = []
        func add(_ envelope: UserEventEnvelope) { envelopes.append(envelope) }
    }

    /// Runs `users serve` with `environment`, its stderr kept in a file.
    static func serve(_ arguments: [String], environment: [String: String], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = UsersBinaryTests.binary
        process.arguments = ["serve"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        return process
    }

    static func json(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    @Test("every write through users serve reaches a queue bound to the exchange, once, in order per user")
    func writesReachTheBroker() async throws {
        let url = try Self.brokerURL()
        let exchange = "t.serve.\(UUID().uuidString.prefix(8).lowercased())"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-amqp-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let received = Received()
        let consumer = RabbitMQConsumer(
            configuration: .init(
                url: try RabbitMQURL(url), topology: RabbitMQTopology(exchange: exchange), queue: exchange + ".q",
                retryBackoff: .milliseconds(10)...(.milliseconds(100))),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        ) { (envelope: UserEventEnvelope) in await received.add(envelope) }
        let group = ServiceGroup(services: [consumer], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try #require(try await Patience.waitUntil { consumer.status.isReady }, "the consumer never connected")

            let port = try UsersBinaryTests.freePort()
            let base = "http://127.0.0.1:\(port)"
            let server = try Self.serve(
                ["--store", "sqlite:" + directory.appendingPathComponent("u.sqlite").path, "--port", String(port)],
                environment: ["USERS_PUBLISHER": url, "USERS_AMQP_EXCHANGE": exchange],
                log: directory.appendingPathComponent("serve.log"))
            try await UsersBinaryTests.waitUntilLive(base)
            var ids: [String] = []
            for index in 0..<3 {
                let (status, data) = try await UsersBinaryTests.request(
                    "POST", base + "/users", body: #"{"email":"b\#(index)@example.com","displayName":"B \#(index)"}"#)
                #expect(status == 201)
                ids.append(try #require(Self.json(data)["id"] as? String))
            }
            let (patched, _) = try await UsersBinaryTests.request(
                "PATCH", base + "/users/\(ids[0])", body: #"{"displayName":"Renamed"}"#)
            #expect(patched == 200)
            try #require(try await Patience.waitUntil { await received.envelopes.count >= 4 }, "the events never arrived")
            let envelopes = await received.envelopes
            // Order holds per user (the relay retries a user's failed event before its later ones; another
            // user's events may pass it), and every event arrives once.
            #expect(Set(envelopes.map(\.eventID)).count == 4)
            #expect(Set(envelopes.map(\.userID.description)) == Set(ids))
            let first = envelopes.filter { $0.userID.description == ids[0] }
            #expect(first.map(\.type) == ["user.registered", "user.renamed"])
            #expect(first.map(\.userVersion) == [1, 2])
            let (ready, body) = try await UsersBinaryTests.request("GET", base + "/health/ready")
            #expect(ready == 200)
            #expect(Self.json(body)["publisher"] as? String == "connected")
            await UsersBinaryTests.stop(server)
            #expect(server.terminationStatus == 0)
        }
    }

    @Test("wrong broker credentials: the service keeps serving, events stay in the outbox, the password is never logged")
    func wrongCredentials() async throws {
        let url = try Self.brokerURL()
        let secret = "Wr0ng-\(UUID().uuidString.prefix(6))"
        guard let at = url.lastIndex(of: "@"), let colon = url[..<at].lastIndex(of: ":") else {
            throw TestSetupError("USERS_TEST_AMQP_URL has no user:password@")
        }
        let wrong = String(url[...colon]) + secret + String(url[at...])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-amqp-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = "sqlite:" + directory.appendingPathComponent("u.sqlite").path
        let log = directory.appendingPathComponent("serve.log")
        let port = try UsersBinaryTests.freePort()
        let base = "http://127.0.0.1:\(port)"
        let server = try Self.serve(
            ["--store", store, "--port", String(port), "--publisher", wrong], environment: ["USERS_LOG_LEVEL": "trace"],
            log: log)
        try await UsersBinaryTests.waitUntilLive(base)
        let (status, _) = try await UsersBinaryTests.request(
            "POST", base + "/users", body: #"{"email":"w@example.com","displayName":"W"}"#)
        #expect(status == 201, "writes go on while the broker refuses us")
        try #require(
            try await Patience.waitUntil {
                let (_, body) = try await UsersBinaryTests.request("GET", base + "/health/ready")
                return ["failing", "reconnecting"].contains(Self.json(body)["publisher"] as? String)
            }, "/health/ready never showed the refused publisher")
        await UsersBinaryTests.stop(server)
        #expect(server.terminationStatus == 0)
        let output = try String(contentsOf: log, encoding: .utf8)
        #expect(!output.contains(secret), "the password is never printed")
        #expect(output.contains("access-refused") || output.contains("accessRefused") || output.contains("refused"))
        let (_, statusJSON, _) = try await UsersBinaryTests.run(["events", "status", "--json", "--store", store])
        #expect(Self.json(Data(statusJSON.utf8))["pending"] as? Int == 1, "the event waits in the outbox")
    }
}
