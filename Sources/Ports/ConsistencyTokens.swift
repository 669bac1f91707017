/// Where the commands of ``UserUseCases/withConsistencyToken(_:)`` record their positions: a task-local
/// recorder, so concurrent requests never see each other's tokens.
enum ConsistencyTokens {
    final class Recorder: Sendable {
        private let last = Locked<EventPosition?>(nil)
        var position: EventPosition? { last.withLock { $0 } }
        func record(_ position: EventPosition) { last.withLock { $0 = max($0 ?? position, position) } }
    }

    @TaskLocal static var current: Recorder?

    static func record(_ position: EventPosition?) {
        if let position { current?.record(position) }
    }
}
