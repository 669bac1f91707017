import UserDomain

/// Turns per user: the commands of one service on one user run one at a time, in arrival order, instead of
/// racing each other to a version conflict and retrying. (A waiter is a suspended task, not a thread.)
final class UserTurns: Sendable {
    private let waiting = Locked<[UserID: [CheckedContinuation<Void, Never>]]>([:])

    /// Waits until no other command of this service runs on `id`.
    func begin(_ id: UserID) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let mine = waiting.withLock { waiting -> Bool in
                guard waiting[id] != nil else {
                    waiting[id] = []
                    return true
                }
                waiting[id]!.append(continuation)
                return false
            }
            if mine { continuation.resume() }
        }
    }

    /// Ends the turn on `id`, giving it to the next waiter.
    func end(_ id: UserID) {
        let next = waiting.withLock { waiting -> CheckedContinuation<Void, Never>? in
            guard var queue = waiting[id], !queue.isEmpty else {
                waiting[id] = nil
                return nil
            }
            let next = queue.removeFirst()
            waiting[id] = queue
            return next
        }
        next?.resume()
    }
}
