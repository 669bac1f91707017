public import Foundation
public import UserPorts
import ServiceSupport

/// A file of users to import: JSON lines or CSV, read into registrations with their line numbers.
///
/// - JSON lines: one object per line with the string fields `email` and `displayName`; other fields (the
///   rest of what `users export` writes) are ignored; blank lines are skipped.
/// - CSV (RFC 4180): a header row naming the columns `email` and `displayName` (also `display_name` or
///   `name`), in any order, among others; fields may be quoted, with `""` for a quote and line breaks inside
///   quotes. A UTF-8 byte order mark is skipped.
///
/// A record that can't be read is kept as a rejection with its line number and reason, so one bad line
/// never stops the rest.
public struct UserImportFile: Sendable {
    /// The file formats.
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON object per line.
        case jsonLines = "jsonl"
        /// Comma-separated values with a header row.
        case csv
    }

    /// One record of the file: where it starts and what it holds.
    public struct Record: Sendable, Equatable {
        /// The line the record starts on, from 1.
        public let line: Int
        /// The registration, or why the record could not be read.
        public let content: Result<Registration, ReadError>

        /// Creates a record.
        public init(line: Int, content: Result<Registration, ReadError>) {
            self.line = line
            self.content = content
        }
    }

    /// Why a record could not be read.
    public struct ReadError: Error, Sendable, Equatable, CustomStringConvertible {
        /// A sentence for a person.
        public let description: String
    }

    /// The records in file order.
    public let records: [Record]

    /// Reads a whole file.
    ///
    /// - Throws: ``ReadError`` when the file as a whole can't be read: a CSV without a header naming the
    ///   `email` and `displayName` columns, or text that is not UTF-8.
    public init(data: Data, format: Format) throws(ReadError) {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw ReadError(description: "The file is not UTF-8 text.")
        }
        switch format {
        case .jsonLines: records = Self.readJSONLines(bytes)
        case .csv: records = try Self.readCSV(bytes)
        }
    }

    /// The format a file name suggests: CSV for `.csv`, JSON lines otherwise.
    public static func format(forPath path: String) -> Format {
        path.lowercased().hasSuffix(".csv") ? .csv : .jsonLines
    }

    // MARK: JSON lines

    private struct JSONRecord: Decodable {
        let email: String
        let displayName: String
    }

    private static func readJSONLines(_ bytes: [UInt8]) -> [Record] {
        var records: [Record] = []
        let decoder = JSONDecoder()
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let content: Result<Registration, ReadError>
            if let record = try? decoder.decode(JSONRecord.self, from: Data(line)) {
                content = .success(Registration(email: record.email, displayName: record.displayName))
            } else if (try? JSONSerialization.jsonObject(with: Data(line))) is [String: Any] {
                content = .failure(ReadError(description: "The object needs the string fields email and displayName."))
            } else {
                content = .failure(ReadError(description: "The line is not a JSON object."))
            }
            records.append(Record(line: index + 1, content: content))
        }
        return records
    }

    // MARK: CSV

    private static func readCSV(_ bytes: [UInt8]) throws(ReadError) -> [Record] {
        var rows = CSVRows(bytes)
        guard let header = rows.next() else {
            throw ReadError(description: "The CSV file is empty; it needs a header row with email and displayName.")
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let emailColumn = names.firstIndex(of: "email"),
            let nameColumn = names.firstIndex(where: { ["displayname", "display_name", "name"].contains($0) })
        else {
            throw ReadError(
                description: "The CSV header (line 1) must name the columns email and displayName; it names "
                    + header.fields.map { "\"\($0)\"" }.joined(separator: ", ") + ".")
        }
        var records: [Record] = []
        while let row = rows.next() {
            if row.fields.count == 1 && row.fields[0].isEmpty { continue }
            let content: Result<Registration, ReadError>
            if let problem = row.problem {
                content = .failure(ReadError(description: problem))
            } else if row.fields.count != header.fields.count {
                content = .failure(
                    ReadError(
                        description: "The row has \(row.fields.count) fields; the header has \(header.fields.count)."))
            } else {
                content = .success(Registration(email: row.fields[emailColumn], displayName: row.fields[nameColumn]))
            }
            records.append(Record(line: row.line, content: content))
        }
        return records
    }
}

/// The rows of RFC 4180 CSV text, each with the line it starts on.
private struct CSVRows: IteratorProtocol {
    struct Row {
        var line: Int
        var fields: [String]
        var problem: String?
    }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func next() -> Row? {
        guard index < bytes.count else { return nil }
        var row = Row(line: line, fields: [])
        var field: [UInt8] = []
        var quoted = false
        var afterQuote = false
        func finishField() {
            row.fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            quoted = false
            afterQuote = false
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: ","):
                finishField()
            case UInt8(ascii: "\n"):
                line += 1
                finishField()
                return row
            case UInt8(ascii: "\r") where index < bytes.count && bytes[index] == UInt8(ascii: "\n"):
                continue
            case UInt8(ascii: "\"") where field.isEmpty && !afterQuote:
                quoted = true
            default:
                if afterQuote || byte == UInt8(ascii: "\"") {
                    row.problem = row.problem ?? "A quote is misplaced: a quoted field must be quoted whole."
                }
                field.append(byte)
            }
        }
        if quoted { row.problem = "A quoted field is not closed before the end of the file." }
        finishField()
        return row
    }
}
