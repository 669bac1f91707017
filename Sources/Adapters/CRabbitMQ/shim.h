#ifndef USER_DOMAIN_CRABBITMQ_SHIM_H
#define USER_DOMAIN_CRABBITMQ_SHIM_H

// rabbitmq-c 0.11 (Debian's librabbitmq-dev): the flat header layout, not <rabbitmq-c/...>.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <stdint.h>
#include <sys/time.h>

// amqp_login is variadic, which Swift can't call: SASL PLAIN with a user name and a password.
static inline amqp_rpc_reply_t user_domain_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                            int channel_max, int frame_max, int heartbeat,
                                                            const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

// The method numbers are macros with casts, which Swift does not import.
enum {
    USER_DOMAIN_AMQP_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD,
    USER_DOMAIN_AMQP_CONNECTION_BLOCKED = AMQP_CONNECTION_BLOCKED_METHOD,
    USER_DOMAIN_AMQP_CONNECTION_UNBLOCKED = AMQP_CONNECTION_UNBLOCKED_METHOD,
    USER_DOMAIN_AMQP_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD,
    USER_DOMAIN_AMQP_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD,
    USER_DOMAIN_AMQP_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD,
    USER_DOMAIN_AMQP_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD,
    USER_DOMAIN_AMQP_BASIC_ACK = AMQP_BASIC_ACK_METHOD,
    USER_DOMAIN_AMQP_BASIC_NACK = AMQP_BASIC_NACK_METHOD,
    USER_DOMAIN_AMQP_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD,
    USER_DOMAIN_AMQP_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD,
};

#endif
