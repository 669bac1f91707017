/* The users-v1 workload in plain C over libsqlite3 with prepared statements: the practical limit that
 * users-bench is compared with. Writes the user row alone (no event), one connection per thread.
 *
 *   sqlite-baseline PATH [N] [L] [events]
 *
 * With `events`: only insert and update, each with its event row in the same transaction (peer "c+events").
 */
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "common.h"

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "sqlite-baseline: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static sqlite3 *open_db(const char *path) {
    sqlite3 *db;
    check(sqlite3_open(path, &db), db, "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", 0, 0, 0), db, "pragmas");
    return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *statement;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, 0), db, sql);
    return statement;
}

static const char *select_by_id =
    "SELECT id, email, display_name, status, version, created_at, updated_at FROM users WHERE id = ?1";

static int decode(sqlite3_stmt *statement, user_row *row) {
    if (sqlite3_step(statement) != SQLITE_ROW) return 0;
    memcpy(row->id, sqlite3_column_blob(statement, 0), 16);
    copy_text(row->email, sizeof row->email, (const char *)sqlite3_column_text(statement, 1),
              (size_t)sqlite3_column_bytes(statement, 1));
    copy_text(row->display_name, sizeof row->display_name, (const char *)sqlite3_column_text(statement, 2),
              (size_t)sqlite3_column_bytes(statement, 2));
    copy_text(row->status, sizeof row->status, (const char *)sqlite3_column_text(statement, 3),
              (size_t)sqlite3_column_bytes(statement, 3));
    row->version = sqlite3_column_int64(statement, 4);
    row->created_at = sqlite3_column_int64(statement, 5);
    row->updated_at = sqlite3_column_int64(statement, 6);
    return 1;
}

static void insert_user(sqlite3_stmt *statement, sqlite3 *db, long i) {
    unsigned char id[16];
    char email[64], name[64];
    user_id_bytes(i, id);
    int email_len = snprintf(email, sizeof email, "user%ld@example.com", i);
    int name_len = snprintf(name, sizeof name, "User %ld", i);
    int64_t at = (1700000000LL + i) * 1000;
    sqlite3_bind_blob(statement, 1, id, 16, SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 2, email, email_len, SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 3, name, name_len, SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 4, "active", 6, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 5, 1);
    sqlite3_bind_int64(statement, 6, at);
    sqlite3_bind_int64(statement, 7, at);
    check(sqlite3_step(statement), db, "insert");
    sqlite3_reset(statement);
}

typedef struct {
    const char *path;
    long n, lookups;
    uint64_t seed;
    long found;
} lookup_task;

