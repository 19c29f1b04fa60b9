/* NULL handles, NULL buffers with lengths, bad values: errors, never crashes. */
#include "common.h"

int main(void) {
    wse_conn *conn = NULL;
    wse_server *server = NULL;
    wse_message *msg = NULL;
    wse_event *ev = NULL;
    size_t n = 0;
    char buf[8];

    CHECK_RC(wse_server_bind(NULL, NULL, &server), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_server_bind("127.0.0.1:0", NULL, NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_server_bind("not an address", NULL, &server), WSE_RESULT_IO);
    CHECK(server == NULL);
    CHECK_RC(wse_server_accept(NULL, 0, &conn), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_server_poll(NULL, 0, &ev), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_client_connect(NULL, NULL, 100, &conn), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_client_connect("http://x/", NULL, 100, &conn), WSE_RESULT_INVALID_URL);
    CHECK_RC(wse_client_connect("wss:/x/", NULL, 100, &conn), WSE_RESULT_INVALID_URL);
    CHECK_RC(wse_client_connect("ws://u@x/", NULL, 100, &conn), WSE_RESULT_INVALID_URL);
    CHECK(conn == NULL);
    CHECK_RC(wse_conn_send_text(NULL, "x", 1), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_conn_recv(NULL, 0, &msg), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_conn_close(NULL, 1000, NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_conn_path(NULL, buf, sizeof buf, &n), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_last_error_message(buf, sizeof buf, NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK(wse_event_get_kind(NULL) == WSE_EVENT_KIND_NONE);
    CHECK(wse_message_get_kind(NULL) == WSE_MESSAGE_KIND_NONE);
    CHECK(wse_message_data(NULL) == NULL && wse_message_len(NULL) == 0);
    CHECK(wse_conn_is_closed(NULL));
    CHECK(wse_conn_retain(NULL) == NULL);
    wse_conn_free(NULL);
    wse_server_free(NULL);
    wse_message_free(NULL);
    wse_event_free(NULL);
    wse_config_free(NULL);
    wse_config_builder_free(NULL);

    /* The last error explains, per thread, with a size report when short. */
    CHECK_RC(wse_client_connect("http://x/", NULL, 100, &conn), WSE_RESULT_INVALID_URL);
    CHECK_RC(wse_last_error_message(buf, sizeof buf, &n), WSE_RESULT_BUFFER_TOO_SMALL);
    CHECK(n > sizeof buf);
    char *detail = malloc(n);
    CHECK_RC(wse_last_error_message(detail, n, &n), WSE_RESULT_OK);
    CHECK(strstr(detail, "ws://") != NULL);
    free(detail);

    /* Bad values on a live connection. */
    const wse_config *config = test_config(false);
    char url[64];
    server = test_server(config, url, sizeof url);
    wse_conn *client, *accepted;
    test_pair(server, url, &client, &accepted);
    CHECK_RC(wse_conn_send_binary(client, NULL, 10), WSE_RESULT_NULL_PARAMETER); /* bad length */
    CHECK_RC(wse_conn_send_binary(client, NULL, 0), WSE_RESULT_OK);              /* empty is fine */
    CHECK_RC(wse_conn_send_text(client, "\xc3\x28", 2), WSE_RESULT_INVALID_UTF8);
    CHECK_RC(wse_conn_close(client, 1005, NULL), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_conn_close(client, 999, NULL), WSE_RESULT_INVALID_ARGUMENT);
    char long_reason[200];
    memset(long_reason, 'r', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';
    CHECK_RC(wse_conn_close(client, 1000, long_reason), WSE_RESULT_INVALID_ARGUMENT);
    unsigned char big_ping[126] = {0};
    CHECK_RC(wse_conn_ping(client, big_ping, sizeof big_ping), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_conn_path(accepted, buf, 1, &n), WSE_RESULT_BUFFER_TOO_SMALL);
    CHECK(n == 2); /* "/" plus the NUL */
    CHECK_RC(wse_conn_query(accepted, buf, sizeof buf, &n), WSE_RESULT_NOT_FOUND);
    CHECK_RC(wse_server_poll(server, 0, &ev), WSE_RESULT_INVALID_ARGUMENT); /* not poll mode */
    CHECK_RC(wse_config_builder_set_overflow_policy(NULL, 0, 0), WSE_RESULT_NULL_PARAMETER);
    wse_config_builder *b = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_overflow_policy(b, 42, 0), WSE_RESULT_INVALID_ARGUMENT);
    CHECK_RC(wse_config_builder_set_batch_scheduling(NULL, true), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_config_builder_set_batch_scheduling(b, false), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_send_queue_capacity(b, 0), WSE_RESULT_OK);
    const wse_config *bad = NULL;
    CHECK_RC(wse_config_builder_build(b, &bad), WSE_RESULT_INVALID_ARGUMENT); /* consumes b */
    CHECK(bad == NULL);

    /* The options issue 14 added: NULL builders and strings are refused,
     * zero byte budgets fail the build, and 0 means "off" or "follow the
     * message limit" where the header says so. */
    CHECK_RC(wse_config_builder_allow_any_origin(NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_config_builder_set_send_queue_bytes(NULL, 1), WSE_RESULT_NULL_PARAMETER);
    b = wse_config_builder_new();
    CHECK_RC(wse_config_builder_add_allowed_host(b, NULL), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_config_builder_add_allowed_host(b, "127.0.0.1"), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_add_allowed_origin(b, "https://game.example"), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_allow_any_origin(b), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_max_frame_size(b, 0), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_ping_timeout_ms(b, 0), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_max_handshakes_per_ip(b, 4), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_event_queue_bytes(b, 1 << 20), WSE_RESULT_OK);
    const wse_config *good = NULL;
    CHECK_RC(wse_config_builder_build(b, &good), WSE_RESULT_OK);
    wse_config_free(good);
    b = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_send_queue_bytes(b, 0), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_build(b, &bad), WSE_RESULT_INVALID_ARGUMENT);

    wse_conn_free(client);
    wse_conn_free(accepted);
    wse_server_free(server);
    wse_config_free(config);
    return finish("test_misuse");
}
