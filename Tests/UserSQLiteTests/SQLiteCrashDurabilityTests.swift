import CSQLite
import Foundation
import Testing
import UserPortsTesting
import UserDomain
import UserPorts
@testable import UserSQLite

@Suite("SQLite crash durability", .plainPassOnly)
struct SQLiteCrashDurabilityTests {
    /// The `sqlite-crash-writer` executable, built next to the test binary.
    static var writerURL: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("sqlite-crash-writer")
    }

    @Test("configureProcess() in a process that has not used SQLite yet: the settings take")
    func processSettingsApply() async throws {
        // The blocking reads and the wait run on a Dispatch thread, not the cooperative pool.
        let text = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        let process = ChildProcess()
                        process.executableURL = Self.writerURL
                        process.arguments = ["configure-process"]
                        let output = Pipe()
                        process.standardOutput = output
                        try process.run()
                        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                        process.waitUntilExit()
                        return text
                    })
            }
        }
        // "too late" would mean something in the process initialised SQLite first: the settings lost silently.
        #expect(text == "applied\n")
    }

    /// Starts the writer, reads its output until it printed `killAfter` ids, SIGKILLs it, and returns every
    /// id it printed completely.
    static func runAndKill(path: String, killAfter: Int) async throws -> [UserID] {
        try await withCheckedThrowingContinuation { continuation in
            // Blocking pipe reads run on a dispatch thread, not the cooperative pool.
            DispatchQueue.global().async {
                do {
                    let process = ChildProcess()
                    process.executableURL = writerURL
                    process.arguments = [path]
                    let output = Pipe()
                    process.standardOutput = output
                    try process.run()
                    var data = Data()
                    var lines = 0
                    while lines < killAfter {
                        let chunk = output.fileHandleForReading.availableData
                        if chunk.isEmpty { break }
                        data.append(chunk)
                        lines = data.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                    }
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    data.append(output.fileHandleForReading.readDataToEndOfFile())
                    // Only complete lines count: a line cut by the kill was never fully printed.
                    let text = String(decoding: data, as: UTF8.self)
                    let complete =
                        text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
                    continuation.resume(returning: complete.split(separator: "\n").compactMap { UserID(String($0)) })
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    @Test("SIGKILL mid-stream, 20 times: every printed user and its event survive, nothing partial, integrity ok")
    func killedWriter() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.writerURL.path), "\(Self.writerURL.path)")
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("crash.sqlite").path
            var printed: [UserID] = []
            for round in 0..<20 {
                let ids = try await Self.runAndKill(path: path, killAfter: [1, 7, 40, 150][round % 4])
                #expect(!ids.isEmpty, "round \(round): the writer printed nothing")
                printed += ids

                let store = try await SQLiteUserStore.open(.init(path: path, readerCount: 1))
                for id in ids {
                    #expect(try await store.user(id: id) != nil, "round \(round): printed user \(id) is missing")
                }
                var stored: [UserID] = []
                var cursor: PageCursor?
                repeat {
                    let page = try await store.page(after: cursor, limit: 1000)
                    stored += page.users.map(\.id)
                    cursor = page.nextCursor
                } while cursor != nil
                let events = try await store.unpublishedEvents(limit: 1_000_000)
                // No partial write: every stored user has exactly its registration event, and no event
                // exists without its user.
                #expect(events.count == stored.count, "round \(round)")
                #expect(Set(events.map(\.envelope.userID)) == Set(stored), "round \(round)")
                #expect(events.allSatisfy { $0.envelope.type == "user.registered" })
                #expect(Set(printed).isSubset(of: Set(stored)), "round \(round)")
                await store.close()

                let connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
                #expect(try connection.scalarText("PRAGMA integrity_check") == "ok", "round \(round)")
            }
        }
    }
}
