import UserAppCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Synchronization
import Testing
@testable import ServiceSupport
@testable import UserHTTP
import UserInMemory
import UserPorts

/// Log records kept in memory, to check what a request logged and at which level.
struct RecordingLogHandler: LogHandler {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
    }

    let records: Locked<[Record]>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        records.withLock { $0.append(Record(level: event.level, message: "\(event.message)")) }
    }
}

/// A plain TCP connection to the server under test: raw bytes out, raw bytes in.
struct RawConnection {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func open(port: Int) async throws -> RawConnection {
        let channel = try await ClientBootstrap(group: connectionTestsGroup)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawConnection(channel: channel)
    }

    /// Sends bytes, then reads until the server closes the connection or `limit` passes; whether it closed.
    static func exchange(port: Int, _ bytes: String, within limit: Duration = safetyNet) async throws
        -> (received: String, closed: Bool)
    {
        let connection = try await open(port: port)
        return try await connection.channel.executeThenClose { inbound, outbound in
            // Nothing to send is sent as nothing: on a slow machine the server may have closed an idle
            // connection before an empty write, which would then fail.
            if !bytes.isEmpty { try await outbound.write(ByteBuffer(string: bytes)) }
            return try await readUntilClosed(inbound, within: limit)
        }
    }

    /// Reads until the stream ends (the server closed) or `limit` passes.
    static func readUntilClosed(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, within limit: Duration)
        async throws -> (received: String, closed: Bool)
    {
        try await withThrowingTaskGroup(of: (String, Bool)?.self) { group in
            group.addTask {
                var received = ""
                do {
                    for try await buffer in inbound { received += String(buffer: buffer) }
                } catch {}  // a reset is a close too
                return (received, true)
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first ?? ("", false)
        }
    }
}

/// A response read off the wire.
struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: String

