import Dispatch

/// An executor that runs its jobs on one serial dispatch queue: a thread owned by a connection, never
/// Swift's cooperative pool, so C calls that wait (SQLite on a lock or the disk, libpq on the network) block
/// only this queue. An actor that owns a connection uses it as its executor.
package final class QueueExecutor: SerialExecutor {
    private let queue: DispatchQueue

    package init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async {
            job.runSynchronously(on: self.asUnownedSerialExecutor())
        }
    }

    package func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}
