public import Foundation
public import UserDomain

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The source of new user and event ids: a port so that tests can fix them.
public protocol IdentifierGenerator: Sendable {
    /// A new, unique user id.
    func makeUserID() -> UserID
    /// A new, unique event id.
    func makeEventID() -> UUID
}

/// Generates time-ordered UUIDs (version 7, RFC 9562): 48 bits of Unix milliseconds, then a 12-bit
/// sequence, then 62 random bits.
///
/// Ids from one generator are strictly increasing: within one millisecond the sequence counts up from a
/// random start, and a clock that steps back does not make ids go back. New rows therefore land at the end
/// of an id index, which keeps inserts cheap.
public final class UUIDv7Generator: IdentifierGenerator {
    private struct State {
        var lastMilliseconds: UInt64 = 0
        var sequence: UInt16 = 0
        var random = RandomWords()
    }

    private let state = Locked(State())

    /// The process-wide generator: ids from it are ordered across every service that uses it.
    public static let shared = UUIDv7Generator()

    /// Creates a generator; its ids are ordered among themselves (use ``shared`` to order them across a
    /// process).
    public init() {}

    /// A new time-ordered user id.
    public func makeUserID() -> UserID { UserID(next()) }

    /// A new time-ordered event id.
    public func makeEventID() -> UUID { next() }

    private func next() -> UUID {
        let now = UInt64(max(0, Date().epochMilliseconds))
        let (milliseconds, sequence, random) = state.withLock { state -> (UInt64, UInt16, UInt64) in
            if now > state.lastMilliseconds {
                state.lastMilliseconds = now
                // Start low in the sequence space so that many ids fit in one millisecond.
                state.sequence = UInt16(truncatingIfNeeded: state.random.next() & 0x3FF)
            } else if state.sequence < 0xFFF {
                state.sequence += 1
            } else {
                // 4096 ids in one millisecond: borrow the next millisecond rather than repeat or go back.
                state.lastMilliseconds += 1
                state.sequence = 0
            }
            return (state.lastMilliseconds, state.sequence, state.random.next())
        }
        return UUID.version7(unixMilliseconds: milliseconds, sequence: sequence, random: random)
    }
}

/// Random words from the system's CSPRNG, fetched 64 at a time: one `getrandom` per 64 draws instead of one
/// per id (a system call per id showed in the write profile, and one per request in the HTTP profile).
/// A value type: keep it under the lock of the state it belongs to.
package struct RandomWords: Sendable {
    private var words = [UInt64](repeating: 0, count: 64)
    private var used = 64

    /// An empty buffer; the first draw fills it.
    package init() {}

    /// The next random word.
    package mutating func next() -> UInt64 {
        if used == words.count {
            // The kernel's CSPRNG (getrandom on Linux), through the C library (glibc 2.36+, Darwin).
            words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            used = 0
        }
        defer { used += 1 }
        return words[used]
    }
}
