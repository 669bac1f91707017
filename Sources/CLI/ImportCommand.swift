import ArgumentParser
import Foundation
import ServiceSupport
import UserApp
import UserDomain
import UserPorts

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Register users from a JSON lines or CSV file, in batched transactions with their events.",
        discussion: """
            JSON lines: one object per line with "email" and "displayName" (what `users export` writes also \
            works). CSV: a header row naming the columns email and displayName. Each rejected record is \
            reported with its line number and the import goes on. Rerunning an import is safe: e-mails that \
            are already present are reported, not registered twice. Exit status 0 when every record was \
            imported or already present, 65 when some record was invalid.
            """)

    @OptionGroup var options: StoreFlags

    @Argument(help: "The file to import, or - for standard input.")
    var file: String

    @Option(help: "jsonl or csv (default: csv for a .csv file, JSON lines otherwise).")
    var format: String?

    @Option(help: "Users per transaction (1…10000).")
    var batchSize = 1000

    @Flag(help: "Report rejections as JSON lines on stdout ({\"line\":…,\"code\":…,\"reason\":…}).")
    var json = false

    func validate() throws {
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be in 1…10000.") }
        if let format, UserImportFile.Format(rawValue: format) == nil {
            throw ValidationError("--format must be jsonl or csv.")
        }
    }

    func run() async throws {
        let data: Data
        do {
            data =
                file == "-"
                ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            FileHandle.standardError.write(Data("users: can't read \(file).\n".utf8))
            throw Exit.noInput
        }
        let input: UserImportFile
        do {
            input = try UserImportFile(
                data: data, format: format.flatMap(UserImportFile.Format.init) ?? UserImportFile.format(forPath: file))
        } catch {
            FileHandle.standardError.write(Data("users: \(file): \(error.description)\n".utf8))
            throw Exit.invalidInput
        }
        var report = ImportReport(total: input.records.count, json: json)
        // The reason for an already present e-mail names no address (stores never say whose it is); the line
        // number is how to find it.
        try await withUsers(options) { users in
            var start = 0
            while start < input.records.count {
                let slice = input.records[start..<min(start + batchSize, input.records.count)]
                start = slice.endIndex
                var registrations: [Registration] = []
                var lines: [Int] = []
                var rejections: [(line: Int, code: String, reason: String)] = []
                for record in slice {
                    switch record.content {
                    case .success(let registration):
                        registrations.append(registration)
                        lines.append(record.line)
                    case .failure(let error):
                        rejections.append((record.line, "unreadable-record", error.description))
                    }
                }
                for (line, result) in zip(lines, try await users.register(registrations)) {
                    switch result {
                    case .success: report.imported += 1
                    case .failure(let error): rejections.append((line, error.code, error.description))
                    }
                }
                for rejection in rejections.sorted(by: { $0.line < $1.line }) {
                    report.reject(line: rejection.line, code: rejection.code, reason: rejection.reason)
                }
                report.showProgress(done: start)
            }
        }
        report.finish()
        if report.invalid > 0 { throw Exit.invalidInput }
    }
}

/// What an import did, reported as it goes.
private struct ImportReport {
    let total: Int
    let json: Bool
    let showsProgress = isatty(STDERR_FILENO) == 1
    var imported = 0
    var present = 0
    var invalid = 0

    mutating func reject(line: Int, code: String, reason: String) {
        if code == "email-taken" { present += 1 } else { invalid += 1 }
        if json {
            let object: [String: Any] = ["line": line, "code": code, "reason": reason]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
        } else {
            clearProgress()
            let label = code == "email-taken" ? "already present" : "rejected"
            FileHandle.standardError.write(Data("line \(line): \(label): \(reason)\n".utf8))
        }
    }

    func showProgress(done: Int) {
        guard showsProgress else { return }
        FileHandle.standardError.write(
            Data("\rimporting: \(done) of \(total) records, \(imported) imported".utf8))
    }

    func clearProgress() {
        if showsProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    func finish() {
        clearProgress()
        let summary =
            "imported \(imported) users, \(present) already present, \(invalid) rejected (\(total) records)\n"
        FileHandle.standardError.write(Data(summary.utf8))
    }
}
