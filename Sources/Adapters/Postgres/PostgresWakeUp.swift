import CLibPQ
import Foundation
import UserPorts

/// A wake-up channel for a thread that waits in `poll` (on a libpq socket, or on nothing during a backoff):
/// ``signal()`` makes ``readFD`` readable for good, so the thread's next or current wait returns at once.
///
/// The descriptors are closed when the channel is freed, never before: the thread and whoever stops it
/// both hold it, so neither can write to or poll a descriptor number that was closed and reused.
final class PostgresWakeUp: Sendable {
    /// The end to poll (`user_domain_wait`).
    let readFD: Int32
    private let writeFD: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard user_domain_wake_open(&fds) == 0 else {
            throw UserStoreError(.internal, "Could not create a wake-up pipe (errno \(errno)).")
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Wakes the waiting thread now and every later wait: the channel is not reset.
    func signal() {
        user_domain_wake_signal(writeFD)
    }
}