static void *lookup_thread(void *argument) {
    lookup_task *task = argument;
    sqlite3 *db = open_db(task->path);
    sqlite3_stmt *statement = prepare(db, select_by_id);
    uint64_t state = task->seed;
    user_row row;
    for (long k = 0; k < task->lookups; k++) {
        unsigned char id[16];
        user_id_bytes((long)(splitmix64(&state) % (uint64_t)task->n), id);
        sqlite3_bind_blob(statement, 1, id, 16, SQLITE_STATIC);
        task->found += decode(statement, &row);
        sqlite3_reset(statement);
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return 0;
}

/* The c+events peer: insert and update as swift-user-domain's store writes them (its tables; BEGIN IMMEDIATE,
 * the user row, the event row with its JSON, COMMIT), with SQLite's default automatic checkpoints. */
static int run_with_events(const char *path, long n) {
    sqlite3 *db = open_db(path);
    check(sqlite3_exec(db,
                       "CREATE TABLE users (id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16), email TEXT NOT NULL,"
                       " email_canonical TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, status TEXT NOT NULL,"
                       " version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
                       " STRICT, WITHOUT ROWID;"
                       "CREATE TABLE user_events (position INTEGER PRIMARY KEY, event_id BLOB NOT NULL,"
                       " user_id BLOB NOT NULL, user_version INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,"
                       " occurred_at INTEGER NOT NULL, published_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0,"
                       " last_error TEXT, retry_at INTEGER, dead INTEGER NOT NULL DEFAULT 0,"
                       " behind INTEGER NOT NULL DEFAULT 0) STRICT;"
                       "CREATE INDEX user_events_behind ON user_events (position) WHERE published_at IS NULL AND behind = 1;",
                       0, 0, 0),
          db, "schema");
    sqlite3_stmt *begin = prepare(db, "BEGIN IMMEDIATE"), *commit = prepare(db, "COMMIT");
    sqlite3_stmt *insert = prepare(db,
                                   "INSERT INTO users (id, email, email_canonical, display_name, status, version,"
                                   " created_at, updated_at) VALUES (?1, ?2, ?2, ?3, 'active', 1, ?4, ?4)");
    sqlite3_stmt *update = prepare(
        db, "UPDATE users SET display_name = ?1, version = version + 1, updated_at = ?2 WHERE id = ?3 AND version = 1");
    sqlite3_stmt *event = prepare(db,
                                  "INSERT INTO user_events (event_id, user_id, user_version, type, payload, occurred_at)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    uint64_t state = 7;
    for (int renamed = 0; renamed <= 1; renamed++) {
        double start = now_seconds();
        for (long i = 0; i < n; i++) {
            unsigned char id[16], event_id[16];
            char text[64], event_text[37], json[512];
            user_id_bytes(i, id);
            event_id_text(&state, event_text);
            memcpy(event_id, event_text, 16);
            int json_len = event_json(json, sizeof json, i, event_text, renamed);
            int64_t at = (1700000000LL + i) * 1000;
            check(sqlite3_step(begin), db, "begin");
            sqlite3_reset(begin);
            sqlite3_stmt *change = renamed ? update : insert;
            if (renamed) {
                int len = snprintf(text, sizeof text, "Renamed %ld", i);
                sqlite3_bind_text(update, 1, text, len, SQLITE_STATIC);
                sqlite3_bind_int64(update, 2, 1800000000000LL);
                sqlite3_bind_blob(update, 3, id, 16, SQLITE_STATIC);
            } else {
                int len = snprintf(text, sizeof text, "user%ld@example.com", i);
                char name[64];
                int name_len = snprintf(name, sizeof name, "User %ld", i);
                sqlite3_bind_blob(insert, 1, id, 16, SQLITE_STATIC);
                sqlite3_bind_text(insert, 2, text, len, SQLITE_STATIC);
                sqlite3_bind_text(insert, 3, name, name_len, SQLITE_TRANSIENT);
                sqlite3_bind_int64(insert, 4, at);
            }
            check(sqlite3_step(change), db, "change");
            if (sqlite3_changes(db) != 1) return fprintf(stderr, "the change changed nothing\n"), 1;
            sqlite3_reset(change);
            sqlite3_bind_blob(event, 1, event_id, 16, SQLITE_STATIC);
            sqlite3_bind_blob(event, 2, id, 16, SQLITE_STATIC);
            sqlite3_bind_int64(event, 3, renamed ? 2 : 1);
            sqlite3_bind_text(event, 4, renamed ? "user.renamed" : "user.registered", -1, SQLITE_STATIC);
            sqlite3_bind_text(event, 5, json, json_len, SQLITE_STATIC);
            sqlite3_bind_int64(event, 6, at);
            check(sqlite3_step(event), db, "event");
            sqlite3_reset(event);
            check(sqlite3_step(commit), db, "commit");
            sqlite3_reset(commit);
        }
        report_peer("c+events", "sqlite", renamed ? "update" : "insert", n, now_seconds() - start);
    }
    sqlite3_finalize(begin), sqlite3_finalize(commit), sqlite3_finalize(insert), sqlite3_finalize(update);
    sqlite3_finalize(event);
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: sqlite-baseline PATH [N] [L]\n");
        return 64;
    }
    const char *path = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 20000, l = argc > 3 ? atol(argv[3]) : 100000;
    char wal[4096], shm[4096];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(path), unlink(wal), unlink(shm);
    if (argc > 4 && strcmp(argv[4], "events") == 0) return run_with_events(path, n);

    sqlite3 *db = open_db(path);
    const char *schema =
        "CREATE TABLE users (id BLOB PRIMARY KEY NOT NULL, email TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,"
        " status TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL) STRICT, WITHOUT ROWID";
    check(sqlite3_exec(db, schema, 0, 0, 0), db, "schema");
    const char *insert_sql =
        "INSERT INTO users (id, email, display_name, status, version, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

    /* 1. insert */
    sqlite3_stmt *insert = prepare(db, insert_sql);
    double start = now_seconds();
    for (long i = 0; i < n; i++) insert_user(insert, db, i);
    report("sqlite", "insert", n, now_seconds() - start);

    /* 2. insertBatch, table emptied first */
    check(sqlite3_exec(db, "DELETE FROM users", 0, 0, 0), db, "empty");
    start = now_seconds();
    for (long i = 0; i < n; i += 1000) {
        check(sqlite3_exec(db, "BEGIN", 0, 0, 0), db, "begin");
        for (long j = i; j < i + 1000 && j < n; j++) insert_user(insert, db, j);
        check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    }
    report("sqlite", "insertBatch", n, now_seconds() - start);

    /* 3. getById */
    sqlite3_stmt *by_id = prepare(db, select_by_id);
    uint64_t state = 42;
    long found = 0;
    user_row row;
    start = now_seconds();
    for (long k = 0; k < l; k++) {
        unsigned char id[16];
        user_id_bytes((long)(splitmix64(&state) % (uint64_t)n), id);
        sqlite3_bind_blob(by_id, 1, id, 16, SQLITE_STATIC);
        found += decode(by_id, &row);
        sqlite3_reset(by_id);
    }
    report("sqlite", "getById", l, now_seconds() - start);
    if (found != l) return fprintf(stderr, "getById found %ld\n", found), 1;

    /* 4. getByEmail */
    sqlite3_stmt *by_email = prepare(
        db, "SELECT id, email, display_name, status, version, created_at, updated_at FROM users WHERE email = ?1");
    state = 42;
    found = 0;
    start = now_seconds();
    for (long k = 0; k < l; k++) {
        char email[64];
        int len = snprintf(email, sizeof email, "user%ld@example.com", (long)(splitmix64(&state) % (uint64_t)n));
        sqlite3_bind_text(by_email, 1, email, len, SQLITE_STATIC);
        found += decode(by_email, &row);
        sqlite3_reset(by_email);
    }
    report("sqlite", "getByEmail", l, now_seconds() - start);
    if (found != l) return fprintf(stderr, "getByEmail found %ld\n", found), 1;

    /* 5. update */
    sqlite3_stmt *update = prepare(
        db, "UPDATE users SET display_name = ?1, version = version + 1, updated_at = ?2 WHERE id = ?3 AND version = 1");
    start = now_seconds();
    for (long i = 0; i < n; i++) {
        char name[64];
        unsigned char id[16];
        int len = snprintf(name, sizeof name, "Renamed %ld", i);
        user_id_bytes(i, id);
        sqlite3_bind_text(update, 1, name, len, SQLITE_STATIC);
        sqlite3_bind_int64(update, 2, 1800000000000LL);
        sqlite3_bind_blob(update, 3, id, 16, SQLITE_STATIC);
        check(sqlite3_step(update), db, "update");
        if (sqlite3_changes(db) != 1) return fprintf(stderr, "update changed nothing\n"), 1;
        sqlite3_reset(update);
    }
    report("sqlite", "update", n, now_seconds() - start);

    /* 6. listAll */
    sqlite3_stmt *first = prepare(
        db, "SELECT id, email, display_name, status, version, created_at, updated_at FROM users ORDER BY id LIMIT 100");
    sqlite3_stmt *next = prepare(db,
                                 "SELECT id, email, display_name, status, version, created_at, updated_at FROM users"
                                 " WHERE id > ?1 ORDER BY id LIMIT 100");
    long listed = 0;
    unsigned char last[16];
    start = now_seconds();
    sqlite3_stmt *page = first;
    for (;;) {
        long rows = 0;
        while (decode(page, &row)) {
            rows++;
            memcpy(last, row.id, 16);
        }
        sqlite3_reset(page);
        listed += rows;
        if (rows < 100) break;
        page = next;
        sqlite3_bind_blob(next, 1, last, 16, SQLITE_TRANSIENT);
    }
    report("sqlite", "listAll", listed, now_seconds() - start);
    if (listed != n) return fprintf(stderr, "listAll read %ld\n", listed), 1;

    /* 7. concurrentGet: 8 threads, a connection each */
    pthread_t threads[8];
    lookup_task tasks[8];
    start = now_seconds();
    for (int t = 0; t < 8; t++) {
        tasks[t] = (lookup_task){path, n, l / 8, 42 + (uint64_t)t, 0};
        pthread_create(&threads[t], 0, lookup_thread, &tasks[t]);
    }
    long total = 0;
    for (int t = 0; t < 8; t++) {
        pthread_join(threads[t], 0);
        total += tasks[t].found;
    }
    report("sqlite", "concurrentGet", total, now_seconds() - start);
    if (total != l / 8 * 8) return fprintf(stderr, "concurrentGet found %ld\n", total), 1;
    return 0;
}
