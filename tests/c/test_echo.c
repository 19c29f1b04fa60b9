/* Echo over loopback: text and binary, small and large (1 MiB), in order. */
#include "common.h"

int main(void) {
    const wse_config *config = test_config(false);
    char url[64];
    wse_server *server = test_server(config, url, sizeof url);
    wse_conn *client, *conn;
    test_pair(server, url, &client, &conn);

    size_t big_len = (size_t)1 << 20;
    unsigned char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++) big[i] = (unsigned char)(i * 31);

    for (int i = 0; i < 100; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "message %d", i);
        CHECK_RC(wse_conn_send_text(client, text, (size_t)len), WSE_RESULT_OK);
    }
    CHECK_RC(wse_conn_send_binary(client, big, big_len), WSE_RESULT_OK);

    /* The server side echoes everything back. */
    test_echo_back(conn, 101);
    for (int i = 0; i < 100; i++) {
        wse_message *msg = NULL;
        CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
        if (!msg) break;
        char want[32];
        int len = snprintf(want, sizeof want, "message %d", i);
        CHECK(wse_message_len(msg) == (size_t)len && memcmp(wse_message_data(msg), want, (size_t)len) == 0);
        wse_message_free(msg);
    }
    wse_message *msg = NULL;
    CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
    CHECK(wse_message_get_kind(msg) == WSE_MESSAGE_KIND_BINARY);
    CHECK(wse_message_len(msg) == big_len && memcmp(wse_message_data(msg), big, big_len) == 0);
    wse_message_free(msg);
    free(big);

    wse_conn_free(client);
    wse_conn_free(conn);
    wse_server_free(server);
    wse_config_free(config);
    return finish("test_echo");
}
