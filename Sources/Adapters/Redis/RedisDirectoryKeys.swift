import Foundation
import UserDomain
import UserPorts

/// The keys of one directory in Redis, all under its prefix, and how a row is written in them.
///
/// - `<prefix>meta` (hash): `epoch` (a random id, new at each reset: a directory that lost it lost its
///   data), `position` (the backfill position), `format` (the layout's version, 1);
/// - `<prefix>u:<id>` (string): a user's row, the tombstone of a deleted one included (``encode(_:)``);
/// - `<prefix>ids` (set): every id with a row, so that a reset finds them;
/// - `<prefix>names` (sorted set, all scores 0): `<display name folded> NUL <id>` of each user shown, in byte
///   order: what the SQL replicas' `ORDER BY display_name_folded COLLATE "C", id` is;
/// - `<prefix>emails` (sorted set, all scores 0): `<e-mail canonical> NUL <display name folded> NUL <id>`;
/// - `<prefix>counts` (hash): `active`, `deactivated`.
struct RedisDirectoryKeys: Sendable {
    let meta: String
    let ids: String
    let names: String
    let emails: String
    let counts: String
    let userPrefix: String

    /// The layout version this code writes and reads.
    static let format = "1"

    init(prefix: String) {
        meta = prefix + "meta"
        ids = prefix + "ids"
        names = prefix + "names"
        emails = prefix + "emails"
        counts = prefix + "counts"
        userPrefix = prefix + "u:"
    }

    func user(_ id: UserID) -> String { userPrefix + id.description }

    /// The epoch (`nil`: there is none) and the backfill position of an `HMGET meta epoch position` reply.
    ///
    /// - Throws: `RedisFailure.server` for an error reply (a server still loading its data, a busy script) or a
    ///   reply of another shape: never taken for a loss.
    static func meta(_ reply: RedisValue) throws(RedisFailure) -> (epoch: String?, position: Int64) {
        let fields = try reply.checked().elements
        guard fields.count == 2, fields[0] == .null || fields[0].text != nil else {
            throw .server("the directory's meta key answered \(reply)")
        }
        return (fields[0].text, fields[1].text.flatMap { Int64($0) } ?? 0)
    }

    /// The row's member of the name index.
    static func nameMember(_ row: ReplicaRow) -> String {
        row.displayNameFolded + "\u{0}" + row.entry.id.description
    }

    /// The row's member of the e-mail index.
    static func emailMember(_ row: ReplicaRow) -> String {
        row.emailCanonical + "\u{0}" + row.displayNameFolded + "\u{0}" + row.entry.id.description
    }

    /// A row as one string: its fields separated by NUL, which neither a display name nor an e-mail address
    /// can hold (their types refuse control characters).
    static func encode(_ row: ReplicaRow) -> String {
        let entry = row.entry
        return [
            String(entry.version), entry.status.rawValue, row.deleted ? "1" : "0",
            String(entry.createdAt.epochMilliseconds), String(entry.updatedAt.epochMilliseconds), entry.email,
            row.emailCanonical, entry.displayName, row.displayNameFolded,
        ].joined(separator: "\u{0}")
    }

    /// The row of `id` written by ``encode(_:)``.
    ///
    /// - Throws: `UserStoreError` code `corrupt` when the value is not such a row.
    static func decode(_ text: String, id: UserID) throws(UserStoreError) -> ReplicaRow {
        let fields = text.split(separator: "\u{0}", omittingEmptySubsequences: false)
        guard fields.count == 9, let version = Int(fields[0]), let status = UserStatus(rawValue: String(fields[1])),
            let created = Int64(fields[3]), let updated = Int64(fields[4])
        else { throw UserStoreError(.corrupt, "A directory row in Redis can't be decoded.") }
        return ReplicaRow(
            entry: DirectoryEntry(
                id: id, email: String(fields[5]), displayName: String(fields[7]), status: status, version: version,
                createdAt: Date(epochMilliseconds: created), updatedAt: Date(epochMilliseconds: updated)),
            emailCanonical: String(fields[6]), displayNameFolded: String(fields[8]), deleted: fields[2] == "1")
    }
}

/// The server-side scripts (Lua, run atomically by Redis).
enum RedisDirectoryScripts {
    /// Search: KEYS meta, names, emails; ARGV epoch, low, high, limit, user key prefix. The name index gives the
    /// first `limit` matches in order; the e-mail index's matches are merged in by the same byte order (compared
    /// byte by byte: Lua's `<` follows the server's locale), without repeating a user; then the rows.
    static let search = """
        if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return redis.error_reply('DIRECTORYLOST the epoch is gone') end
        local low, high, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
        if limit <= 0 then return {{}, {}} end
        local picked = redis.call('ZRANGE', KEYS[2], '[' .. low, '(' .. high, 'BYLEX', 'LIMIT', 0, limit)
        if low ~= '' then
          -- Whether a's bytes from `from` on sort before b's (no substring made: most differ at once).
          local function less(a, from, b)
            local n, m = #a - from + 1, #b
            for i = 1, math.min(n, m) do
              local x, y = string.byte(a, from + i - 1), string.byte(b, i)
              if x ~= y then return x < y end
            end
            return n < m
          end
          local found = redis.call('ZRANGE', KEYS[3], '[' .. low, '(' .. high, 'BYLEX')
          for _, member in ipairs(found) do
            local from = string.find(member, '\\0', 1, true) + 1
            if #picked < limit or less(member, from, picked[#picked]) then
              local key = string.sub(member, from)
              local at = #picked + 1
              while at > 1 and less(key, 1, picked[at - 1]) do at = at - 1 end
              if not (at > 1 and picked[at - 1] == key) then
                table.insert(picked, at, key)
                if #picked > limit then table.remove(picked) end
              end
            end
          end
        end
        if #picked == 0 then return {{}, {}} end
        local ids, keys = {}, {}
        for i, member in ipairs(picked) do
          ids[i] = string.sub(member, -36)
          keys[i] = ARGV[5] .. ids[i]
        end
        return {ids, redis.call('MGET', unpack(keys))}
        """

    /// Reset: KEYS meta, ids, names, emails, counts; ARGV the epoch the caller worked on, a new epoch, user key
    /// prefix. When the epoch there is another one (another process reset it since), nothing is removed: it answers
    /// that epoch and its position. Otherwise it removes every row (in chunks, `UNLINK`: freed in the background)
    /// and the indexes, writes the new epoch at position 0, and answers it.
    static let reset = """
        local current = redis.call('HMGET', KEYS[1], 'epoch', 'position')
        if current[1] and current[1] ~= ARGV[1] then return {current[1], current[2] or '0'} end
        local ids = redis.call('SMEMBERS', KEYS[2])
        for i = 1, #ids, 1000 do
          local keys = {}
          for j = i, math.min(i + 999, #ids) do keys[#keys + 1] = ARGV[3] .. ids[j] end
          redis.call('UNLINK', unpack(keys))
        end
        redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
        redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'position', '0', 'format', '1')
        return {ARGV[2], '0'}
        """
}
