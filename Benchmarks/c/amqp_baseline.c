// amqp_baseline: the relay's publishing in plain C on rabbitmq-c, for scale (Benchmarks/relay.sh).
//
//   amqp-baseline HOST PORT USER PASSWORD VHOST EXCHANGE QUEUE MESSAGES_FILE BATCH
//
// Declares what RabbitMQPublisher declares (a durable fanout EXCHANGE.unrouted with its durable queue, the
// durable topic EXCHANGE with `alternate-exchange`), plus a durable QUEUE bound to EXCHANGE with `user.#`,
// so every message is routed and persisted. Then publishes every message of MESSAGES_FILE (written by
// `relay-bench --write-messages`: one per line, tab-separated routing key, message id, user id, user
// version, timestamp, envelope JSON body) with the properties the Swift publisher sets (persistent,
// content_type application/json, message_id, type, timestamp, headers user-id and user-version), mandatory,
// with publisher confirms awaited per batch of BATCH messages. Only the publishing and the confirms are
// timed. Prints one JSON line.
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct {
    char *routing_key, *message_id, *user_id, *body;
    size_t body_len;
    long long user_version;
    unsigned long long timestamp;
} message;

static void die(const char *what) {
    fprintf(stderr, "amqp-baseline: %s\n", what);
    exit(1);
}

