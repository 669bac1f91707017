import Dispatch
package import Foundation
import UserPorts

#if canImport(Glibc)
import Glibc
#endif

/// A child process for the package's tests, started with `posix_spawn`: the part of Foundation's `Process` the
/// tests use, without its crash.
///
/// Foundation's `Process.run()` on Linux lists `/proc/self/fd` to close the parent's descriptors in the child, and
/// copies each entry's whole 256-byte `d_name` out of `readdir`'s buffer: past the buffer's end for the last entries
/// of a large listing. With the ~1,400 descriptors a test run holds, that read crossed into an unmapped page and
/// the test process died with SIGSEGV in CI (a `memcpy` of "1399"); AddressSanitizer names it
/// (heap-buffer-overflow in `findMaximumOpenFromProcSelfFD`). Here the names are read in place.
///
/// Like `Process`, the child gets its own process group, inherits standard input, and keeps no other descriptor of
/// the parent than the standard output and error it is given. Set the properties, then ``run()`` once.
package final class ChildProcess: @unchecked Sendable {
    // @unchecked Sendable is sound: the configuration (the `var`s) is set by one caller before `run()` and only
    // read by `run()` on that caller's thread; everything after the start is in `state`, behind its lock, and the
    // semaphore is thread-safe.

    /// The program.
    package var executableURL: URL?
    /// Its arguments, without the program's name.
    package var arguments: [String] = []
    /// Its environment; the parent's when `nil`.
    package var environment: [String: String]?
    /// A `FileHandle` or a `Pipe` (its write end goes to the child); the parent's when `nil`.
    package var standardOutput: Any?
    /// A `FileHandle` or a `Pipe`; the parent's when `nil`.
    package var standardError: Any?
    /// Called once the child has ended, on a thread of its own.
    package var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    private let state = Locked<(pid: pid_t, status: Int32?)>((0, nil))
    private let ended = DispatchSemaphore(value: 0)

    package init() {}

    /// The child's process id (0 before ``run()``).
    package var processIdentifier: Int32 { state.withLock { $0.pid } }

    /// Whether the child was started and has not ended.
    package var isRunning: Bool { state.withLock { $0.pid != 0 && $0.status == nil } }

    /// The exit code, or the number of the signal that ended it; 0 while it runs.
    package var terminationStatus: Int32 { state.withLock { $0.status ?? 0 } }

    /// Starts the child.
    ///
    /// - Throws: `POSIXError` when it can't be started.
    package func run() throws {
        guard let path = executableURL?.path else { throw POSIXError(.ENOENT) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var kept: Set<Int32> = [0, 1, 2]
        for (output, target) in [(standardOutput, Int32(1)), (standardError, Int32(2))] {
            guard let descriptor = Self.writingDescriptor(output) else { continue }
            posix_spawn_file_actions_adddup2(&actions, descriptor, target)
        }
        for descriptor in Self.openDescriptors() where !kept.contains(descriptor) {
            posix_spawn_file_actions_addclose(&actions, descriptor)
            kept.insert(descriptor)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let environment = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO) }
        state.withLock { $0.pid = pid }
        // As Process does: the parent's write ends of pipes are closed, so that readers see the end.
        for output in [standardOutput, standardError] {
            if let pipe = output as? Pipe { try? pipe.fileHandleForWriting.close() }
        }
        let thread = Thread { [self, pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            let low = status & 0x7f
            state.withLock { $0.status = low == 0 ? (status >> 8) & 0xff : low }
            ended.signal()
            terminationHandler?(self)
        }
        thread.name = "child-process.wait"
        thread.start()
    }

    /// Blocks until the child has ended.
    package func waitUntilExit() {
        guard processIdentifier != 0 else { return }
        ended.wait()
        ended.signal()  // for the next waiter
    }

    /// Sends SIGTERM.
    package func terminate() {
        let pid = processIdentifier
        if pid != 0 { kill(pid, SIGTERM) }
    }

    private static func writingDescriptor(_ output: Any?) -> Int32? {
        switch output {
        case let pipe as Pipe: pipe.fileHandleForWriting.fileDescriptor
        case let handle as FileHandle: handle.fileDescriptor
        default: nil
        }
    }

    /// The parent's open descriptors above 2, read from `/proc/self/fd` with each name read in place.
    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let listing = dirfd(directory)
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if let descriptor = Int32(name), descriptor > 2, descriptor != listing { descriptors.append(descriptor) }
        }
        return descriptors
    }
}
