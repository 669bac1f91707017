import Foundation
import Logging
import Testing
@testable import ServiceSupport
import UserApp

@Suite("Log lines")
struct LineLogHandlerTests {
    @Test("a line: UTC time, level, label, message, then metadata sorted by key, the event's winning")
    func format() async throws {
        try await Self.withFileWriter { writer, contents in
            var logger = Logger(label: "users") { LineLogHandler(label: $0, writer: writer) }
            logger[metadataKey: "zone"] = "handler"
            logger[metadataKey: "shared"] = "handler"
            logger.warning("GET /users/x 200", metadata: ["shared": "event", "count": .stringConvertible(3)])
            let line = try contents()
            let pattern =
                #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning users: GET /users/x 200 count=3 shared=event zone=handler\n$/#
            #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
        }
    }

    @Test("warnings are written before log returns, with every line before them, in order")
    func immediateWarnings() async throws {
        try await Self.withFileWriter { writer, contents in
            var logger = Logger(label: "users") { LineLogHandler(label: $0, writer: writer) }
            logger.logLevel = .debug
            for index in 0..<50 { logger.info("line \(index)") }
            logger.error("failed")
            let lines = try contents().split(separator: "\n").map { $0.split(separator: ": ", maxSplits: 1)[1] }
            #expect(lines == (0..<50).map { "line \($0)" } + ["failed"])
        }
    }

    @Test("info lines are batched off the caller's thread, and all of them arrive")
    func batchedLines() async throws {
        try await Self.withFileWriter { writer, contents in
            let logger = Logger(label: "users") { LineLogHandler(label: $0, writer: writer) }
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask { for index in 0..<100 { logger.info("task \(task) line \(index)") } }
                }
            }
            var text = try contents()
            // Until all of them arrived; the five minutes are a safety net against a hang, not a deadline.
            let deadline = ContinuousClock.now + .seconds(300)
            while text.split(separator: "\n").count < 800, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
                text = try contents()
            }
            let lines = text.split(separator: "\n")
            #expect(lines.count == 800)
            // Whole lines only (no interleaving), each task's lines in its order.
            for task in 0..<8 {
                let mine = lines.filter { $0.contains("task \(task) line") }.map { $0.split(separator: " ").last! }
                #expect(mine == (0..<100).map { Substring(String($0)) })
            }
        }
    }

    /// A writer to a fresh temporary file, and a way to read what reached the file.
    static func withFileWriter(
        _ body: (LineLogWriter, @escaping () throws -> String) async throws -> Void
    ) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        let descriptor = open(path, O_CREAT | O_WRONLY | O_APPEND, 0o600)
        try #require(descriptor >= 0)
        defer {
            close(descriptor)
            unlink(path)
        }
        try await body(LineLogWriter(descriptor: descriptor)) {
            String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        }
    }
}
