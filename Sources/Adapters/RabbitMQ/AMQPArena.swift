import CRabbitMQ
import Foundation

/// Memory for the C structures of one AMQP call (strings, field tables), freed together when the arena
/// goes away. Used within one call on a connection's queue; never shared, never Sendable.
final class AMQPArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for pointer in allocations { free(pointer) }
    }

    /// A copy of `text`'s UTF-8 bytes (no terminator), alive as long as the arena.
    func bytes(_ text: String) -> amqp_bytes_t {
        var utf8 = Array(text.utf8)
        let count = utf8.count
        guard let pointer = malloc(max(1, count)) else { return amqp_bytes_t(len: 0, bytes: nil) }
        allocations.append(pointer)
        utf8.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { pointer.copyMemory(from: base, byteCount: count) }
        }
        return amqp_bytes_t(len: count, bytes: pointer)
    }

    /// A field value of a table.
    enum Field {
        case string(String)
        case integer(Int64)
    }

    /// A field table of `entries`, alive as long as the arena.
    func table(_ entries: [(String, Field)]) -> amqp_table_t {
        guard !entries.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let size = MemoryLayout<amqp_table_entry_t>.stride * entries.count
        guard let raw = calloc(1, size) else { return amqp_table_t(num_entries: 0, entries: nil) }
        allocations.append(raw)
        let pointer = raw.bindMemory(to: amqp_table_entry_t.self, capacity: entries.count)
        for (index, (key, field)) in entries.enumerated() {
            var value = amqp_field_value_t()
            switch field {
            case .string(let text):
                value.kind = UInt8(ascii: "S")  // AMQP_FIELD_KIND_UTF8
                value.value.bytes = bytes(text)
            case .integer(let number):
                value.kind = UInt8(ascii: "l")  // AMQP_FIELD_KIND_I64
                value.value.i64 = number
            }
            pointer[index] = amqp_table_entry_t(key: bytes(key), value: value)
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: pointer)
    }
}

extension amqp_bytes_t {
    /// The bytes as a string (UTF-8, invalid sequences repaired); empty for none.
    var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }

    /// A copy of the bytes.
    var data: Data {
        guard len > 0, let bytes else { return Data() }
        return Data(bytes: bytes, count: len)
    }
}

extension amqp_table_t {
    /// The entries whose values are strings or integers, as text (others are left out).
    var textEntries: [String: String] {
        var result: [String: String] = [:]
        guard num_entries > 0, let entries else { return result }
        for index in 0..<Int(num_entries) {
            let entry = entries[index]
            let key = entry.key.string
            switch entry.value.kind {
            case UInt8(ascii: "S"), UInt8(ascii: "x"): result[key] = entry.value.value.bytes.string
            case UInt8(ascii: "l"): result[key] = String(entry.value.value.i64)
            case UInt8(ascii: "I"): result[key] = String(entry.value.value.i32)
            case UInt8(ascii: "L"): result[key] = String(entry.value.value.u64)
            case UInt8(ascii: "i"): result[key] = String(entry.value.value.u32)
            default: break
            }
        }
        return result
    }
}

extension timeval {
    /// `duration` as a `timeval` (at least 1 ms, so that 0 never means "return at once" by accident).
    init(_ duration: Duration) {
        let microseconds = max(1000, duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
        self.init(tv_sec: Int(microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
    }
}
