/* Shared pieces of the C baselines of the users-v1 workload (Benchmarks/WORKLOAD.md). */
#ifndef USERS_BENCH_COMMON_H
#define USERS_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A user decoded with all 7 fields, as the workload asks. */
typedef struct {
    unsigned char id[16];
    char email[64];
    char display_name[64];
    char status[16];
    int64_t version;
    int64_t created_at;  /* milliseconds (SQLite) or microseconds since 2000 (PostgreSQL binary) */
    int64_t updated_at;
} user_row;

static inline uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* 00000000-0000-4000-8000-<12 hex digits of i> as 16 bytes. */
static inline void user_id_bytes(int64_t i, unsigned char out[16]) {
    memset(out, 0, 16);
    out[6] = 0x40;
    out[8] = 0x80;
    for (int b = 0; b < 6; b++) out[15 - b] = (unsigned char)((uint64_t)i >> (8 * b));
}

static inline void user_id_text(int64_t i, char out[37]) {
    snprintf(out, 37, "00000000-0000-4000-8000-%012llx", (unsigned long long)i & 0xFFFFFFFFFFFFULL);
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void report_peer(const char *peer, const char *backend, const char *phase, long ops, double seconds) {
    printf("{\"peer\":\"%s\",\"backend\":\"%s\",\"phase\":\"%s\",\"ops\":%ld,\"seconds\":%.3f,\"ops_per_s\":%ld}\n",
           peer, backend, phase, ops, seconds, (long)((double)ops / seconds + 0.5));
    fflush(stdout);
}

static inline void report(const char *backend, const char *phase, long ops, double seconds) {
    report_peer("c", backend, phase, ops, seconds);
}

/* The "c+events" peer: insert and update written the way swift-user-domain writes them, with the event row
 * (its JSON envelope, as the package renders it) in the same transaction: the same work, in plain C. */
static inline void event_id_text(uint64_t *state, char out[37]) {
    uint64_t a = splitmix64(state), b = splitmix64(state);
    a = (a & ~0xF000ULL) | 0x7000ULL;                                  /* version 7 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;           /* RFC 9562 variant */
    snprintf(out, 37, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(a >> 32),
             (unsigned long long)((a >> 16) & 0xFFFF), (unsigned long long)(a & 0xFFFF),
             (unsigned long long)(b >> 48), (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

/* The envelope JSON of user i's registration (renamed = 0) or rename (renamed = 1). */
static inline int event_json(char *out, size_t cap, long i, const char *event_id, int renamed) {
    char user[37];
    user_id_text(i, user);
    if (renamed)
        return snprintf(out, cap,
                        "{\"data\":{\"displayName\":\"Renamed %ld\",\"previous\":\"User %ld\"},\"eventID\":\"%s\","
                        "\"occurredAt\":\"2027-01-15T08:00:00.000Z\",\"type\":\"user.renamed\",\"userID\":\"%s\","
                        "\"userVersion\":2}",
                        i, i, event_id, user);
    return snprintf(out, cap,
                    "{\"data\":{\"displayName\":\"User %ld\",\"email\":\"user%ld@example.com\"},\"eventID\":\"%s\","
                    "\"occurredAt\":\"2023-11-14T22:13:20.000Z\",\"type\":\"user.registered\",\"userID\":\"%s\","
                    "\"userVersion\":1}",
                    i, i, event_id, user);
}

static inline void copy_text(char *dst, size_t cap, const char *src, size_t len) {
    if (len >= cap) len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

#endif