static void check_reply(amqp_rpc_reply_t reply, const char *what) {
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "amqp-baseline: %s failed (reply type %d, library error %d)\n", what, reply.reply_type,
                reply.library_error);
        exit(1);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static char *field(char **cursor) {
    char *start = *cursor;
    char *tab = strchr(start, '\t');
    if (!tab) die("malformed messages file");
    *tab = 0;
    *cursor = tab + 1;
    return start;
}

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: %s HOST PORT USER PASSWORD VHOST EXCHANGE QUEUE MESSAGES_FILE BATCH\n", argv[0]);
        return 64;
    }
    const char *host = argv[1], *user = argv[3], *password = argv[4], *vhost = argv[5], *exchange = argv[6],
               *queue = argv[7], *path = argv[8];
    int port = atoi(argv[2]);
    int batch = atoi(argv[9]);
    if (batch < 1) die("BATCH must be positive");

    // The messages, read into memory before anything is timed.
    FILE *file = fopen(path, "r");
    if (!file) die("cannot open the messages file");
    size_t capacity = 1024, count = 0;
    message *messages = malloc(capacity * sizeof(message));
    char *line = NULL;
    size_t line_capacity = 0;
    ssize_t length;
    while ((length = getline(&line, &line_capacity, file)) > 0) {
        if (line[length - 1] == '\n') line[--length] = 0;
        if (length == 0) continue;
        if (count == capacity) messages = realloc(messages, (capacity *= 2) * sizeof(message));
        char *copy = strdup(line), *cursor = copy;
        message *m = &messages[count++];
        m->routing_key = field(&cursor);
        m->message_id = field(&cursor);
        m->user_id = field(&cursor);
        m->user_version = atoll(field(&cursor));
        m->timestamp = strtoull(field(&cursor), NULL, 10);
        m->body = cursor;
        m->body_len = strlen(cursor);
    }
    fclose(file);
    free(line);

    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) die("cannot connect");
    check_reply(amqp_login(conn, vhost, 0, 131072, 10, AMQP_SASL_METHOD_PLAIN, user, password), "login");
    amqp_channel_open(conn, 1);
    check_reply(amqp_get_rpc_reply(conn), "channel.open");

    char unrouted[512];
    snprintf(unrouted, sizeof unrouted, "%s.unrouted", exchange);
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes(unrouted), amqp_cstring_bytes("fanout"), 0, 1, 0, 0,
                          amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "exchange.declare (unrouted)");
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(unrouted), 0, 1, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.declare (unrouted)");
    amqp_queue_bind(conn, 1, amqp_cstring_bytes(unrouted), amqp_cstring_bytes(unrouted), amqp_cstring_bytes(""),
                    amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.bind (unrouted)");
    amqp_table_entry_t alternate = {.key = amqp_cstring_bytes("alternate-exchange")};
    alternate.value.kind = AMQP_FIELD_KIND_UTF8;
    alternate.value.value.bytes = amqp_cstring_bytes(unrouted);
    amqp_table_t exchange_arguments = {.num_entries = 1, .entries = &alternate};
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                          exchange_arguments);
    check_reply(amqp_get_rpc_reply(conn), "exchange.declare");
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.declare");
    amqp_queue_bind(conn, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange), amqp_cstring_bytes("user.#"),
                    amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.bind");
    amqp_confirm_select(conn, 1);
    check_reply(amqp_get_rpc_reply(conn), "confirm.select");

    amqp_bytes_t exchange_bytes = amqp_cstring_bytes(exchange);
    amqp_bytes_t content_type = amqp_cstring_bytes("application/json");
    amqp_table_entry_t headers[2];
    headers[0].key = amqp_cstring_bytes("user-id");
    headers[0].value.kind = AMQP_FIELD_KIND_UTF8;
    headers[1].key = amqp_cstring_bytes("user-version");
    headers[1].value.kind = AMQP_FIELD_KIND_I64;

    char *acked = malloc(batch);
    uint64_t next_tag = 1;
    size_t confirmed = 0;
    double start = now(), cpu_start = cpu();
    for (size_t first = 0; first < count; first += batch) {
        size_t end = first + batch < count ? first + batch : count;
        for (size_t i = first; i < end; i++) {
            message *m = &messages[i];
            headers[0].value.value.bytes = amqp_cstring_bytes(m->user_id);
            headers[1].value.value.i64 = m->user_version;
            amqp_basic_properties_t properties;
            properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                                AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_TYPE_FLAG |
                                AMQP_BASIC_TIMESTAMP_FLAG;
            properties.content_type = content_type;
            properties.delivery_mode = 2;
            properties.message_id = amqp_cstring_bytes(m->message_id);
            properties.type = amqp_cstring_bytes(m->routing_key);
            properties.timestamp = m->timestamp;
            properties.headers.num_entries = 2;
            properties.headers.entries = headers;
            amqp_bytes_t body = {.len = m->body_len, .bytes = m->body};
            if (amqp_basic_publish(conn, 1, exchange_bytes, amqp_cstring_bytes(m->routing_key), 1, 0, &properties,
                                   body) != AMQP_STATUS_OK)
                die("basic.publish failed");
        }
        // Wait for the confirms of tags next_tag ..< next_tag + (end - first): with `multiple` an ack covers
        // every tag up to it, without it the one tag.
        uint64_t last = next_tag + (end - first) - 1;
        size_t pending = end - first;
        memset(acked, 0, pending);
        while (pending > 0) {
            amqp_frame_t frame;
            if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) die("waiting for confirms failed");
            if (frame.frame_type != AMQP_FRAME_METHOD) continue;
            switch (frame.payload.method.id) {
            case AMQP_BASIC_ACK_METHOD: {
                amqp_basic_ack_t *ack = frame.payload.method.decoded;
                uint64_t tag = ack->delivery_tag > last ? last : ack->delivery_tag;
                for (uint64_t t = ack->multiple ? next_tag : tag; t <= tag && t >= next_tag; t++) {
                    if (!acked[t - next_tag]) { acked[t - next_tag] = 1; pending--; }
                }
                break;
            }
            case AMQP_BASIC_NACK_METHOD:
                die("a message was nacked");
            case AMQP_BASIC_RETURN_METHOD: {
                amqp_message_t returned;
                check_reply(amqp_read_message(conn, 1, &returned, 0), "reading a returned message");
                amqp_destroy_message(&returned);
                die("a message was returned as unroutable");
            }
            default:
                break;
            }
        }
        confirmed += end - first;
        next_tag = last + 1;
        amqp_maybe_release_buffers(conn);
    }
    double seconds = now() - start, cpu_seconds = cpu() - cpu_start;

    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    printf("{\"peer\":\"c\",\"backend\":\"rabbitmq\",\"phase\":\"relay\",\"batch\":%d,\"ops\":%zu,\"seconds\":%.3f,"
           "\"ops_per_s\":%.0f,\"cpu_seconds\":%.3f}\n",
           batch, confirmed, seconds, confirmed / seconds, cpu_seconds);
    return 0;
}
