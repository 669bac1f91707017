import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceSupport

/// Remembers the responses of `POST /users` by `Idempotency-Key`, so that a retried request gets the first
/// response instead of registering twice.
///
/// Keys are scoped by caller: the same key sent with another bearer token (or, without tokens, by the
/// anonymous loopback caller) is another key, so a client that guesses someone else's key gets nothing of
/// theirs. A key is remembered with a digest of its request body for `lifetime` (24 h). The cache is bounded
/// twice: at most `capacity` keys and at most `maximumBytes` of stored responses (bodies, headers and keys);
/// past either bound the oldest keys are forgotten first, in O(1) per key (a queue in insertion order, with
/// entries that were abandoned skipped when they reach its front and compacted away when they outnumber the
/// live ones, so the cost stays amortised O(1)). A response larger than `maximumBytes` is not stored: its
/// retry runs again, which the store's unique e-mail makes safe.
///
/// The same key with another body is refused (422); a retry while the first request is still running is
/// refused too (409). The cache is per process: several instances behind a load balancer need a sticky route
/// for retries, or a shared cache (not provided here).
actor IdempotencyCache {
    struct Stored: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: ByteBuffer

        /// The bytes this response holds in memory, roughly: body, header names and values.
        var size: Int {
            headers.reduce(body.readableBytes) { $0 + $1.name.rawName.utf8.count + $1.value.utf8.count + 16 }
        }
    }

    enum Lookup: Sendable {
        /// No entry: the caller runs the request, then calls ``finish(_:digest:response:)`` or ``abandon(_:)``.
        case proceed
        case replay(Stored)
        case mismatch
        case inProgress
    }

    /// A key within its caller's scope.
    struct Key: Hashable, Sendable {
        let scope: String
        let key: String
    }

    private struct Entry {
        let sequence: UInt64
        let digest: [UInt8]
        var response: Stored?
        var finishedAt: ContinuousClock.Instant?
        var size: Int
    }

    private var entries: [Key: Entry] = [:]
    /// Keys in insertion order, with the sequence number they were inserted with: an element whose sequence
    /// is not its key's current entry's is a leftover of an abandoned or evicted entry.
    private var order = CircularBuffer<(key: Key, sequence: UInt64)>()
    private var nextSequence: UInt64 = 0
    private var bytes = 0
    private let capacity: Int
    private let maximumBytes: Int
    private let lifetime: Duration

    init(capacity: Int = 10_000, maximumBytes: Int = 16 << 20, lifetime: Duration = .seconds(24 * 3600)) {
        self.capacity = max(1, capacity)
        self.maximumBytes = max(0, maximumBytes)
        self.lifetime = lifetime
    }

    /// The bytes the stored responses hold (for tests and metrics).
    var storedBytes: Int { bytes }
    /// The keys remembered.
    var count: Int { entries.count }

    func begin(_ key: Key, digest: [UInt8]) -> Lookup {
        expire()
        if let entry = entries[key] {
            guard entry.digest == digest else { return .mismatch }
            return entry.response.map { .replay($0) } ?? .inProgress
        }
        nextSequence += 1
        let size = key.scope.utf8.count + key.key.utf8.count + digest.count + 64
        entries[key] = Entry(sequence: nextSequence, digest: digest, size: size)
        order.append((key, nextSequence))
        bytes += size
        evict()
        return .proceed
    }

    func finish(_ key: Key, digest: [UInt8], response: Stored) {
        // Gone when it was evicted while the request ran: nothing to remember then.
        guard var entry = entries[key], entry.response == nil, entry.digest == digest else { return }
        let size = response.size
        guard size <= maximumBytes else {
            remove(key)
            return
        }
        entry.response = response
        entry.finishedAt = .now
        entry.size += size
        bytes += size
        entries[key] = entry
        evict()
    }

    /// Forgets a key whose request failed before it produced a response worth replaying.
    func abandon(_ key: Key) {
        remove(key)
    }

    private func remove(_ key: Key) {
        guard let entry = entries.removeValue(forKey: key) else { return }
        bytes -= entry.size
        // Its place in `order` is skipped when it reaches the front; compact when leftovers dominate.
        if order.count > 2 * entries.count + 64 {
            order = CircularBuffer(order.filter { entries[$0.key]?.sequence == $0.sequence })
        }
    }

    /// Forgets the oldest keys while either bound is exceeded.
    private func evict() {
        while entries.count > capacity || bytes > maximumBytes, let oldest = order.popFirst() {
            if entries[oldest.key]?.sequence == oldest.sequence { dropFront(oldest.key) }
        }
    }

    /// Forgets the oldest keys whose responses are older than the lifetime.
    private func expire() {
        let now = ContinuousClock.now
        while let oldest = order.first {
            guard let entry = entries[oldest.key], entry.sequence == oldest.sequence else {
                _ = order.popFirst()  // a leftover
                continue
            }
            guard let finishedAt = entry.finishedAt, now - finishedAt > lifetime else { return }
            _ = order.popFirst()
            dropFront(oldest.key)
        }
    }

    private func dropFront(_ key: Key) {
        if let entry = entries.removeValue(forKey: key) { bytes -= entry.size }
    }

    /// A 64-bit FNV-1a digest of the request's fields, twice with different offsets: enough to tell a
    /// caller's own requests apart (keys are scoped by caller, so no one else's request is compared with it).
    static func digest(_ bytes: ByteBuffer) -> [UInt8] {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in bytes.readableBytesView {
            first = (first ^ UInt64(byte)) &* 0x100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 1
        }
        return withUnsafeBytes(of: (first, second)) { Array($0) }
    }
}
