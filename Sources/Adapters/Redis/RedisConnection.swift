import CHiredis
import Foundation
import UserPorts

/// A reply of the Redis server.
enum RedisValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    case status(String)
    case error(String)

    /// The text of a bulk string or status reply, `nil` otherwise.
    var text: String? {
        switch self {
        case .string(let text), .status(let text): text
        default: nil
        }
    }

    /// The reply itself; an error reply thrown as `RedisFailure.server`.
    @discardableResult
    func checked() throws(RedisFailure) -> RedisValue {
        if case .error(let message) = self { throw .server(message) }
        return self
    }

    /// The elements of an array reply (empty otherwise).
    var elements: [RedisValue] {
        if case .array(let elements) = self { elements } else { [] }
    }
}

/// Why a command did not get an answer.
enum RedisFailure: Error {
    /// The connection failed (refused, reset, timed out): it can't be used again.
    case connection(String)
    /// The server answered with an error reply.
    case server(String)
}

/// One hiredis connection, blocking: used on one thread at a time (its ``RedisClient``'s queue), never on
/// Swift's cooperative pool. Freed when released.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects, authenticates (`AUTH`) and selects the database (`SELECT`).
    init(url: RedisURL) throws(RedisFailure) {
        let seconds = url.timeout.components.seconds
        let microseconds = url.timeout.components.attoseconds / 1_000_000_000_000
        let timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(microseconds))
        guard let context = redisConnectWithTimeout(url.host, url.port, timeout) else {
            throw .connection("no memory for a connection")
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            throw .connection(message)
        }
        redisSetTimeout(context, timeout)
        self.context = context
        if let password = url.password {
            try expectOK(command(url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]))
        }
        if url.database != 0 { try expectOK(command(["SELECT", String(url.database)])) }
    }

    deinit {
        redisFree(context)
    }

    private func expectOK(_ reply: RedisValue) throws(RedisFailure) {
        if case .error(let message) = reply { throw .server(message) }
    }

    /// Sends one command and reads its reply (an error reply is returned, not thrown).
    func command(_ arguments: [String]) throws(RedisFailure) -> RedisValue {
        try pipeline([arguments])[0]
    }

    /// Sends the commands together and reads their replies, in order: one round trip. Error replies are
    /// returned in place, not thrown.
    func pipeline(_ commands: [[String]]) throws(RedisFailure) -> [RedisValue] {
        for arguments in commands { try append(arguments) }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw .connection(Self.errorText(context))
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.value(of: reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Queues one command in hiredis's output buffer (binary-safe: lengths are passed).
    private func append(_ arguments: [String]) throws(RedisFailure) {
        var bytes: [CChar] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(bytes.count)
            lengths.append(argument.utf8.count)
            bytes.append(contentsOf: argument.utf8.map { CChar(bitPattern: $0) })
        }
        bytes.append(0)  // a valid address for empty arguments
        let status = bytes.withUnsafeBufferPointer { buffer in
            var pointers: [UnsafePointer<CChar>?] = offsets.map { buffer.baseAddress! + $0 }
            return redisAppendCommandArgv(context, Int32(arguments.count), &pointers, lengths)
        }
        guard status == REDIS_OK else { throw .connection(Self.errorText(context)) }
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let reply = reply.pointee
        func text() -> String {
            guard let string = reply.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: string, count: reply.len), as: UTF8.self)
        }
        switch reply.type {
        case REDIS_REPLY_STRING: return .string(text())
        case REDIS_REPLY_STATUS: return .status(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(reply.integer)
        case REDIS_REPLY_ARRAY:
            return .array((0..<reply.elements).map { value(of: reply.element[$0]!) })
        default: return .null
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            let text = bytes.prefix { $0 != 0 }
            return text.isEmpty ? "the connection failed" : String(decoding: text, as: UTF8.self)
        }
    }
}
