import CSQLite
import CSQLiteSupport
import UserPorts

extension SQLiteUserStore {
    /// What ``configureProcess()`` did.
    public enum ProcessConfiguration: Sendable, Hashable {
        /// The settings took: they hold for every SQLite connection of the process.
        case applied
        /// SQLite had initialised before the call (the process used SQLite already): SQLite keeps its own
        /// settings, which are correct, only slower under concurrent reads.
        case tooLate
    }

    /// Tunes SQLite for this whole process; an opt-in, which `users serve` and the other `users` commands
    /// take for their own process (`users.sqlite.tuneProcess`).
    ///
    /// Two process-wide settings (`sqlite3_config`), for every SQLite connection of the process, this
    /// package's or not:
    /// - memory statistics off (SQLite takes a global mutex on every allocation to keep them);
    /// - on Linux with glibc, SQLite's mutexes as adaptive mutexes: a contended lock spins briefly before the
    ///   thread sleeps. Every WAL read transaction takes the shared-memory index's mutex to begin and to end;
    ///   concurrent lookups met there and slept in the kernel. Measured with the users-v1 workload
    ///   (`Benchmarks/run.sh`, concurrentGet): 153,998–167,862 lookups/s without, 219,640–324,791 with.
    ///
    /// Neither changes what SQLite does, only how fast. Call it before the process's first SQLite call (before
    /// opening a store): afterwards it can't take effect, and says so. Calling it again returns the first
    /// call's result.
    @discardableResult
    public static func configureProcess() -> ProcessConfiguration {
        requested.withLock { $0 = true }
        return processResult == SQLITE_OK ? .applied : .tooLate
    }

    /// Whether ``configureProcess()`` was called in this process (a store never calls it by itself).
    package static var processConfigurationRequested: Bool { requested.withLock { $0 } }

    /// The result of `sqlite3_config`, run once per process on first use.
    private static let processResult: Int32 = user_domain_sqlite_configure_process()
    private static let requested = Locked(false)
}
