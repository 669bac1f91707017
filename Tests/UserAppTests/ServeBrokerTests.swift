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
    static func serve(_ arguments: [String], environment: [String: String], log: URL) throws -> ChildProcess {
        let process = ChildProcess()
        process.executableURL = ProcessHarness.binary()
        process.arguments = ["serve"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        return process
    }

    /// A consumer of a queue of its own bound to `exchange`, collecting what arrives.
    static func consumer(url: String, exchange: String, into received: Received) throws -> RabbitMQConsumer {
        RabbitMQConsumer(
            configuration: .init(
                url: try RabbitMQURL(url), topology: RabbitMQTopology(exchange: exchange), queue: exchange + ".q",
                retryBackoff: .milliseconds(10)...(.milliseconds(100))),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        ) { (envelope: UserEventEnvelope) in await received.add(envelope) }
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
        let consumer = try Self.consumer(url: url, exchange: exchange, into: received)
        let group = ServiceGroup(services: [consumer], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try #require(try await Patience.waitUntil { consumer.status.isReady }, "the consumer never connected")

            let port = try ProcessHarness.freePort()
            let base = "http://127.0.0.1:\(port)"
            let server = try Self.serve(
                ["--store", "sqlite:" + directory.appendingPathComponent("u.sqlite").path, "--port", String(port)],
                environment: ["USERS_PUBLISHER": url, "USERS_AMQP_EXCHANGE": exchange],
                log: directory.appendingPathComponent("serve.log"))
            try await ProcessHarness.waitUntilLive(base)
            var ids: [String] = []
            for index in 0..<3 {
                let (status, data) = try await ProcessHarness.request(
                    "POST", base + "/users", body: #"{"email":"b\#(index)@example.com","displayName":"B \#(index)"}"#)
                #expect(status == 201)
                ids.append(try #require(Self.json(data)["id"] as? String))
            }
            let (patched, _) = try await ProcessHarness.request(
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
            let (ready, body) = try await ProcessHarness.request("GET", base + "/health/ready")
            #expect(ready == 200)
            #expect(Self.json(body)["publisher"] as? String == "connected")
            await ProcessHarness.stop(server)
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
        let port = try ProcessHarness.freePort()
        let base = "http://127.0.0.1:\(port)"
        let server = try Self.serve(
            ["--store", store, "--port", String(port), "--publisher", wrong], environment: ["USERS_LOG_LEVEL": "trace"],
            log: log)
        try await ProcessHarness.waitUntilLive(base)
        let (status, _) = try await ProcessHarness.request(
            "POST", base + "/users", body: #"{"email":"w@example.com","displayName":"W"}"#)
        #expect(status == 201, "writes go on while the broker refuses us")
        try #require(
            try await Patience.waitUntil {
                let (_, body) = try await ProcessHarness.request("GET", base + "/health/ready")
                return ["failing", "reconnecting"].contains(Self.json(body)["publisher"] as? String)
            }, "/health/ready never showed the refused publisher")
        await ProcessHarness.stop(server)
        #expect(server.terminationStatus == 0)
        let output = try String(contentsOf: log, encoding: .utf8)
        #expect(!output.contains(secret), "the password is never printed")
        #expect(output.contains("access-refused") || output.contains("accessRefused") || output.contains("refused"))
        let (_, statusJSON, _) = try await ProcessHarness.run(["events", "status", "--json", "--store", store])
        #expect(Self.json(Data(statusJSON.utf8))["pending"] as? Int == 1, "the event waits in the outbox")
    }

    /// A TCP forwarder (python3, started by the test) from a port of its own to the broker: killing it is a broker
    /// outage as `users serve` sees it (the connection drops, new ones are refused), without stopping the broker
    /// that other tests use.
    final class Forwarder: Sendable {
        static let script = """
            import asyncio, sys
            port, host, target = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
            async def pipe(reader, writer):
                try:
                    while data := await reader.read(65536):
                        writer.write(data)
                        await writer.drain()
                except Exception:
                    pass
                finally:
                    writer.close()
            async def handle(client_reader, client_writer):
                try:
                    server_reader, server_writer = await asyncio.open_connection(host, target)
                except Exception:
                    client_writer.close()
                    return
                await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
            async def main():
                server = await asyncio.start_server(handle, "127.0.0.1", port)
                async with server:
                    await server.serve_forever()
            asyncio.run(main())
            """
        let process: ChildProcess

        init(port: Int, to target: Int) async throws {
            process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", Self.script, String(port), "127.0.0.1", String(target)]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            try #require(
                try await Patience.waitUntil { Self.accepts(port) }, "the forwarder never listened on \(port)")
        }

        /// Whether something accepts connections on the port.
        static func accepts(_ port: Int) -> Bool {
            guard let fd = ProcessHarness.connectLoopback(port) else { return false }
            close(fd)
            return true
        }

        /// SIGKILL: every forwarded connection drops at once.
        func kill() async {
            Foundation.kill(process.processIdentifier, SIGKILL)
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    self.process.waitUntilExit()
                    continuation.resume()
                }
            }
        }
    }

    @Test("a broker unreachable at start, then killed mid-stream, for longer than maxAttempts rounds: 0 dead, all delivered once back")
    func outagesParkNothing() async throws {
        let url = try Self.brokerURL()
        guard let at = url.lastIndex(of: "@"), let portStart = url[at...].lastIndex(of: ":"),
            let slash = url[portStart...].firstIndex(of: "/"), let brokerPort = Int(url[url.index(after: portStart)..<slash])
        else { throw TestSetupError("USERS_TEST_AMQP_URL has no host:port") }
        let forwardPort = try ProcessHarness.freePort()
        let forwarded = String(url[...portStart]) + String(forwardPort) + String(url[slash...])
        let exchange = "t.outage.\(UUID().uuidString.prefix(8).lowercased())"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-amqp-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = "sqlite:" + directory.appendingPathComponent("u.sqlite").path
        let log = directory.appendingPathComponent("serve.log")
        let received = Received()
        let consumer = try Self.consumer(url: url, exchange: exchange, into: received)
        let group = ServiceGroup(services: [consumer], logger: Logger(label: "test"))
        /// How many times the relay has backed off as a whole so far.
        func relayFailures() -> Int {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return text.components(separatedBy: "outbox relay failed; retrying").count - 1
        }
        func outbox() async throws -> (pending: Int, dead: Int) {
            let (_, output, _) = try await ProcessHarness.run(["events", "status", "--json", "--store", store])
            let object = Self.json(Data(output.utf8))
            return (object["pending"] as? Int ?? -1, object["dead"] as? Int ?? -1)
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try #require(try await Patience.waitUntil { consumer.status.isReady }, "the consumer never connected")
            let port = try ProcessHarness.freePort()
            let base = "http://127.0.0.1:\(port)"
            // One attempt before an event is dead: an outage that counted attempts would park at once.
            let server = try Self.serve(
                ["--store", store, "--port", String(port)],
                environment: [
                    "USERS_PUBLISHER": forwarded, "USERS_AMQP_EXCHANGE": exchange, "USERS_RELAY_MAX_ATTEMPTS": "1",
                ],
                log: log)
            var forwarder: Forwarder?
            defer {
                if server.isRunning { server.terminate() }
                if let forwarder { Foundation.kill(forwarder.process.processIdentifier, SIGKILL) }
            }
            try await ProcessHarness.waitUntilLive(base)
            func register(_ names: Range<Int>) async throws {
                for index in names {
                    let (status, _) = try await ProcessHarness.request(
                        "POST", base + "/users", body: #"{"email":"o\#(index)@example.com","displayName":"O"}"#)
                    #expect(status == 201)
                }
            }
            // 1. Unreachable from the start.
            try await register(0..<3)
            try #require(try await Patience.waitUntil { relayFailures() >= 3 }, "the relay never backed off")
            var status = try await outbox()
            #expect(status.pending == 3 && status.dead == 0, "unreachable: \(status)")
            forwarder = try await Forwarder(port: forwardPort, to: brokerPort)
            try #require(try await Patience.waitUntil { await received.envelopes.count >= 3 }, "never delivered")
            // 2. Killed while connected, and down for more than one round.
            await forwarder?.kill()
            let before = relayFailures()
            try await register(3..<8)
            try #require(try await Patience.waitUntil { relayFailures() >= before + 3 }, "the relay never backed off")
            status = try await outbox()
            #expect(status.dead == 0, "killed: \(status)")
            forwarder = try await Forwarder(port: forwardPort, to: brokerPort)
            try #require(try await Patience.waitUntil { await received.envelopes.count >= 8 }, "never delivered")
            status = try await outbox()
            #expect(status.pending == 0 && status.dead == 0)
            #expect(Set(await received.envelopes.map(\.eventID)).count == 8)
            await ProcessHarness.stop(server)
            #expect(server.terminationStatus == 0)
            await forwarder?.kill()
            forwarder = nil
        }
    }
}
