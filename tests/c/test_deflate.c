/* permessage-deflate from C: configuration, the agreement both sides see,
 * compressed echo with the server's window limited and the client without
 * context takeover, and a decompression bomb closed with 1009. */
#include "common.h"

static const wse_config *deflate_config(uint8_t server_bits, uint8_t client_bits, bool client_nct,
                                        size_t max_message) {
    wse_config_builder *b = wse_config_builder_new();
    wse_config_builder_set_close_timeout_ms(b, 500);
    wse_config_builder_set_ping_interval_ms(b, 0);
    CHECK_RC(wse_config_builder_set_deflate_window_bits(b, server_bits, client_bits), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_deflate_no_context_takeover(b, false, client_nct), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_deflate_level(b, 6, 8), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_deflate_threshold(b, 16), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_max_message_size(b, max_message), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_max_frame_size(b, max_message), WSE_RESULT_OK);
    const wse_config *config = NULL;
    CHECK_RC(wse_config_builder_build(b, &config), WSE_RESULT_OK);
    return config;
}

static void check_extensions(const wse_conn *conn, const char *want) {
    char buf[160];
    size_t n = 0;
    CHECK_RC(wse_conn_extensions(conn, buf, sizeof buf, &n), WSE_RESULT_OK);
    CHECK(strcmp(buf, want) == 0);
    if (strcmp(buf, want) != 0) fprintf(stderr, "extensions: got \"%s\", want \"%s\"\n", buf, want);
}

int main(void) {
    /* Out-of-range windows are refused when the config is built. */
    wse_config_builder *bad = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_deflate_window_bits(bad, 8, 15), WSE_RESULT_OK);
    const wse_config *none = NULL;
    CHECK_RC(wse_config_builder_build(bad, &none), WSE_RESULT_INVALID_ARGUMENT);
    CHECK(none == NULL);
    CHECK_RC(wse_config_builder_set_deflate(NULL, true), WSE_RESULT_NULL_PARAMETER);

    const wse_config *server_config = deflate_config(10, 15, false, 1 << 20);
    const wse_config *client_config = deflate_config(15, 15, true, 4 << 20);
    char url[64];
    wse_server *server = test_server(server_config, url, sizeof url);
    wse_conn *client = NULL, *conn = NULL;
    CHECK_RC(wse_client_connect(url, client_config, 5000, &client), WSE_RESULT_OK);
    CHECK_RC(wse_server_accept(server, 5000, &conn), WSE_RESULT_OK);
    /* The client did not ask for a smaller server window, so the server
     * uses its 10 bits without announcing them; each side reports the
     * windows it works with. */
    check_extensions(client,
                     "permessage-deflate; client_no_context_takeover; server_max_window_bits=15; "
                     "client_max_window_bits=15");
    check_extensions(conn,
                     "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; "
                     "client_max_window_bits=15");

    /* Echo JSON-like text and a compressible 512 KiB binary message. */
    size_t big_len = (size_t)512 << 10;
    unsigned char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++) big[i] = (unsigned char)("wsengine"[i % 8] + (i / 4096) % 3);
    for (int i = 0; i < 50; i++) {
        char text[128];
        int len = snprintf(text, sizeof text, "{\"id\":%d,\"name\":\"player %d\",\"alive\":true}", i, i % 7);
        CHECK_RC(wse_conn_send_text(client, text, (size_t)len), WSE_RESULT_OK);
    }
    CHECK_RC(wse_conn_send_binary(client, big, big_len), WSE_RESULT_OK);
    test_echo_back(conn, 51);
    for (int i = 0; i < 50; i++) {
        wse_message *msg = NULL;
        CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
        if (!msg) break;
        char want[128];
        int len = snprintf(want, sizeof want, "{\"id\":%d,\"name\":\"player %d\",\"alive\":true}", i, i % 7);
        CHECK(wse_message_len(msg) == (size_t)len && memcmp(wse_message_data(msg), want, (size_t)len) == 0);
        wse_message_free(msg);
    }
    wse_message *msg = NULL;
    CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
    CHECK(msg && wse_message_len(msg) == big_len && memcmp(wse_message_data(msg), big, big_len) == 0);
    wse_message_free(msg);

    /* 4 MiB of one byte is a few KiB compressed, and more than the
     * server's 1 MiB limit once inflated: the server closes with 1009. */
    unsigned char *bomb = calloc((size_t)4 << 20, 1);
    CHECK_RC(wse_conn_send_binary(client, bomb, (size_t)4 << 20), WSE_RESULT_OK);
    msg = NULL;
    CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_CLOSED);
    wse_close_info info;
    CHECK_RC(wse_conn_close_info(client, &info), WSE_RESULT_OK);
    CHECK(info.code == 1009);
    free(bomb);
    free(big);
    wse_conn_free(client);
    wse_conn_free(conn);

    /* Switched off on the client: nothing is offered, nothing agreed. */
    wse_config_builder *off = wse_config_builder_new();
    CHECK_RC(wse_config_builder_set_deflate(off, false), WSE_RESULT_OK);
    const wse_config *off_config = NULL;
    CHECK_RC(wse_config_builder_build(off, &off_config), WSE_RESULT_OK);
    CHECK_RC(wse_client_connect(url, off_config, 5000, &client), WSE_RESULT_OK);
    CHECK_RC(wse_server_accept(server, 5000, &conn), WSE_RESULT_OK);
    char buf[16];
    size_t n = 0;
    CHECK_RC(wse_conn_extensions(client, buf, sizeof buf, &n), WSE_RESULT_NOT_FOUND);
    CHECK_RC(wse_conn_extensions(conn, buf, sizeof buf, &n), WSE_RESULT_NOT_FOUND);
    wse_conn_free(client);
    wse_conn_free(conn);

    wse_server_free(server);
    wse_config_free(server_config);
    wse_config_free(client_config);
    wse_config_free(off_config);
    return finish("test_deflate");
}
