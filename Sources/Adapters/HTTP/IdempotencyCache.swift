import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Remembers the responses of `POST /users` by `Idempotency-Key`, so that a retried request gets the first
/// response instead of registering twice.
///
/// A key is remembered with a digest of its request body for `lifetime` (24 h), at most `capacity` keys
/// (the oldest are forgotten first). The same key with another body is refused (422); a retry while the
/// first request is still running is refused too (409). The cache is per process: several instances behind
/// a load balancer need a sticky route for retries, or a shared cache (not provided here).
actor IdempotencyCache {
    struct Stored: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: ByteBuffer
    }

    enum Entry: Sendable {
        case running(digest: [UInt8])
        case done(digest: [UInt8], response: Stored, at: ContinuousClock.Instant)
    }

    enum Lookup: Sendable {
        /// No entry: the caller runs the request, then calls ``finish(_:digest:response:)`` or ``abandon(_:)``.
        case proceed
        case replay(Stored)
        case mismatch
        case inProgress
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private let capacity: Int
    private let lifetime: Duration

    init(capacity: Int = 10_000, lifetime: Duration = .seconds(24 * 3600)) {
        self.capacity = capacity
        self.lifetime = lifetime
    }

    func begin(_ key: String, digest: [UInt8]) -> Lookup {
        expire()
        switch entries[key] {
        case .running(let stored):
            return stored == digest ? .inProgress : .mismatch
        case .done(let stored, let response, _):
            return stored == digest ? .replay(response) : .mismatch
        case nil:
            entries[key] = .running(digest: digest)
            order.append(key)
            if order.count > capacity, let oldest = order.first {
                order.removeFirst()
                entries[oldest] = nil
            }
            return .proceed
        }
    }

    func finish(_ key: String, digest: [UInt8], response: Stored) {
        entries[key] = .done(digest: digest, response: response, at: .now)
    }

    /// Forgets a key whose request failed before it produced a response worth replaying.
    func abandon(_ key: String) {
        entries[key] = nil
        order.removeAll { $0 == key }
    }

    private func expire() {
        let now = ContinuousClock.now
        while let oldest = order.first, case .done(_, _, let at)? = entries[oldest], now - at > lifetime {
            order.removeFirst()
            entries[oldest] = nil
        }
    }

    /// A 64-bit FNV-1a digest of the body, twice with different offsets: enough to tell bodies apart.
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