    init?(_ text: String) {
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        self.status = status
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.headers = headers
        self.body = String(text[end.upperBound...])
    }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `limit`; whether it held.
/// How long a wait for something that must happen may take before the test gives up: long, because a loaded
/// machine (or ThreadSanitizer) may be slow, and only reached when the server is broken.
let safetyNet = Duration.seconds(120)

func eventually(within limit: Duration = safetyNet, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// The event loops of these tests' servers and clients: their own, so that the timers they test never wait
/// behind other suites' work on NIO's shared singleton.
let connectionTestsGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

@Suite("HTTP server: connection limits, request framing")
struct ConnectionTests {
    /// Runs a live server with `limits`, logging into `records`.
    func withServer(
        _ limits: HTTPConnectionLimits = .init(), records: Locked<[RecordingLogHandler.Record]> = Locked([]),
        _ body: @Sendable (_ port: Int) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test", factory: { _ in RecordingLogHandler(records: records) })
        logger.logLevel = .trace
        let api = UserAPI(service: UserUseCases(repository: AnyUserStore(InMemoryUserStore())), readiness: {})
        let app = Application(
            router: api.makeRouter(), server: .limitedHTTP1(limits, logger: logger),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            eventLoopGroupProvider: .shared(connectionTestsGroup), logger: logger)
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    @Test("a connection that sends nothing is closed at the idle timeout; so is a keep-alive one after its response")
    func idleTimeout() async throws {
        // 2 s: long enough that a slow machine (ThreadSanitizer) sends the keep-alive request below before the
        // idle timeout closes the new connection.
        try await withServer(.init(idleTimeout: .seconds(2), requestHeadTimeout: .seconds(30))) { port in
            let started = ContinuousClock.now
            let (silent, closed) = try await RawConnection.exchange(port: port, "")
            #expect(closed, "still open after the safety net: no idle timeout")
            #expect(silent.isEmpty, "an idle connection is closed without a response")
            #expect(ContinuousClock.now - started >= .seconds(2))

            let (text, keptAliveThenClosed) = try await RawConnection.exchange(
                port: port, "GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(keptAliveThenClosed)
            #expect(RawResponse(text)?.status == 200)
        }
    }

    @Test("a head sent a byte at a time is cut off at the head timeout (408), counted from its first byte")
    func slowHead() async throws {
        try await withServer(.init(idleTimeout: .seconds(30), requestHeadTimeout: .milliseconds(400))) { port in
            let connection = try await RawConnection.open(port: port)
            let started = ContinuousClock.now
            let (text, closed) = try await connection.channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET /health/live HTTP/1.1\r\nHost: test\r\nX-Slow: "))
                // One byte every 50 ms: a limit reset by each byte would never fire.
                let drip = Task {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(50))
                        try await outbound.write(ByteBuffer(string: "a"))
                    }
                }
                defer { drip.cancel() }
                return try await RawConnection.readUntilClosed(inbound, within: safetyNet)
            }
            let elapsed = ContinuousClock.now - started
            #expect(closed, "a slowloris head was still being accepted after 10 s")
            #expect(RawResponse(text)?.status == 408)
            #expect(RawResponse(text)?.headers["connection"] == "close")
            #expect(elapsed >= .milliseconds(400))
        }
    }

    @Test("with more idle connections than the bound, the longest-idle are closed and a new request is answered")
    func boundEvictsIdle() async throws {
        let bound = 20
        try await withServer(.init(idleTimeout: .seconds(60), maximumConnections: bound)) { port in
            var idle: [any Channel] = []
            for _ in 0..<30 {
                idle.append(try await ClientBootstrap(group: connectionTestsGroup).connect(
                    host: "127.0.0.1", port: port).get())
            }
            defer { for channel in idle { channel.close(promise: nil) } }
            let evicted = await eventually { idle.count { !$0.isActive } >= 30 - bound }
            #expect(evicted, "\(idle.count { !$0.isActive }) of 30 idle connections closed with a bound of \(bound)")

            let (text, _) = try await RawConnection.exchange(
                port: port, "GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            #expect(RawResponse(text)?.status == 200, "a normal request at the bound: \(text)")
            #expect(idle.count { $0.isActive } <= bound)
        }
    }

    @Test("a request body that stops arriving is cut off at the body timeout (408), counted from the head")
    func slowBody() async throws {
        try await withServer(.init(idleTimeout: .seconds(60), requestBodyTimeout: .milliseconds(400))) { port in
            let started = ContinuousClock.now
            let (text, closed) = try await RawConnection.exchange(
                port: port,
                "POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            #expect(closed, "a stalled upload was still being accepted")
            #expect(RawResponse(text)?.status == 408)
            #expect(ContinuousClock.now - started >= .milliseconds(400))
        }
    }

    @Test("with the bound full of stalled uploads and no idle connection, a new request is still answered")
    func boundEvictsStalledBodies() async throws {
        let bound = 10
        try await withServer(.init(idleTimeout: .seconds(60), maximumConnections: bound)) { port in
            var stalled: [any Channel] = []
            for _ in 0..<bound {
                let channel = try await ClientBootstrap(group: connectionTestsGroup).connect(
                    host: "127.0.0.1", port: port
                ).get()
                try await channel.writeAndFlush(
                    ByteBuffer(
                        string: "POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                            + "Content-Length: 60000\r\n\r\n{"))
                stalled.append(channel)
            }
            defer { for channel in stalled { channel.close(promise: nil) } }
            let (text, _) = try await RawConnection.exchange(
                port: port, "GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            #expect(RawResponse(text)?.status == 200, "a normal request with the bound full of stalled uploads: \(text)")
        }
    }

    @Test("at the bound the longest-waiting connection makes room; one with a request in flight never does")
    func evictionOrder() {
        let registry = ConnectionRegistry(
            maximum: 2, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        func connection(waitingSince nanoseconds: UInt64) -> (EmbeddedChannel, ConnectionActivity) {
            let channel = EmbeddedChannel()
            let activity = ConnectionActivity(channel: channel, waitingSince: .uptimeNanoseconds(nanoseconds))
            return (channel, activity)
        }
        let (busyChannel, busy) = connection(waitingSince: 100)
        busy.waitingSince.store(0, ordering: .relaxed)  // a request head arrived
        let (idleChannel, idle) = connection(waitingSince: 200)
        let (newChannel, new) = connection(waitingSince: 300)
        let idleClosed = Locked(false)
        idleChannel.closeFuture.whenComplete { _ in idleClosed.withLock { $0 = true } }
        #expect(registry.admit(busy))
        #expect(registry.admit(idle))
        #expect(registry.admit(new), "admitted at the bound")
        idleChannel.embeddedEventLoop.run()
        #expect(idleClosed.withLock { $0 }, "the registry closed the connection it evicted")
        #expect(idle.waitingSince.load(ordering: .relaxed) == ConnectionActivity.evicted, "the idle one made room")
        #expect(busy.waitingSince.load(ordering: .relaxed) == 0, "the busy one was left alone")
        #expect(registry.count == 2)

        new.waitingSince.store(0, ordering: .relaxed)
        let (_, refused) = connection(waitingSince: 400)
        #expect(!registry.admit(refused), "every connection has a request in flight: the new one is refused")
        #expect(registry.count == 2)
        registry.remove(busy)
        #expect(registry.admit(refused), "room again once one closed")
        _ = (busyChannel, newChannel)
    }

    @Test("accept failing with EMFILE pauses accepting (autoRead off), then accepting resumes")
    func acceptPause() async throws {
        let server = try await ServerBootstrap(group: connectionTestsGroup)
            .bind(host: "127.0.0.1", port: 0).get()
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        await HTTPConnectionLimits.pauseAcceptingWhenOutOfDescriptors(server, pause: .milliseconds(200), logger: logger)
        #expect(try await server.getOption(.autoRead).get())
        // What the server socket channel fires when accept4 fails with EMFILE.
        server.pipeline.fireErrorCaught(IOError(errnoCode: EMFILE, reason: "accept4"))
        #expect(try await !server.getOption(.autoRead).get(), "the listening socket leaves epoll: no spin")
        let resumed = try await eventually { try await server.getOption(.autoRead).get() }
        #expect(resumed, "accepting again after the pause")
        let client = try await ClientBootstrap(group: connectionTestsGroup)
            .connect(to: try #require(server.localAddress)).get()
        try await client.close()
        try await server.close()
    }

    @Test("the bound stays below the open-file limit")
    func boundBelowFileLimit() {
        let limits = HTTPConnectionLimits(maximumConnections: 1024)
        #expect(limits.effectiveMaximumConnections(openFileLimit: 1024) == 1024 - HTTPConnectionLimits.reservedFileDescriptors)
        #expect(limits.effectiveMaximumConnections(openFileLimit: 65_536) == 1024)
        #expect(limits.effectiveMaximumConnections(openFileLimit: nil) == 1024)
        #expect(limits.effectiveMaximumConnections(openFileLimit: 10) == 1)
    }

    static let framingCases: [(name: String, request: String, status: Int)] = [
        (
            "chunk size zz",
            "POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            400
        ),
        (
            "chunk size FFFFFFFFFFFFFFFFFF",
            "POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n",
            400
        ),
        (
            "Transfer-Encoding: gzip",
            "POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{}",
            501
        ),
        (
            "Transfer-Encoding: gzip, chunked",
            "POST /users HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            501
        ),
        (
            "Transfer-Encoding: xchunked",
            "POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            400
        ),
    ]

    @Test("malformed request framing is the client's fault: 400/501 as problem+json, nothing logged at error")
    func malformedFraming() async throws {
        let records = Locked<[RecordingLogHandler.Record]>([])
        try await withServer(records: records) { port in
            for (name, request, status) in Self.framingCases {
                let (text, closed) = try await RawConnection.exchange(port: port, request)
                let response = try #require(RawResponse(text), "\(name): no response: \(text)")
                #expect(response.status == status, "\(name)")
                #expect(response.headers["content-type"] == "application/problem+json", "\(name)")
                if !request.contains("Connection: close") {
                    // Broken framing: the server closes, and says so.
                    #expect(response.headers["connection"] == "close", "\(name)")
                }
                #expect(response.body.contains("\"status\":\(status)"), "\(name): \(response.body)")
                #expect(closed, "\(name): the connection is not reused after a framing error")
            }
        }
        let errors = records.withLock { $0.filter { $0.level >= .error } }
        #expect(errors.isEmpty, "logged at error: \(errors.map(\.message))")
    }

    @Test("a client that hangs up in mid-body is not an error")
    func hangUpMidBody() async throws {
        let records = Locked<[RecordingLogHandler.Record]>([])
        try await withServer(records: records) { port in
            let connection = try await RawConnection.open(port: port)
            try await connection.channel.executeThenClose { _, outbound in
                try await outbound.write(
                    ByteBuffer(
                        string:
                            "POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\""
                    ))
            }
            // The access line is the request's last word.
            let answered = await eventually { records.withLock { $0.contains { $0.message.hasPrefix("POST /users ") } } }
            #expect(answered)
            #expect(records.withLock { $0.contains { $0.message == "POST /users 400" } }, "a client error, not a 500")
        }
        let errors = records.withLock { $0.filter { $0.level >= .error } }
        #expect(errors.isEmpty, "logged at error: \(errors.map(\.message))")
    }
}
