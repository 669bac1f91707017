#ifndef USER_DOMAIN_SQLITE_SUPPORT_H
#define USER_DOMAIN_SQLITE_SUPPORT_H

/// Applies the package's process-wide SQLite settings; call it before the process's first SQLite call.
///
/// - Memory statistics off: SQLite takes one global mutex on every allocation to keep them, for every
///   connection of the process.
/// - SQLite's mutexes as glibc's adaptive mutexes (on Linux): a contended lock spins briefly before the
///   thread sleeps, instead of sleeping at once. Every read transaction in WAL mode takes the shared-memory
///   index's mutex twice (to begin and to end), holding it across an `fcntl` call; readers on two threads
///   met there and slept in the kernel on most lookups.
///
/// Like every `sqlite3_config`, it changes nothing once SQLite has initialised (another library of the
/// process opened a database first): it then returns SQLITE_MISUSE and SQLite keeps its defaults, which
/// are correct, only slower.
///
/// Returns SQLITE_OK, or the first error code of `sqlite3_config`.
int user_domain_sqlite_configure_process(void);

#endif
