import Foundation

/// A value guarded by a lock: the package's one primitive for shared mutable state outside actors.
///
/// It wraps `NSLock` (a `pthread_mutex_t`) rather than `Synchronization.Mutex` because on Linux `Mutex`
/// synchronises through raw futex calls that ThreadSanitizer can't see: every access under it is reported
/// as a race, which would make `swift test --sanitize=thread` useless for this package. pthread mutexes
/// are intercepted by ThreadSanitizer, so real races stay visible.
///
/// Guard a value, not `()`: ThreadSanitizer reported the inout access to a zero-sized state as racing with a
/// read of an object's header (the state has no storage of its own), so a bare lock is a `Locked` of what
/// it protects (`LineLogWriter` in UserApp guards its file descriptor).
package final class Locked<State>: @unchecked Sendable {
    // @unchecked Sendable is sound: `state` is private and only ever read or written inside `withLock`,
    // while `lock` is held, so no two threads access it at once; and State is required to be Sendable by
    // the initialiser, so values moved in and out may cross threads.
    private let lock = NSLock()
    private var state: State

    /// Guards `initial`.
    package init(_ initial: State) where State: Sendable {
        self.state = initial
    }

    /// Runs `body` with exclusive access to the state.
    package func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }
}
